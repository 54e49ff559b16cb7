/**
 * A fake Unleash Enterprise, only for what the open-source server cannot show: an
 * environment with change requests. A real HTTP(S) server on 127.0.0.1 that answers
 * the two Admin API calls the remediation provider makes, the way Unleash 8.x does
 * (checked in unleash-server 8.2.0's feature-toggle-service and error classes):
 *
 * - `Authorization: <token>` (or `Bearer <token>`); otherwise 401 `AuthenticationRequired`
 *   (no header) or `UnauthorizedError` (a wrong token);
 * - `GET /api/admin/projects/{project}/features/{feature}/environments/{env}` → 200
 *   `{name, environment, enabled, strategies}`; reading is allowed with change requests on;
 * - `POST …/environments/{env}/on|off` in an environment with change requests, by a token
 *   without "skip change requests" → 403 `PermissionError`, `permissions: ["SKIP_CHANGE_REQUEST"]`
 *   (`stopWhenChangeRequestsEnabled`); elsewhere the flag is switched (200, empty body);
 * - unknown project, flag or environment → 404 `NotFoundError` with Unleash's wording.
 *
 *   const unleash = await startFakeUnleashEnterprise({ tls: inject("tls"), changeRequestEnvironments: ["production"] });
 */
import { randomUUID } from "node:crypto";
import { startFake, type Answer, type RecordedRequest } from "../http-kit.ts";

export interface FakeUnleashEnterpriseOptions {
  tls?: { certPem: string; keyPem: string };
  token?: string;
  /** Default "default". */
  project?: string;
  /** Flags of the project, with their state per environment. Default: new-checkout-flow, on in production and development. */
  flags?: Record<string, Record<string, boolean>>;
  /** Environments (of the project) where changes need a change request. Default ["production"]. */
  changeRequestEnvironments?: string[];
}

export interface FakeUnleashEnterprise {
  readonly url: string;
  readonly token: string;
  readonly requests: readonly RecordedRequest[];
  /** The flag's state in an environment, as the fake keeps it. */
  enabled(feature: string, environment: string): boolean | undefined;
  /** The next `times` requests answer this status (Unleash's error body). */
  failNext(status: number, times?: number): void;
  close(): Promise<void>;
}

function error(status: number, name: string, message: string, extra: Record<string, unknown> = {}): Answer {
  return { status, body: { id: randomUUID(), name, message, details: [{ message }], ...extra } };
}

export async function startFakeUnleashEnterprise(options: FakeUnleashEnterpriseOptions = {}): Promise<FakeUnleashEnterprise> {
  const token = options.token ?? "*:*.fake-unleash-enterprise-admin-token";
  const project = options.project ?? "default";
  const flags = structuredClone(options.flags ?? { "new-checkout-flow": { development: true, production: true } });
  const protectedEnvironments = new Set(options.changeRequestEnvironments ?? ["production"]);
  let failing: { status: number; times: number } | undefined;

  const fake = await startFake((request) => {
    const auth = request.headers.authorization;
    if (auth === undefined) return error(401, "AuthenticationRequired", "You must log in to use Unleash. Your request had no authorization header, so we could not authorize you.");
    if (auth !== token && auth !== `Bearer ${token}`) return error(401, "UnauthorizedError", "You must log in to use Unleash.");
    if (failing && failing.times > 0) {
      failing.times -= 1;
      return error(failing.status, failing.status >= 500 ? "InternalError" : "BadDataError", `fake failure (HTTP ${failing.status})`);
    }
    const route = /^\/api\/admin\/projects\/([^/]+)\/features\/([^/]+)\/environments\/([^/]+)(?:\/(on|off))?$/.exec(request.path);
    if (!route) return error(404, "NotFoundError", "Could not find the requested resource.");
    const [, rawProject = "", rawFeature = "", rawEnvironment = "", change] = route;
    const [inProject, feature, environment] = [rawProject, rawFeature, rawEnvironment].map(decodeURIComponent) as [string, string, string];
    const flag = flags[feature];
    if (inProject !== project || !flag) return error(404, "NotFoundError", `There's no feature named "${feature}" in project "${inProject}".`);
    if (!(environment in flag)) {
      return error(404, "NotFoundError", change ? `Could not find environment ${environment} for feature: ${feature}` : `Could not find ${feature} in ${environment}`);
    }

    if (change === undefined) {
      if (request.method !== "GET") return error(404, "NotFoundError", "Could not find the requested resource.");
      const enabled = flag[environment] ?? false;
      const strategies = enabled ? [{ id: "s1", name: "flexibleRollout", featureName: feature, parameters: { rollout: "100", stickiness: "default", groupId: feature }, constraints: [], disabled: false }] : [];
      return { status: 200, body: { name: feature, environment, enabled, strategies } };
    }
    if (request.method !== "POST") return error(404, "NotFoundError", "Could not find the requested resource.");
    if (protectedEnvironments.has(environment)) {
      return error(403, "PermissionError", `You don't have the required permissions to perform this operation. To perform this action, you need the "SKIP_CHANGE_REQUEST" permission.`, {
        permissions: ["SKIP_CHANGE_REQUEST"],
      });
    }
    flag[environment] = change === "on";
    return { status: 200, body: "" };
  }, options.tls ? { tls: options.tls } : {});

  return {
    url: fake.url,
    token,
    requests: fake.requests,
    enabled: (feature, environment) => flags[feature]?.[environment],
    failNext(status, times = 1) {
      failing = { status, times };
    },
    close: () => fake.close(),
  };
}
