/**
 * kind: github-actions — dispatches a rollback workflow through GitHub's REST
 * API and links the run it started:
 *
 * - POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches
 *   {ref, inputs, return_run_details: true} → 200 {workflow_run_id, run_url,
 *   html_url} (GitHub, since February 2026). Where the server does not know
 *   return_run_details (an older GitHub Enterprise Server answers 422 "not a
 *   permitted key", and dispatches nothing) it is sent again without it
 *   (204), and the run is looked for in GET …/runs?event=workflow_dispatch
 *   &created>=…, as long as the deadline allows.
 * - GET /repos/{owner}/{repo}/actions/workflows/{workflow} for the preview
 *   and the dry run: the workflow exists, its name, whether it is enabled.
 *
 * Headers: Authorization: Bearer, Accept: application/vnd.github+json,
 * X-GitHub-Api-Version, User-Agent. The dispatch is never retried inside a
 * call (a second POST would start a second run). Inputs are strings; the
 * placeholders {incident.number}, {incident.title}, {incident.severity},
 * {incident.channel}, {confirmedBy}, {confirmedBy.userId} and {executionId}
 * are replaced once (a title containing "{confirmedBy}" stays as it is).
 */
import { setTimeout as delay } from "node:timers/promises";
import { z } from "zod";
import { createVendorClient, record, retryAfterMs, type OutboundClient, type OutboundResponse } from "../../lib/outbound.ts";
import type { ActionBase, ExecutionContext, Outcome, Preview, ProviderDefinition, ProviderDeps, RemediationProvider } from "../ports.ts";
import { envName, failed, httpStatus, httpsUrl, isDryRun, transportFailure, unknownFields, vendorDetail } from "./rollback-common.ts";

export interface GitHubActionsAction extends ActionBase {
  kind: "github-actions";
  /** owner/name */
  repository: string;
  /** The workflow's file name in .github/workflows (rollback.yml) or its numeric id. */
  workflow: string;
  /** The branch or tag whose version of the workflow runs. */
  ref: string;
  /** workflow_dispatch inputs (strings, with placeholders). */
  inputs?: Record<string, string>;
  /** Names the environment variable holding the token. */
  tokenEnv: string;
  /** GitHub Enterprise Server: https://github.example.com/api/v3 (default https://api.github.com). */
  apiUrl?: string;
}

export const GITHUB_API_VERSION = "2022-11-28";
const USER_AGENT = "Firebreak/0.1 (incident management; remediation)";
const DEFAULT_API = "https://api.github.com";
const MAX_INPUTS = 25;

type Context = Pick<ExecutionContext, "incident" | "confirmedBy" | "idempotencyKey">;
const PLACEHOLDERS: Readonly<Record<string, (context: Context) => string>> = {
  "incident.number": (c) => String(c.incident.number),
  "incident.title": (c) => c.incident.title,
  "incident.severity": (c) => c.incident.severity,
  "incident.channel": (c) => c.incident.channelName ?? "",
  confirmedBy: (c) => c.confirmedBy.name,
  "confirmedBy.userId": (c) => c.confirmedBy.userId,
  executionId: (c) => c.idempotencyKey,
};
const PLACEHOLDER = /\{([A-Za-z][A-Za-z.]*)\}/g;
const known = Object.keys(PLACEHOLDERS).map((name) => `{${name}}`).join(", ");

const inputValue = z
  .string({ error: "must be a string (quote numbers and true/false in the YAML)" })
  .refine((value) => [...value.matchAll(PLACEHOLDER)].every((match) => (match[1] ?? "") in PLACEHOLDERS), { message: `uses an unknown placeholder; the known ones are ${known}` });

