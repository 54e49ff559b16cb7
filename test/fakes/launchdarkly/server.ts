/**
 * A fake LaunchDarkly REST API for flags: a real HTTP(S) server on 127.0.0.1 that
 * checks what LaunchDarkly documents for reading and updating a flag
 * (https://launchdarkly.com/docs/api/feature-flags/patch-feature-flag):
 *
 * - `Authorization: <access token>` (no scheme) → else 401 `{"code": "unauthorized", ...}`;
 *   `LD-API-Version`, when sent, must be a dated version such as 20240415 or `beta` → else 400;
 * - `GET /api/v2/flags/{projectKey}/{flagKey}[?env=a,b]` → the flag, its `environments` filtered by `env`;
 * - `PATCH /api/v2/flags/{projectKey}/{flagKey}`, as
 *   - a JSON patch (`Content-Type: application/json`; an array of operations, or
 *     `{"comment", "patch": [...]}`): only `replace`/`test` on `/environments/{env}/on` with a boolean;
 *   - a semantic patch (`Content-Type: application/json; domain-model=launchdarkly.semanticpatch`;
 *     `{"environmentKey", "instructions": [{"kind": "turnFlagOn"|"turnFlagOff"}], "comment"}`);
 *   anything else (a merge patch, another content type, an unknown path or instruction) → 400;
 * - an environment that requires approvals → 405 `{"code": "method_not_allowed", "message":
 *   "Flag configuration updates require approval: action 'updateOn' not allowed"}`;
 * - a token whose custom role does not allow `updateOn` in the environment → 403 `forbidden`;
 * - an unknown project or flag → 404 `not_found`; failures and silence on demand.
 *
 *   const ld = await startFakeLaunchDarkly({ tls: inject("tls"), approvalsRequired: ["production"] });
 */
