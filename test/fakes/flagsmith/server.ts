/**
 * A fake Flagsmith Admin API for feature states: a real HTTP(S) server on 127.0.0.1
 * that answers the way Flagsmith's Django REST framework views do (checked in
 * github.com/Flagsmith/flagsmith: environments/urls.py, features/views.py,
 * features/versioning, features/future, api_keys/authentication.py):
 *
 * - `Authorization: Api-Key <key>` → else 401 `{"detail": "Valid Master API Key not found."}`
 *   (or "Authentication credentials were not provided." without the header);
 * - URLs end with `/` (Django); others are an HTML 404;
 * - `GET /api/v1/environments/{key}/` → the environment (`minimum_change_request_approvals`,
 *   `use_v2_feature_versioning`, `project`, …); unknown key → 404 `{"detail": "Not found."}`;
 * - `GET /api/v1/environments/{key}/featurestates/?feature_name=` → page `{count, next, previous,
 *   results}` of environment defaults (case-insensitive name match, as `feature__name__iexact`);
 * - `PATCH /api/v1/environments/{key}/featurestates/{id}/` (JSON, `enabled` a boolean): applied —
 *   even with change requests on, as Flagsmith's classic endpoint does; an environment with
 *   Feature Versioning v2 → 400 "This environment uses v2 feature versioning…";
 * - `PATCH /api/__future__/environments/{key}/features/{id}/` `{"environment_default": {"enabled"}}`
 *   → the flag; change requests on → 409 `{"detail", "code": "change_requests_enabled"}`;
 *   absent with `futureEndpoint: false` (Flagsmith before 2.263);
 * - a read-only key → 403 `{"detail": "You do not have permission to perform this action."}` on writes.
 */
