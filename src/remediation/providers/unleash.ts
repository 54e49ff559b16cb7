/**
 * `kind: unleash`: switches a feature flag in one environment of an Unleash
 * project through the Admin API.
 *
 *   GET  {url}/api/admin/projects/{project}/features/{feature}/environments/{environment}      (preview, and before a change)
 *   POST {url}/api/admin/projects/{project}/features/{feature}/environments/{environment}/on|off
 *
 * with `Authorization: <token>` (an admin API token, a personal access token or
 * a service account token; no `Bearer`). Unleash's own answers, checked against
 * unleash-server 8.2.0: 401 `UnauthorizedError` (bad token), 403 for a token
 * that may not do it, 404 `NotFoundError` naming the missing project, flag or
 * environment. An environment with change requests (Unleash Enterprise) answers
 * a direct change with 403 `PermissionError` whose `permissions` is
 * ["SKIP_CHANGE_REQUEST"]: that is `approval_required`, with a link to the
 * project's change requests.
 *
 * A flag already in the requested state is `refused` ("… is already off in
 * production"): pressing the button changed nothing, and the channel should
 * know the flag was not what it thought, rather than read "turned off".
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

export interface UnleashAction extends ActionBase {
  /** Unleash's base URL, e.g. http://unleash:4242 (with its base path, if any). */
  url: string;
  /** The environment variable holding the API token. */
  tokenEnv: string;
  /** Default "default" (Unleash's default project). */
  project: string;
  feature: string;
  environment: string;
  /** What the button sets; the opposite is offered afterwards. */
  state: FlagState;
}

const fields = z
  .object({
    url: baseUrlSchema(),
    tokenEnv: envNameSchema,
    project: identifierSchema.default("default"),
    feature: identifierSchema,
    environment: identifierSchema,
    state: flagStateSchema,
  })
  .strict();

type Failed = Extract<Outcome, { status: "failed" }>;
type Read = { ok: true; enabled: boolean; strategies: number } | { ok: false; failure: Failed | Extract<Outcome, { status: "approval_required" }> };

function paths(action: UnleashAction) {
  const environment = `${action.url}/api/admin/projects/${seg(action.project)}/features/${seg(action.feature)}/environments/${seg(action.environment)}`;
  return {
    environment,
    switchTo: (state: FlagState) => `${environment}/${state}`,
    flagPage: `${action.url}/projects/${seg(action.project)}/features/${seg(action.feature)}`,
    changeRequests: `${action.url}/projects/${seg(action.project)}/change-requests`,
  };
}

/** Unleash's refusal of a direct change in an environment with change requests (Enterprise). */
function needsChangeRequest(json: unknown): boolean {
  const body = record(json);
  const permissions = Array.isArray(body.permissions) ? body.permissions : [];
  return permissions.includes("SKIP_CHANGE_REQUEST") || (typeof body.message === "string" && body.message.includes("SKIP_CHANGE_REQUEST"));
}

