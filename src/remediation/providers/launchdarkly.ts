/**
 * `kind: launchdarkly`: turns a flag's targeting on or off in one environment
 * through LaunchDarkly's REST API.
 *
 *   GET   {url}/api/v2/flags/{project}/{flag}?env={environment}   (preview, and before a change)
 *   PATCH {url}/api/v2/flags/{project}/{flag}
 *         Content-Type: application/json; domain-model=launchdarkly.semanticpatch
 *         {"environmentKey": "...", "comment": "...", "instructions": [{"kind": "turnFlagOff"}]}
 *
 * with `Authorization: <access token>` and `LD-API-Version: 20240415`. The
 * change is a semantic patch (`turnFlagOff` / `turnFlagOn` in one
 * environment): it says what to do rather than which JSON field to replace,
 * and needs the custom-role action `updateOn` on the flag in the environment.
 *
 * An environment that requires approvals answers a direct change with 405
 * `{"code": "method_not_allowed", "message": "Flag configuration updates require
 * approval: ..."}` (a 403 whose message speaks of approval is read the same
 * way): that is `approval_required`, with a link to the flag in that
 * environment, where the approval can be requested. A flag already in the
 * requested state is `refused`, as for every flag kind.
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
  vendorMessage,
  wantedState,
  type FlagState,
} from "./flag-common.ts";

export const LAUNCHDARKLY_API_VERSION = "20240415";

export interface LaunchDarklyAction extends ActionBase {
  /** Default https://app.launchdarkly.com (EU: https://app.eu.launchdarkly.com, Federal: https://app.launchdarkly.us). */
  url: string;
  /** The environment variable holding the access token (a service token with a custom role is best). */
  tokenEnv: string;
  /** The project key. */
  project: string;
  /** The flag key. */
  flag: string;
  /** The environment key. */
  environment: string;
  state: FlagState;
}

const fields = z
  .object({
    url: baseUrlSchema({ httpsOnly: true }).default("https://app.launchdarkly.com"),
    tokenEnv: envNameSchema,
    project: identifierSchema,
    flag: identifierSchema,
    environment: identifierSchema,
    state: flagStateSchema,
  })
  .strict();

type Failed = Extract<Outcome, { status: "failed" }>;
interface FlagEnvironment {
  on: boolean;
  name: string;
  /** The flag's page in that environment (LaunchDarkly's `_site.href`), absolute. */
  page: string;
}
type Read = { ok: true; env: FlagEnvironment } | { ok: false; failure: Failed };

/** A JSON pointer segment (RFC 6901). */
function pointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

function requiresApproval(status: number, json: unknown): boolean {
  const body = record(json);
  const message = typeof body.message === "string" ? body.message.toLowerCase() : "";
  return status === 405 || (status === 403 && message.includes("approval"));
}