import { isJson, isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";

export interface FakeFlagsmithEnvironment {
  key: string;
  name: string;
  /** Required approvals when change requests are on; null when off. */
  approvals?: number | null;
  /** Feature Versioning v2. */
  versioned?: boolean;
  /** Feature name → enabled. */
  features: Record<string, boolean>;
}

export interface FakeFlagsmithOptions {
  tls?: { certPem: string; keyPem: string };
  apiKey?: string;
  /** A key that may read but not write. */
  readOnlyKey?: string;
  projectId?: number;
  environments: FakeFlagsmithEnvironment[];
  /** Serve /api/__future__ (default true). */
  futureEndpoint?: boolean;
}

export interface FakeFlagsmith {
  readonly url: string;
  readonly apiKey: string;
  readonly requests: readonly RecordedRequest[];
  enabled(environmentKey: string, feature: string): boolean | undefined;
  /** The next `times` requests (of `method`, default any) answer `status`. */
  failNext(failure: { status: number; times?: number; method?: "GET" | "PATCH" }): void;
  goSilent(): void;
  close(): Promise<void>;
}

const detail = (status: number, text: string, extra: Record<string, unknown> = {}): Answer => ({ status, body: { detail: text, ...extra } });
const htmlNotFound: Answer = { status: 404, body: "<!doctype html><title>Not Found</title><h1>Not Found</h1>" };

export async function startFakeFlagsmith(options: FakeFlagsmithOptions): Promise<FakeFlagsmith> {
  const apiKey = options.apiKey ?? "ser.fakeFlagsmithOrganisationKey0000";
  const projectId = options.projectId ?? 7;
  const environments = structuredClone(options.environments);
  const featureIds = new Map<string, number>();
  for (const env of environments) for (const name of Object.keys(env.features)) if (!featureIds.has(name)) featureIds.set(name, 100 + featureIds.size);
  const stateId = (env: FakeFlagsmithEnvironment, feature: string) => 1_000 * (environments.indexOf(env) + 1) + (featureIds.get(feature) ?? 0);
  let failing: { status: number; times: number; method?: string } | undefined;
  let silent = false;

  function environmentJson(env: FakeFlagsmithEnvironment, index: number) {
    return {
      id: index + 1,
      uuid: `00000000-0000-0000-0000-00000000000${index + 1}`,
      name: env.name,
      api_key: env.key,
      description: null,
      project: projectId,
      minimum_change_request_approvals: env.approvals ?? null,
      allow_client_traits: true,
      hide_disabled_flags: null,
      use_v2_feature_versioning: env.versioned ?? false,
      is_creating: false,
      total_segment_overrides: 0,
    };
  }

  function stateJson(env: FakeFlagsmithEnvironment, feature: string) {
    return {
      id: stateId(env, feature),
      feature: featureIds.get(feature),
      feature_state_value: null,
      multivariate_feature_state_values: [],
      identity: null,
      enabled: env.features[feature],
      environment: environments.indexOf(env) + 1,
      feature_segment: null,
      environment_feature_version: null,
      live_from: "2026-01-01T00:00:00Z",
    };
  }

  const fake = await startFake((request) => {
    if (silent) return new Promise<Answer>(() => {});
    const auth = request.headers.authorization;
    if (auth === undefined) return detail(401, "Authentication credentials were not provided.");
    if (auth !== `Api-Key ${apiKey}` && auth !== `Api-Key ${options.readOnlyKey ?? "\u0000"}`) return detail(401, "Valid Master API Key not found.");
    if (failing && failing.times > 0 && (failing.method === undefined || failing.method === request.method)) {
      failing.times -= 1;
      return failing.status >= 500 ? { status: failing.status, body: "<h1>Server Error (500)</h1>" } : detail(failing.status, `fake failure (HTTP ${failing.status})`);
    }
    if (!request.path.endsWith("/")) return htmlNotFound;
    const writing = request.method !== "GET";
    if (writing && !isJson(request.headers)) return detail(415, `Unsupported media type "${request.headers["content-type"] ?? ""}" in request.`);
    if (writing && auth !== `Api-Key ${apiKey}`) return detail(403, "You do not have permission to perform this action.");

    const classic = /^\/api\/v1\/environments\/([^/]+)\/(?:featurestates\/(?:(\d+)\/)?)?$/.exec(request.path);
    const future = /^\/api\/__future__\/environments\/([^/]+)\/features\/(\d+)\/$/.exec(request.path);
    const match = classic ?? future;
    if (!match || (future && options.futureEndpoint === false)) return htmlNotFound;
    const index = environments.findIndex((env) => env.key === decodeURIComponent(match[1] ?? ""));
    const env = environments[index];
    if (!env) return detail(404, "Not found.");

    if (future) {
      if (request.method !== "PATCH") return detail(405, `Method "${request.method}" not allowed.`);
      const feature = [...featureIds].find(([, id]) => id === Number(future[2]))?.[0];
      if (feature === undefined || !(feature in env.features)) return detail(404, "Not found.");
      if (env.approvals != null) return detail(409, "Cannot update flags in an environment with change requests enabled.", { code: "change_requests_enabled" });
      const body = request.json;
      const enabled = isRecord(body) && isRecord(body.environment_default) ? body.environment_default.enabled : undefined;
      if (enabled !== undefined && typeof enabled !== "boolean") return { status: 400, body: { environment_default: { enabled: ["Must be a valid boolean."] } } };
      if (typeof enabled === "boolean") env.features[feature] = enabled;
      return { status: 200, body: { environment_default: { enabled: env.features[feature], value: { type: "string", value: "" }, variants: [] }, segment_overrides: [] } };
    }

    if (request.path.endsWith(`/environments/${match[1]}/`)) {
      return request.method === "GET" ? { status: 200, body: environmentJson(env, index) } : detail(405, `Method "${request.method}" not allowed.`);
    }
    if (classic?.[2] === undefined) {
      if (request.method !== "GET") return detail(405, `Method "${request.method}" not allowed.`);
      const name = request.query.get("feature_name");
      const names = Object.keys(env.features).filter((feature) => name === null || feature.toLowerCase() === name.toLowerCase());
      return { status: 200, body: { count: names.length, next: null, previous: null, results: names.map((feature) => stateJson(env, feature)) } };
    }
    const feature = Object.keys(env.features).find((candidate) => stateId(env, candidate) === Number(classic[2]));
    if (feature === undefined) return detail(404, "Not found.");
    if (request.method === "GET") return { status: 200, body: stateJson(env, feature) };
    if (request.method !== "PATCH" && request.method !== "PUT") return detail(405, `Method "${request.method}" not allowed.`);
    if (env.versioned) return detail(400, "This environment uses v2 feature versioning. Use the environment feature version endpoint instead.");
    if (!isRecord(request.json)) return { status: 400, body: { non_field_errors: ["Invalid data. Expected a dictionary, but got list."] } };
    const enabled = request.json.enabled;
    if (enabled !== undefined && typeof enabled !== "boolean") return { status: 400, body: { enabled: ["Must be a valid boolean."] } };
    if (typeof enabled === "boolean") env.features[feature] = enabled;
    return { status: 200, body: stateJson(env, feature) };
  }, options.tls ? { tls: options.tls } : {});

  return {
    url: fake.url,
    apiKey,
    requests: fake.requests,
    enabled: (key, feature) => environments.find((env) => env.key === key)?.features[feature],
    failNext(failure) {
      failing = { ...failure, times: failure.times ?? 1 };
    },
    goSilent() {
      silent = true;
    },
    close: () => fake.close(),
  };
}
