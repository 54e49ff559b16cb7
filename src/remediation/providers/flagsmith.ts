/**
 * `kind: flagsmith`: turns a feature on or off in one Flagsmith environment
 * through the Admin API, with `Authorization: Api-Key <key>` (an organisation
 * API key; a value that already names its scheme, "Token …" or "Bearer …", is
 * sent as it is).
 *
 *   GET   {url}/api/v1/environments/{environment}/                                 (name, project, change requests, versioning)
 *   GET   {url}/api/v1/environments/{environment}/featurestates/?feature_name={feature}
 *   PATCH {url}/api/v1/environments/{environment}/featurestates/{id}/  {"enabled": false}
 *
 * An environment with Feature Versioning v2 refuses that last call (400
 * `direct_feature_state_write_not_allowed`); there the change goes through the
 * flag update endpoint Flagsmith documents for it (experimental, Flagsmith 2.263 and later):
 *
 *   PATCH {url}/api/__future__/environments/{environment}/features/{feature id}/  {"environment_default": {"enabled": false}}
 *
 * Change requests: Flagsmith's classic feature-state endpoint does not enforce
 * them (only the dashboard and the newer endpoints do), so the provider reads
 * the environment's `minimum_change_request_approvals` first and, when it is
 * set, changes nothing and answers `approval_required` with a link to the
 * environment's change requests; the newer endpoint's own refusal (409
 * `change_requests_enabled`) is read the same way. A feature already in the
 * requested state is `refused`.
 */
import { z } from "zod";
import { createVendorClient, record, type OutboundClient } from "../../lib/outbound.ts";
import type { ActionBase, ExecutionContext, Outcome, Preview, ProviderDefinition, ProviderDeps, RemediationProvider } from "../ports.ts";
import {
  answerFailure,
  baseUrlSchema,
  envNameSchema,
  flagStateSchema,
  identifierSchema,
  missingSecret,
  onOff,
  scrub,
  scrubOutcome,
  seg,
  thrownFailure,
  wantedState,
  type FlagState,
} from "./flag-common.ts";

const SAAS_API = "https://api.flagsmith.com";
const SAAS_APP = "https://app.flagsmith.com";

export interface FlagsmithAction extends ActionBase {
  /** The API's base URL (default https://api.flagsmith.com; a trailing /api/v1 is dropped). */
  url: string;
  /** The dashboard's base URL, for links (default https://app.flagsmith.com for the SaaS API, else `url`). */
  dashboardUrl: string;
  tokenEnv: string;
  /** The environment's key (Environment settings > Environment key). */
  environment: string;
  /** The feature's name. */
  feature: string;
  state: FlagState;
}

const fields = z
  .object({
    url: baseUrlSchema()
      .transform((value) => value.replace(/\/api\/v1$/, ""))
      .default(SAAS_API),
    dashboardUrl: baseUrlSchema().optional(),
    tokenEnv: envNameSchema,
    environment: identifierSchema,
    feature: z.string().min(1, "must not be empty").max(2000),
    state: flagStateSchema,
  })
  .strict()
  .transform(({ dashboardUrl, ...rest }) => ({ ...rest, dashboardUrl: dashboardUrl ?? (rest.url === SAAS_API ? SAAS_APP : rest.url) }));

type Failed = Extract<Outcome, { status: "failed" }>;
interface Environment {
  name: string;
  project: number | undefined;
  approvals: number | null;
  versioned: boolean;
}
interface FeatureState {
  id: number;
  feature: number;
  enabled: boolean;
}
type Read = { ok: true; env: Environment; state: FeatureState } | { ok: false; failure: Failed };

function authorization(secret: string): string {
  return /^(Api-Key|Token|Bearer) \S/.test(secret) ? secret : `Api-Key ${secret}`;
}