const fields = z
  .object(
    {
      repository: z
        .string({ error: "is required: the repository as owner/name, e.g. acme/checkout" })
        .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/, "must be owner/name, e.g. acme/checkout"),
      workflow: z
        .string({ error: "is required: the workflow's file name (e.g. rollback.yml) or numeric id" })
        .transform((value) => value.replace(/^\.github\/workflows\//, ""))
        .refine((value) => /^(\d+|[A-Za-z0-9._-]+\.ya?ml)$/.test(value), "must be the workflow's file name in .github/workflows (e.g. rollback.yml) or its numeric id"),
      ref: z
        .string({ error: "is required: the branch or tag to run the workflow from, e.g. main" })
        .min(1, "must name a branch or tag, e.g. main")
        .regex(/^[^\s~^:?*[\\]+$/, "must be a branch or tag name, e.g. main"),
      inputs: z
        .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "input names are letters, digits, _ and -, starting with a letter or _"), inputValue)
        .refine((inputs) => Object.keys(inputs).length <= MAX_INPUTS, `GitHub accepts at most ${MAX_INPUTS} inputs`)
        .optional(),
      tokenEnv: envName("a GitHub token with Actions: write on the repository"),
      apiUrl: httpsUrl("https://github.example.com/api/v3").optional(),
    },
    { error: unknownFields("github-actions", ["repository", "workflow", "ref", "inputs", "tokenEnv", "apiUrl"]) },
  )
  .strict();

/** The inputs with their placeholders replaced, in one pass. */
export function resolveInputs(inputs: Readonly<Record<string, string>> | undefined, context: Context): Record<string, string> {
  return Object.fromEntries(Object.entries(inputs ?? {}).map(([name, value]) => [name, value.replace(PLACEHOLDER, (match, key: string) => PLACEHOLDERS[key]?.(context) ?? match)]));
}

function githubMessage(response: OutboundResponse): string | undefined {
  const body = record(response.json);
  const message = typeof body.message === "string" ? body.message : response.text.trim() || undefined;
  const errors = Array.isArray(body.errors) ? body.errors.map((e) => (typeof e === "string" ? e : JSON.stringify(e))).join("; ") : "";
  return message && errors ? `${message}: ${errors}` : message;
}