import { isJson, isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";

export interface FakeLaunchDarklyOptions {
  tls?: { certPem: string; keyPem: string };
  token?: string;
  /** Default "default". */
  project?: string;
  /** Flags by key, with `on` per environment key. Default: new-checkout-flow on in production and test. */
  flags?: Record<string, Record<string, boolean>>;
  /** Environments that require approvals for flag changes. */
  approvalsRequired?: string[];
  /** Environments where the token's custom role allows `updateOn` (default: all). */
  updateOnAllowedIn?: string[];
  /** A second token that may only read (a Reader role). */
  readerToken?: string;
}

export interface Failure {
  status: number;
  times?: number;
  /** Only requests with this method fail. */
  method?: "GET" | "PATCH";
  headers?: Record<string, string>;
  /** The error body's message (default "fake failure (HTTP <status>)"). */
  message?: string;
}

export interface FakeLaunchDarkly {
  readonly url: string;
  readonly token: string;
  readonly requests: readonly RecordedRequest[];
  on(flag: string, environment: string): boolean | undefined;
  /** Comments sent with applied changes, oldest first. */
  readonly comments: readonly string[];
  /** The next `times` requests (of `method`, default any) answer `status` with LaunchDarkly's error body. */
  failNext(failure: Failure): void;
  /** Requests from now on get no answer at all, until `answerAgain()`. */
  goSilent(): void;
  answerAgain(): void;
  close(): Promise<void>;
}

const ERROR_CODES: Record<number, string> = { 400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict", 429: "rate_limited", 500: "internal_server_error", 503: "service_unavailable" };

function error(status: number, message: string, headers?: Record<string, string>): Answer {
  return { status, body: { code: ERROR_CODES[status] ?? "error", message }, ...(headers ? { headers } : {}) };
}

const ENV_NAMES: Record<string, string> = { production: "Production", test: "Test" };

export async function startFakeLaunchDarkly(options: FakeLaunchDarklyOptions = {}): Promise<FakeLaunchDarkly> {
  const token = options.token ?? "api-00000000-fake-launchdarkly-token";
  const project = options.project ?? "default";
  const flags = structuredClone(options.flags ?? { "new-checkout-flow": { production: true, test: true } });
  const approvals = new Set(options.approvalsRequired ?? []);
  const allowed = options.updateOnAllowedIn ? new Set(options.updateOnAllowedIn) : undefined;
  const comments: string[] = [];
  const versions: Record<string, number> = {};
  let failing: (Failure & { times: number }) | undefined;
  let silent = false;

  function representation(key: string, only?: string[]): Record<string, unknown> {
    const environments = Object.fromEntries(
      Object.entries(flags[key] ?? {})
        .filter(([env]) => !only || only.includes(env))
        .map(([env, on]) => [env, { on, archived: false, _environmentName: ENV_NAMES[env] ?? env, _site: { href: `/${project}/${env}/features/${key}`, type: "text/html" }, version: versions[key] ?? 1 }]),
    );
    return { key, name: key, kind: "boolean", archived: false, _version: versions[key] ?? 1, environments, _links: { self: { href: `/api/v2/flags/${project}/${key}`, type: "application/json" } } };
  }

  /** The changes a body asks for, as [environment, on] pairs, or an error answer. */
  function changesOf(headers: RecordedRequest["headers"], json: unknown, flag: Record<string, boolean>): Array<[string, boolean]> | Answer {
    const contentType = (headers["content-type"] ?? "").toLowerCase();
    if (!isJson(headers)) return error(400, "Unsupported Content-Type: use application/json");
    if (/domain-model=launchdarkly\.semanticpatch/.test(contentType)) {
      if (!isRecord(json) || !Array.isArray(json.instructions) || json.instructions.length === 0) return error(400, "Semantic patch requires a non-empty instructions array");
      const environmentKey = json.environmentKey;
      const changes: Array<[string, boolean]> = [];
      for (const instruction of json.instructions) {
        const kind = isRecord(instruction) ? instruction.kind : undefined;
        if (kind !== "turnFlagOn" && kind !== "turnFlagOff") return error(400, `Unsupported instruction kind: ${String(kind)}`);
        if (typeof environmentKey !== "string" || !(environmentKey in flag)) return error(400, "environmentKey is required and must name an environment of the project");
        changes.push([environmentKey, kind === "turnFlagOn"]);
      }
      return changes;
    }
    const patch = Array.isArray(json) ? json : isRecord(json) && Array.isArray(json.patch) ? json.patch : undefined;
    if (!patch) return error(400, "A JSON merge patch is not supported here: send a JSON patch (an array of operations, or {comment, patch})");
    if (isRecord(json) && json.comment !== undefined && typeof json.comment !== "string") return error(400, "comment must be a string");
    const changes: Array<[string, boolean]> = [];
    for (const operation of patch) {
      if (!isRecord(operation) || typeof operation.op !== "string" || typeof operation.path !== "string") return error(400, "Each patch operation needs op and path");
      const match = /^\/environments\/([^/]+)\/on$/.exec(operation.path);
      const env = match ? (match[1] ?? "").replaceAll("~1", "/").replaceAll("~0", "~") : undefined;
      if (!env || !(env in flag)) return error(400, `Invalid patch path: ${operation.path}`);
      if (typeof operation.value !== "boolean") return error(400, `${operation.path} must be a boolean`);
      if (operation.op === "test") {
        if (flag[env] !== operation.value) return error(409, `Test operation failed for ${operation.path}`);
      } else if (operation.op === "replace") changes.push([env, operation.value]);
      else return error(400, `Unsupported patch operation: ${operation.op}`);
    }
    return changes;
  }

  const fake = await startFake((request) => {
    if (silent) return new Promise<Answer>(() => {});
    const auth = request.headers.authorization;
    if (auth !== token && auth !== options.readerToken) return error(401, "Invalid access token");
    const version = request.headers["ld-api-version"];
    if (version !== undefined && !/^(\d{8}|beta)$/.test(String(version))) return error(400, `Invalid LD-API-Version: ${String(version)}`);
    if (failing && failing.times > 0 && (failing.method === undefined || failing.method === request.method)) {
      failing.times -= 1;
      return error(failing.status, failing.message ?? `fake failure (HTTP ${failing.status})`, failing.headers);
    }
    const route = /^\/api\/v2\/flags\/([^/]+)\/([^/]+)$/.exec(request.path);
    if (!route) return error(404, "Unknown resource");
    const [inProject, key] = [decodeURIComponent(route[1] ?? ""), decodeURIComponent(route[2] ?? "")];
    const flag = flags[key];
    if (inProject !== project) return error(404, "Unknown project");
    if (!flag) return error(404, "Unknown flag");

    if (request.method === "GET") {
      const env = request.query.get("env");
      return { status: 200, body: representation(key, env ? env.split(",") : undefined) };
    }
    if (request.method !== "PATCH") return error(405, "Method not allowed");
    if (auth === options.readerToken) return error(403, "Access to the requested resource was denied");
    const changes = changesOf(request.headers, request.json, flag);
    if (!Array.isArray(changes)) return changes;
    for (const [env] of changes) {
      if (allowed && !allowed.has(env)) return error(403, "Access to the requested resource was denied");
      if (approvals.has(env)) return error(405, "Flag configuration updates require approval: action 'updateOn' not allowed");
    }
    for (const [env, on] of changes) flag[env] = on;
    versions[key] = (versions[key] ?? 1) + 1;
    const body = request.json;
    if (isRecord(body) && typeof body.comment === "string") comments.push(body.comment);
    return { status: 200, body: representation(key) };
  }, options.tls ? { tls: options.tls } : {});

  return {
    url: fake.url,
    token,
    requests: fake.requests,
    comments,
    on: (flag, environment) => flags[flag]?.[environment],
    failNext(failure) {
      failing = { ...failure, times: failure.times ?? 1 };
    },
    goSilent() {
      silent = true;
    },
    answerAgain() {
      silent = false;
    },
    close: () => fake.close(),
  };
}