function create(deps: ProviderDeps): RemediationProvider<LaunchDarklyAction> {
  function client(token: string): OutboundClient {
    return createVendorClient("launchdarkly", { timeoutMs: deps.timeoutMs }, { authorization: token, "ld-api-version": LAUNCHDARKLY_API_VERSION });
  }

  const flagUrl = (action: LaunchDarklyAction) => `${action.url}/api/v2/flags/${seg(action.project)}/${seg(action.flag)}`;
  const defaultPage = (action: LaunchDarklyAction) => `${action.url}/projects/${seg(action.project)}/flags/${seg(action.flag)}/targeting?env=${seg(action.environment)}`;

  function words(action: LaunchDarklyAction, doing: string) {
    return { vendor: "launchdarkly" as const, doing, credentialEnv: action.tokenEnv, notFound: `LaunchDarkly has no flag ${action.flag} in project ${action.project}` };
  }

  function environmentOf(action: LaunchDarklyAction, json: unknown): FlagEnvironment | undefined {
    const env = record(record(record(json).environments)[action.environment]);
    if (typeof env.on !== "boolean") return undefined;
    const href = record(env._site).href;
    const page = typeof href === "string" && href.startsWith("/") ? `${action.url}${href}` : defaultPage(action);
    return { on: env.on, name: typeof env._environmentName === "string" ? env._environmentName : action.environment, page };
  }

  async function read(action: LaunchDarklyAction, token: string): Promise<Read> {
    const doing = `read ${action.flag} in ${action.environment}`;
    try {
      const response = await client(token).send({ operation: `read flag ${action.flag}`, method: "GET", url: `${flagUrl(action)}?env=${seg(action.environment)}` });
      if (response.status !== 200) return { ok: false, failure: answerFailure(words(action, doing), response) };
      if (record(response.json).archived === true) {
        return { ok: false, failure: { status: "failed", summary: `Could not ${doing}: the flag ${action.flag} is archived in LaunchDarkly.`, retryable: false } };
      }
      const env = environmentOf(action, response.json);
      if (!env) {
        return { ok: false, failure: { status: "failed", summary: `Could not ${doing}: LaunchDarkly project ${action.project} has no environment ${action.environment} (check the environment key).`, retryable: false } };
      }
      return { ok: true, env };
    } catch (error) {
      return { ok: false, failure: thrownFailure("launchdarkly", doing, error, false) };
    }
  }

  function comment(context: ExecutionContext, state: FlagState): string {
    const who = context.confirmedBy.name || context.confirmedBy.userId;
    return `Firebreak: turned ${state} by ${who} during incident #${context.incident.number} (${context.incident.title})`.slice(0, 500);
  }

  return {
    kind: "launchdarkly",

    async preview(action, context): Promise<Preview> {
      const state = wantedState(action, context);
      const base: Preview = {
        target: `LaunchDarkly flag ${action.flag} (project ${action.project}, environment ${action.environment})`,
        effect: `Turn ${action.flag} targeting ${state} in ${action.environment}`,
        credentials: [action.tokenEnv],
      };
      const token = deps.secrets(action.tokenEnv);
      if (!token) return { ...base, problem: `The environment variable ${action.tokenEnv} is not set.` };
      const current = await read(action, token);
      if (!current.ok) return { ...base, problem: scrub(current.failure.summary, [token]) };
      const preview: Preview = { ...base, current: `${current.env.on ? "On" : "Off"} in ${current.env.name}` };
      return onOff(current.env.on) === state ? { ...preview, problem: `${action.flag} is already ${state} in ${action.environment}: this changes nothing.` } : preview;
    },

    async execute(action, context): Promise<Outcome> {
      const state = wantedState(action, context);
      const doing = `turn ${action.flag} ${state} in ${action.environment}`;
      const token = deps.secrets(action.tokenEnv);
      if (!token) return missingSecret(doing, action.tokenEnv);

      const current = await read(action, token);
      if (!current.ok) return scrubOutcome(current.failure, [token]);
      const was = onOff(current.env.on);
      if (was === state) {
        if (context.dryRun) return { status: "dry_run", summary: `Would call nothing: ${action.flag} is already ${state} in ${action.environment} (a real run is refused).` };
        return { status: "refused", summary: `${action.flag} is already ${state} in ${action.environment}: nothing was changed.` };
      }
      const path = `/environments/${pointer(action.environment)}/on`;
      const body = { environmentKey: action.environment, comment: comment(context, state), instructions: [{ kind: state === "on" ? "turnFlagOn" : "turnFlagOff" }] };
      if (context.dryRun) {
        return {
          status: "dry_run",
          summary: `Would PATCH ${flagUrl(action)} with the semantic patch ${state === "on" ? "turnFlagOn" : "turnFlagOff"} in ${action.environment} (${action.flag} is ${was} there now; it sets ${path}).`,
          details: { method: "PATCH", url: flagUrl(action), path, from: was, to: state },
        };
      }

      try {
        // Setting `on` to a value is idempotent: a lost answer may be retried.
        const response = await client(token).send({
          operation: `turn flag ${action.flag} ${state}`,
          method: "PATCH",
          url: flagUrl(action),
          headers: { "content-type": "application/json; domain-model=launchdarkly.semanticpatch" },
          body,
          retryable: true,
        });
        if (response.status === 200) {
          const after = environmentOf(action, response.json);
          if (after && onOff(after.on) !== state) {
            return { status: "failed", summary: `Could not ${doing}: LaunchDarkly accepted the change but still shows ${action.flag} ${onOff(after.on)}.`, retryable: true };
          }
          return {
            status: "succeeded",
            summary: `Turned ${action.flag} ${state} in ${current.env.name} (LaunchDarkly project ${action.project}).`,
            link: after?.page ?? current.env.page,
            details: { flag: action.flag, environment: action.environment, from: was, to: state },
          };
        }
        if (requiresApproval(response.status, response.json)) {
          const said = vendorMessage(response);
          return {
            status: "approval_required",
            summary: scrub(
              `Turning ${action.flag} ${state} in ${action.environment} needs an approval in LaunchDarkly: the ${action.environment} environment requires approvals for flag changes` +
                `${said ? ` ("${said}")` : ""}. Request one on the flag's page.`,
              [token],
            ),
            link: current.env.page,
          };
        }
        return scrubOutcome(answerFailure(words(action, doing), response), [token]);
      } catch (error) {
        return scrubOutcome(thrownFailure("launchdarkly", doing, error, true), [token]);
      }
    },
  };
}

export const launchDarklyProvider: ProviderDefinition<LaunchDarklyAction> = {
  kind: "launchdarkly",
  fields,
  flag: true,
  credentials: (action) => [action.tokenEnv],
  create,
};