function createProvider(deps: ProviderDeps): RemediationProvider<GitHubActionsAction> {
  function connect(action: GitHubActionsAction): { client: OutboundClient; token: string } | Outcome {
    const token = deps.secrets(action.tokenEnv);
    if (!token) return failed(`${action.tokenEnv} is not set: it should hold a GitHub token with Actions: write on ${action.repository}.`, false);
    const client = createVendorClient("github", { timeoutMs: deps.timeoutMs }, {
      authorization: `Bearer ${token}`,
      accept: "application/vnd.github+json",
      "x-github-api-version": GITHUB_API_VERSION,
      "user-agent": USER_AGENT,
    });
    return { client, token };
  }

  const api = (action: GitHubActionsAction) => action.apiUrl ?? DEFAULT_API;
  const workflowPath = (action: GitHubActionsAction) => `/repos/${action.repository}/actions/workflows/${encodeURIComponent(action.workflow)}`;
  /** The workflow's runs in the web UI (api.github.com → github.com; GHES …/api/v3 → …). */
  const runsPage = (action: GitHubActionsAction) => {
    const base = api(action) === DEFAULT_API ? "https://github.com" : api(action).replace(/\/api\/v3$/, "");
    return `${base}/${action.repository}/actions/workflows/${encodeURIComponent(action.workflow)}`;
  };

  function refusal(action: GitHubActionsAction, response: OutboundResponse, dispatching: boolean, token: string): Outcome {
    const { status, headers } = response;
    const message = githubMessage(response);
    const detail = vendorDetail(message, [token]);
    const words = httpStatus(status);
    const what = dispatching ? `run ${action.workflow} on ${action.ref} in ${action.repository}` : `read workflow ${action.workflow} in ${action.repository}`;
    if ((status === 403 || status === 429) && (headers.get("x-ratelimit-remaining") === "0" || headers.has("retry-after") || /rate limit/i.test(message ?? ""))) {
      const reset = Number(headers.get("x-ratelimit-reset"));
      const wait = retryAfterMs(headers) ?? (Number.isFinite(reset) && reset > 0 ? reset * 1_000 - Date.now() : 60_000);
      return failed(`GitHub is rate-limiting the token in ${action.tokenEnv} and did not ${what}: try again in ${Math.max(1, Math.ceil(wait / 1_000))} s.`, true, detail);
    }
    if (status === 401) return failed(`GitHub did not accept the token in ${action.tokenEnv} (${words}): it may have expired or been revoked.`, false, detail);
    if (status === 403) return failed(`GitHub refused: the token in ${action.tokenEnv} may not run workflows in ${action.repository} (${words}); it needs Actions: write on that repository.`, false, detail);
    if (status === 404) return failed(`GitHub found no workflow ${action.workflow} in ${action.repository}, or the token in ${action.tokenEnv} cannot see that repository (${words}).`, false, detail);
    if (status === 422) {
      const hint = /workflow_dispatch/i.test(message ?? "")
        ? ` The workflow needs an "on: workflow_dispatch" trigger on ${action.ref}.`
        : /input/i.test(message ?? "")
          ? " The action's inputs must match the workflow's workflow_dispatch inputs."
          : /ref/i.test(message ?? "")
            ? " Check the action's ref (a branch or tag of the repository)."
            : "";
      return failed(`GitHub refused to ${what} (${words}${detail ? `: ${detail}` : ""}).${hint}`, false, detail);
    }
    if (status >= 300 && status < 400) return failed(`GitHub redirected the call (${words}): check the action's apiUrl (for GitHub Enterprise Server, https://<host>/api/v3).`, false);
    if (status >= 500) {
      const unknown = dispatching ? ` It may or may not have started a run: check ${runsPage(action)} before trying again.` : "";
      return failed(`GitHub failed to ${what} (${words}).${unknown}`, !dispatching, detail);
    }
    return failed(`GitHub refused to ${what} (${words}${detail ? `: ${detail}` : ""}).`, false, detail);
  }

  async function readWorkflow(action: GitHubActionsAction, client: OutboundClient, token: string): Promise<{ ok: true; name: string; path: string; state: string } | { ok: false; outcome: Outcome }> {
    let response: OutboundResponse;
    try {
      response = await client.send({ operation: "read workflow", method: "GET", url: `${api(action)}${workflowPath(action)}` });
    } catch (error) {
      return { ok: false, outcome: transportFailure("GitHub", `read workflow ${action.workflow} in ${action.repository}`, error, { secrets: [token] }) };
    }
    if (response.status !== 200) return { ok: false, outcome: refusal(action, response, false, token) };
    const workflow = record(response.json);
    const text = (value: unknown, fallback: string) => (typeof value === "string" ? value : fallback);
    return { ok: true, name: text(workflow.name, action.workflow), path: text(workflow.path, action.workflow), state: text(workflow.state, "unknown") };
  }

  /** Without run details: the newest workflow_dispatch run created since the dispatch (GitHub lists it after a moment). */
  async function findRun(action: GitHubActionsAction, client: OutboundClient, since: number): Promise<{ id: number; htmlUrl: string } | undefined> {
    const startedAt = Date.now();
    for (let attempt = 0; attempt < 3 && Date.now() - startedAt < deps.timeoutMs; attempt += 1) {
      if (attempt > 0) await delay(1_000 * attempt);
      const query = new URLSearchParams({ event: "workflow_dispatch", created: `>=${new Date(since - 60_000).toISOString().replace(/\.\d{3}Z$/, "Z")}`, per_page: "20" });
      try {
        const response = await client.send({ operation: "list workflow runs", method: "GET", url: `${api(action)}${workflowPath(action)}/runs?${query.toString()}` });
        const runs = response.status === 200 ? record(response.json).workflow_runs : undefined;
        const newest = (Array.isArray(runs) ? runs.map(record) : [])
          .filter((run) => typeof run.id === "number" && typeof run.html_url === "string")
          .sort((a, b) => Number(b.id) - Number(a.id))[0];
        if (newest) return { id: Number(newest.id), htmlUrl: String(newest.html_url) };
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  return {
    kind: "github-actions",
    async preview(action) {
      const target = `GitHub Actions workflow ${action.workflow} in ${action.repository}`;
      const inputs = Object.entries(action.inputs ?? {}).map(([name, value]) => `${name}=${value}`);
      const effect = `Run workflow ${action.workflow} on ${action.ref}${inputs.length > 0 ? ` with inputs ${inputs.join(", ")}` : ""}`;
      const credentials = githubActionsProvider.credentials(action);
      const connection = connect(action);
      if ("status" in connection) return { target, effect, problem: connection.summary, credentials };
      const workflow = await readWorkflow(action, connection.client, connection.token);
      if (!workflow.ok) return { target, effect, problem: workflow.outcome.summary, credentials };
      const current = `Workflow "${workflow.name}" (${workflow.path}) is ${workflow.state}`;
      if (workflow.state !== "active") return { target, effect, current, problem: `The workflow is ${workflow.state}: enable it in the repository's Actions tab first.`, credentials };
      return { target, effect, current, credentials } satisfies Preview;
    },
    async execute(action, context: ExecutionContext) {
      const connection = connect(action);
      if ("status" in connection) return connection;
      const { client, token } = connection;
      const inputs = resolveInputs(action.inputs, context);
      const body = { ref: action.ref, ...(Object.keys(inputs).length > 0 ? { inputs } : {}) };
      const details = { repository: action.repository, workflow: action.workflow, ref: action.ref };
      const call = `dispatch ${action.workflow} on ${action.ref} in ${action.repository}`;
      if (isDryRun(action, context)) {
        const workflow = await readWorkflow(action, client, token);
        if (!workflow.ok) return workflow.outcome;
        return {
          status: "dry_run",
          summary: `Would POST ${workflowPath(action)}/dispatches ${JSON.stringify(body)}: GitHub would run workflow "${workflow.name}" (${workflow.path}, ${workflow.state}) on ${action.ref}. Nothing was dispatched.`,
          details,
        };
      }
      const url = `${api(action)}${workflowPath(action)}/dispatches`;
      const since = Date.now();
      let response: OutboundResponse;
      try {
        response = await client.send({ operation: "dispatch workflow", method: "POST", url, body: { ...body, return_run_details: true } });
        // An older server that does not know return_run_details refuses the whole request, and dispatched nothing: send it without.
        if (response.status === 422 && /return_run_details/.test(githubMessage(response) ?? "")) response = await client.send({ operation: "dispatch workflow", method: "POST", url, body });
      } catch (error) {
        return transportFailure("GitHub", call, error, { changing: true, check: `look at ${runsPage(action)}`, secrets: [token] });
      }
      if (response.status === 200) {
        const run = record(response.json);
        const runId = typeof run.workflow_run_id === "number" || typeof run.workflow_run_id === "string" ? String(run.workflow_run_id) : undefined;
        if (typeof run.html_url === "string" && runId !== undefined) {
          return {
            status: "succeeded",
            summary: `GitHub started workflow ${action.workflow} on ${action.ref} in ${action.repository}: run ${runId}.`,
            link: run.html_url,
            details: { ...details, runId },
          };
        }
      }
      if (response.status !== 200 && response.status !== 204) return refusal(action, response, true, token);
      const run = await findRun(action, client, since);
      if (run) {
        return {
          status: "succeeded",
          summary: `GitHub accepted the dispatch of ${action.workflow} on ${action.ref} in ${action.repository}; its newest run is ${run.id} (GitHub did not say which run the dispatch started).`,
          link: run.htmlUrl,
          details: { ...details, runId: String(run.id) },
        };
      }
      return { status: "succeeded", summary: `GitHub accepted the dispatch of ${action.workflow} on ${action.ref} in ${action.repository}; the run is not listed yet: see the workflow's runs.`, link: runsPage(action), details };
    },
  };
}

export const githubActionsProvider: ProviderDefinition<GitHubActionsAction> = {
  kind: "github-actions",
  fields,
  flag: false,
  credentials: (action) => [action.tokenEnv],
  create: createProvider,
};