function create(deps: ProviderDeps): RemediationProvider<FlagsmithAction> {
  function client(token: string): OutboundClient {
    return createVendorClient("flagsmith", { timeoutMs: deps.timeoutMs }, { authorization: authorization(token) });
  }

  const api = (action: FlagsmithAction) => `${action.url}/api/v1/environments/${seg(action.environment)}`;
  const pages = (action: FlagsmithAction, env: Environment, featureId?: number) => {
    const base = `${action.dashboardUrl}/project/${env.project ?? ""}/environment/${seg(action.environment)}`;
    return { feature: featureId === undefined ? `${base}/features` : `${base}/features?feature=${featureId}`, changeRequests: `${base}/change-requests` };
  };

  function words(action: FlagsmithAction, doing: string, notFound: string) {
    return { vendor: "flagsmith" as const, doing, credentialEnv: action.tokenEnv, notFound };
  }

  async function read(action: FlagsmithAction, token: string): Promise<Read> {
    const doing = `read ${action.feature} in environment ${action.environment}`;
    try {
      const envAnswer = await client(token).send({ operation: "read environment", method: "GET", url: `${api(action)}/` });
      if (envAnswer.status !== 200) return { ok: false, failure: answerFailure(words(action, doing, `Flagsmith has no environment with the key ${action.environment}`), envAnswer) };
      const body = record(envAnswer.json);
      const approvals = body.minimum_change_request_approvals;
      const env: Environment = {
        name: typeof body.name === "string" ? body.name : action.environment,
        project: typeof body.project === "number" ? body.project : typeof record(body.project).id === "number" ? (record(body.project).id as number) : undefined,
        approvals: typeof approvals === "number" ? approvals : null,
        versioned: body.use_v2_feature_versioning === true,
      };

      const url = `${api(action)}/featurestates/?feature_name=${encodeURIComponent(action.feature)}`;
      const statesAnswer = await client(token).send({ operation: `read feature ${action.feature}`, method: "GET", url });
      if (statesAnswer.status !== 200) return { ok: false, failure: answerFailure(words(action, doing, `Flagsmith has no environment with the key ${action.environment}`), statesAnswer) };
      const list = Array.isArray(statesAnswer.json) ? statesAnswer.json : record(statesAnswer.json).results;
      const defaults = (Array.isArray(list) ? list : [])
        .map(record)
        .filter((item) => item.identity == null && item.feature_segment == null && typeof item.id === "number" && typeof item.enabled === "boolean");
      const [found] = defaults;
      if (!found || defaults.length > 1) {
        const why = found ? `more than one feature is named like ${action.feature}` : `Flagsmith has no feature ${action.feature} in the ${env.name} environment`;
        return { ok: false, failure: { status: "failed", summary: `Could not ${doing}: ${why}.`, retryable: false } };
      }
      const feature = typeof found.feature === "number" ? found.feature : record(found.feature).id;
      return { ok: true, env, state: { id: found.id as number, feature: typeof feature === "number" ? feature : -1, enabled: found.enabled as boolean } };
    } catch (error) {
      return { ok: false, failure: thrownFailure("flagsmith", doing, error, false) };
    }
  }

  function approval(action: FlagsmithAction, env: Environment, state: FlagState): Extract<Outcome, { status: "approval_required" }> {
    const count = env.approvals === null ? "" : ` (${env.approvals} ${env.approvals === 1 ? "approval" : "approvals"})`;
    return {
      status: "approval_required",
      summary: `Turning ${action.feature} ${state} in ${env.name} needs a change request in Flagsmith: the environment requires change requests${count}. Nothing was changed.`,
      link: pages(action, env).changeRequests,
    };
  }

  async function change(action: FlagsmithAction, context: ExecutionContext, token: string, current: Extract<Read, { ok: true }>, state: FlagState): Promise<Outcome> {
    const { env } = current;
    const doing = `turn ${action.feature} ${state} in ${env.name}`;
    const enabled = state === "on";
    const request = env.versioned
      ? { url: `${action.url}/api/__future__/environments/${seg(action.environment)}/features/${current.state.feature}/`, body: { environment_default: { enabled } } }
      : { url: `${api(action)}/featurestates/${current.state.id}/`, body: { enabled } };
    if (context.dryRun) {
      return {
        status: "dry_run",
        summary: `Would PATCH ${request.url} with ${JSON.stringify(request.body)} (${action.feature} is ${onOff(current.state.enabled)} in ${env.name} now).`,
        details: { method: "PATCH", url: request.url, from: onOff(current.state.enabled), to: state },
      };
    }
    try {
      // Setting `enabled` is idempotent: a lost answer may be retried.
      const response = await client(token).send({ operation: `turn feature ${action.feature} ${state}`, method: "PATCH", ...request, retryable: true });
      if (response.status === 200) {
        const body = record(response.json);
        const after = env.versioned ? record(body.environment_default).enabled : body.enabled;
        if (typeof after === "boolean" && after !== enabled) {
          return { status: "failed", summary: `Could not ${doing}: Flagsmith accepted the change but still shows ${action.feature} ${onOff(after)}.`, retryable: true };
        }
        return {
          status: "succeeded",
          summary: `Turned ${action.feature} ${state} in ${env.name} (Flagsmith).`,
          link: pages(action, env, current.state.feature).feature,
          details: { feature: action.feature, environment: env.name, from: onOff(current.state.enabled), to: state },
        };
      }
      if (response.status === 409 && record(response.json).code === "change_requests_enabled") return approval(action, env, state);
      const notFound = env.versioned
        ? `this Flagsmith has no flag update endpoint, which environments with Feature Versioning v2 need (upgrade Flagsmith)`
        : `Flagsmith no longer has feature ${action.feature} in ${env.name}`;
      return answerFailure(words(action, doing, notFound), response);
    } catch (error) {
      return thrownFailure("flagsmith", doing, error, true);
    }
  }

  return {
    kind: "flagsmith",

    async preview(action, context): Promise<Preview> {
      const state = wantedState(action, context);
      const base: Preview = {
        target: `Flagsmith feature ${action.feature} (environment ${action.environment}) at ${action.url}`,
        effect: `Turn ${action.feature} ${state} in that environment`,
        credentials: [action.tokenEnv],
      };
      const token = deps.secrets(action.tokenEnv);
      if (!token) return { ...base, problem: `The environment variable ${action.tokenEnv} is not set.` };
      const current = await read(action, token);
      if (!current.ok) return { ...base, problem: scrub(current.failure.summary, [token]) };
      const preview: Preview = {
        ...base,
        target: `Flagsmith feature ${action.feature} (environment ${current.env.name}, key ${action.environment}) at ${action.url}`,
        effect: `Turn ${action.feature} ${state} in ${current.env.name}`,
        current: `${current.state.enabled ? "On" : "Off"} in ${current.env.name}`,
      };
      if (onOff(current.state.enabled) === state) return { ...preview, problem: `${action.feature} is already ${state} in ${current.env.name}: this changes nothing.` };
      if (current.env.approvals !== null) return { ...preview, problem: `${current.env.name} requires change requests in Flagsmith: the button will not change the flag, it will point to a change request instead.` };
      return preview;
    },

    async execute(action, context): Promise<Outcome> {
      const state = wantedState(action, context);
      const token = deps.secrets(action.tokenEnv);
      if (!token) return missingSecret(`turn ${action.feature} ${state} in environment ${action.environment}`, action.tokenEnv);
      const current = await read(action, token);
      if (!current.ok) return scrubOutcome(current.failure, [token]);
      const { env } = current;
      if (onOff(current.state.enabled) === state) {
        if (context.dryRun) return { status: "dry_run", summary: `Would call nothing: ${action.feature} is already ${state} in ${env.name} (a real run is refused).` };
        return { status: "refused", summary: `${action.feature} is already ${state} in ${env.name}: nothing was changed.` };
      }
      if (env.approvals !== null) {
        if (context.dryRun) return { status: "dry_run", summary: `Would call nothing: ${env.name} requires change requests in Flagsmith (a real run answers that an approval is required).` };
        return approval(action, env, state);
      }
      return scrubOutcome(await change(action, context, token, current, state), [token]);
    },
  };
}

export const flagsmithProvider: ProviderDefinition<FlagsmithAction> = {
  kind: "flagsmith",
  fields,
  flag: true,
  credentials: (action) => [action.tokenEnv],
  create,
};