function create(deps: ProviderDeps): RemediationProvider<UnleashAction> {
  function client(token: string): OutboundClient {
    return createVendorClient("unleash", { timeoutMs: deps.timeoutMs }, { authorization: token });
  }

  function words(action: UnleashAction, doing: string) {
    return {
      vendor: "unleash" as const,
      doing,
      credentialEnv: action.tokenEnv,
      notFound: `Unleash has no flag ${action.feature} with an environment ${action.environment} in project ${action.project}`,
    };
  }

  function approval(action: UnleashAction, state: FlagState): Extract<Outcome, { status: "approval_required" }> {
    return {
      status: "approval_required",
      summary:
        `Turning ${action.feature} ${state} in ${action.environment} needs a change request in Unleash: ` +
        `the ${action.environment} environment of project ${action.project} requires change requests, and the token in ${action.tokenEnv} may not skip them.`,
      link: paths(action).changeRequests,
    };
  }

  async function read(action: UnleashAction, token: string, state: FlagState): Promise<Read> {
    const doing = `read ${action.feature} in ${action.environment}`;
    try {
      const response = await client(token).send({ operation: `read flag ${action.feature}`, method: "GET", url: paths(action).environment });
      if (response.status !== 200) {
        if (response.status === 403 && needsChangeRequest(response.json)) return { ok: false, failure: approval(action, state) };
        return { ok: false, failure: answerFailure(words(action, doing), response) };
      }
      const body = record(response.json);
      if (typeof body.enabled !== "boolean") {
        return { ok: false, failure: { status: "failed", summary: `Could not ${doing}: Unleash's answer has no "enabled" (is ${action.url} an Unleash server?).`, retryable: false } };
      }
      return { ok: true, enabled: body.enabled, strategies: Array.isArray(body.strategies) ? body.strategies.length : 0 };
    } catch (error) {
      return { ok: false, failure: thrownFailure("unleash", doing, error, false) };
    }
  }

  function describeCurrent(action: UnleashAction, current: { enabled: boolean; strategies: number }): string {
    const strategies = current.strategies === 1 ? "1 strategy" : `${current.strategies} strategies`;
    return `${current.enabled ? "On" : "Off"} in ${action.environment} (${strategies})`;
  }

  return {
    kind: "unleash",

    async preview(action, context): Promise<Preview> {
      const state = wantedState(action, context);
      const base: Preview = {
        target: `Unleash flag ${action.feature} (project ${action.project}, environment ${action.environment}) at ${action.url}`,
        effect: `Turn ${action.feature} ${state} in ${action.environment}`,
        credentials: [action.tokenEnv],
      };
      const token = deps.secrets(action.tokenEnv);
      if (!token) return { ...base, problem: `The environment variable ${action.tokenEnv} is not set.` };
      const current = await read(action, token, state);
      if (!current.ok) return { ...base, problem: scrub(current.failure.summary, [token]) };
      const preview: Preview = { ...base, current: describeCurrent(action, current) };
      return onOff(current.enabled) === state ? { ...preview, problem: `${action.feature} is already ${state} in ${action.environment}: this changes nothing.` } : preview;
    },

    async execute(action, context: ExecutionContext): Promise<Outcome> {
      const state = wantedState(action, context);
      const doing = `turn ${action.feature} ${state} in ${action.environment}`;
      const token = deps.secrets(action.tokenEnv);
      if (!token) return missingSecret(doing, action.tokenEnv);
      const url = paths(action).switchTo(state);

      const current = await read(action, token, state);
      if (!current.ok) return scrubOutcome(current.failure, [token]);
      const was = onOff(current.enabled);
      if (was === state) {
        if (context.dryRun) return { status: "dry_run", summary: `Would call nothing: ${action.feature} is already ${state} in ${action.environment} (a real run is refused).` };
        return { status: "refused", summary: `${action.feature} is already ${state} in ${action.environment}: nothing was changed.` };
      }
      if (context.dryRun) {
        return { status: "dry_run", summary: `Would POST ${url} (${action.feature} is ${was} in ${action.environment} now).`, details: { method: "POST", url, from: was, to: state } };
      }

      try {
        // Idempotent (switching to a state twice leaves it there), so a lost answer may be retried.
        const response = await client(token).send({ operation: `turn flag ${action.feature} ${state}`, method: "POST", url, retryable: true });
        if (response.status === 200 || response.status === 202 || response.status === 204) {
          return {
            status: "succeeded",
            summary: `Turned ${action.feature} ${state} in ${action.environment} (Unleash project ${action.project}).`,
            link: paths(action).flagPage,
            details: { feature: action.feature, environment: action.environment, from: was, to: state },
          };
        }
        if (response.status === 403 && needsChangeRequest(response.json)) return approval(action, state);
        return scrubOutcome(answerFailure(words(action, doing), response), [token]);
      } catch (error) {
        return scrubOutcome(thrownFailure("unleash", doing, error, true), [token]);
      }
    },
  };
}

export const unleashProvider: ProviderDefinition<UnleashAction> = {
  kind: "unleash",
  fields,
  flag: true,
  credentials: (action) => [action.tokenEnv],
  create,
};
