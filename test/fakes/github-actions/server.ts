/**
 * A fake GitHub REST API for GitHub Actions workflows, over HTTPS with the
 * run's test CA, enforcing what GitHub documents for:
 *
 * - GET  /repos/{owner}/{repo}/actions/workflows/{workflow_id | file name}
 * - POST /repos/{owner}/{repo}/actions/workflows/{…}/dispatches
 *   {ref, inputs?, return_run_details?}: 204, or 200 {workflow_run_id,
 *   run_url, html_url} with return_run_details (unless the fake plays an
 *   older server: `runDetails: false` refuses the key with 422, as GitHub
 *   refuses any key it does not permit);
 * - GET  /repos/{owner}/{repo}/actions/workflows/{…}/runs?event=&branch=
 *   &created=&per_page= (newest first).
 *
 * Checks, in GitHub's words: a User-Agent (403), the token (401 Bad
 * credentials), Accept application/vnd.github+json (415) and a known
 * X-GitHub-Api-Version (400); repositories the token cannot see (404) or may
 * not run workflows in (403 "Resource not accessible by personal access
 * token"); JSON bodies (415 / 400 "Problems parsing JSON"); 422 for a missing
 * or unknown ref, a key that is not permitted, a disabled workflow, a
 * workflow without a workflow_dispatch trigger, unexpected, missing required
 * or non-string inputs, more than 25 inputs, a choice outside its options.
 * Primary and secondary rate limits, failures and silence on demand.
 */
import { isJson, isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";

export const API_VERSIONS = ["2022-11-28", "2026-03-10"];
const DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event";

export interface FakeInput { required?: boolean; type?: "string" | "choice" | "boolean" | "number" | "environment"; options?: string[]; default?: string }
export interface FakeWorkflow {
  id: number;
  /** e.g. .github/workflows/rollback.yml (reachable by its file name too). */
  path: string;
  name: string;
  state?: "active" | "disabled_manually" | "disabled_inactivity";
  /** Has an `on: workflow_dispatch` trigger (default true). */
  dispatch?: boolean;
  inputs?: Record<string, FakeInput>;
}
export interface FakeRun { id: number; runNumber: number; repository: string; workflowId: number; event: "workflow_dispatch"; headBranch: string; inputs: Record<string, string>; createdAt: string; htmlUrl: string }
export interface FakeGitHubActionsOptions {
  tls: { certPem: string; keyPem: string };
  /** owner/name → its workflows and refs (branches and tags; default ["main"]). */
  repositories: Record<string, { workflows: FakeWorkflow[]; refs?: string[] }>;
  /** token → the repositories it sees ("*" = all) and its Actions permission; default one token with write everywhere. */
  tokens?: Record<string, { repositories: string[] | "*"; actions: "read" | "write" }>;
  /** Does the server know return_run_details (default true)? */
  runDetails?: boolean;
}
export interface FakeGitHubActions {
  readonly url: string;
  readonly token: string;
  readonly requests: readonly RecordedRequest[];
  runs(repository?: string): FakeRun[];
  /** Play a server that knows return_run_details (GitHub.com) or not (an older GitHub Enterprise Server). */
  setRunDetails(known: boolean): void;
  primaryRateLimit(options: { times?: number; resetInSeconds: number; status?: 403 | 429 }): void;
  secondaryRateLimit(options: { times?: number; retryAfterSeconds: number; status?: 403 | 429 }): void;
  failNext(options: { status: number; message: string; method?: string }): void;
  hang(options?: { method?: string }): void;
  reset(): void;
  close(): Promise<void>;
}

function message(status: number, text: string, headers?: Record<string, string>): Answer {
  return { status, body: { message: text, documentation_url: DOCS, status: String(status) }, ...(headers ? { headers } : {}) };
}
const invalid = (text: string) => message(422, text);

export async function startFakeGitHubActions(options: FakeGitHubActionsOptions): Promise<FakeGitHubActions> {
  const token = "github_pat_11FAKEACTIONS0000000000_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
  const tokens = options.tokens ?? { [token]: { repositories: "*", actions: "write" } };
  const runs: FakeRun[] = [];
  let nextRunId = 7_000_000_001;
  let primary: { times: number; resetInSeconds: number; status: number } | undefined;
  let secondary: { times: number; retryAfterSeconds: number; status: number } | undefined;
  let failures: Array<{ status: number; message: string; method?: string }> = [];
  let hanging: { method?: string } | undefined;
  let runDetails = options.runDetails ?? true;

  const workflowJson = (repository: string, workflow: FakeWorkflow) => ({
    id: workflow.id,
    node_id: `W_fake${workflow.id}`,
    name: workflow.name,
    path: workflow.path,
    state: workflow.state ?? "active",
    created_at: "2026-01-10T10:00:00Z",
    updated_at: "2026-01-10T10:00:00Z",
    url: `${fake.url}/repos/${repository}/actions/workflows/${workflow.id}`,
    html_url: `${fake.url}/${repository}/blob/main/${workflow.path}`,
    badge_url: `${fake.url}/${repository}/workflows/${encodeURIComponent(workflow.name)}/badge.svg`,
  });
  const runJson = (run: FakeRun) => ({
    id: run.id,
    run_number: run.runNumber,
    name: "rollback",
    event: run.event,
    status: "queued",
    conclusion: null,
    head_branch: run.headBranch,
    workflow_id: run.workflowId,
    created_at: run.createdAt,
    url: `${fake.url}/repos/${run.repository}/actions/runs/${run.id}`,
    html_url: run.htmlUrl,
  });

  function dispatch(repository: string, refs: string[], workflow: FakeWorkflow, json: unknown, runDetails: boolean): Answer {
    if (!isRecord(json)) return message(400, "Problems parsing JSON");
    const permitted = new Set(["ref", "inputs", ...(runDetails ? ["return_run_details"] : [])]);
    const extra = Object.keys(json).find((key) => !permitted.has(key));
    if (extra) return invalid(`Invalid request.\n\n"${extra}" is not a permitted key.`);
    if (json.ref === undefined) return invalid(`Invalid request.\n\n"ref" wasn't supplied.`);
    if (typeof json.ref !== "string") return invalid(`Invalid request.\n\nFor 'properties/ref', ${JSON.stringify(json.ref)} is not a string.`);
    if (json.return_run_details !== undefined && typeof json.return_run_details !== "boolean") return invalid(`Invalid request.\n\nFor 'properties/return_run_details', ${JSON.stringify(json.return_run_details)} is not a boolean.`);
    const ref = json.ref.replace(/^refs\/(heads|tags)\//, "");
    if (!refs.includes(ref)) return invalid(`No ref found for: ${json.ref}`);
    if ((workflow.state ?? "active") !== "active") return invalid("Cannot trigger a 'workflow_dispatch' on a disabled workflow");
    if (workflow.dispatch === false) return invalid("Workflow does not have 'workflow_dispatch' trigger");
    if (json.inputs !== undefined && !isRecord(json.inputs)) return invalid(`Invalid request.\n\nFor 'properties/inputs', ${JSON.stringify(json.inputs)} is not an object.`);
    const inputs = json.inputs ?? {};
    if (Object.keys(inputs).length > 25) return invalid("you may only define up to 25 `inputs` for a `workflow_dispatch` event");
    for (const [name, value] of Object.entries(inputs)) {
      if (typeof value !== "string") return invalid(`Invalid request.\n\nFor 'properties/${name}', ${JSON.stringify(value)} is not a string.`);
    }
    const declared = workflow.inputs ?? {};
    const unexpected = Object.keys(inputs).filter((name) => !(name in declared));
    if (unexpected.length > 0) return invalid(`Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
    for (const [name, input] of Object.entries(declared)) {
      const value = inputs[name] as string | undefined;
      if (input.required && value === undefined && input.default === undefined) return invalid(`Required input '${name}' not provided`);
      if (value !== undefined && input.type === "choice" && !(input.options ?? []).includes(value)) return invalid(`Provided value '${value}' for input '${name}' not in the list of allowed values`);
      if (value !== undefined && input.type === "boolean" && value !== "true" && value !== "false") return invalid(`Provided value '${value}' for input '${name}' is not a boolean`);
    }
    const id = nextRunId++;
    const run: FakeRun = {
      id,
      runNumber: runs.filter((r) => r.repository === repository).length + 1,
      repository,
      workflowId: workflow.id,
      event: "workflow_dispatch",
      headBranch: ref,
      inputs: inputs as Record<string, string>,
      createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      htmlUrl: `${fake.url}/${repository}/actions/runs/${id}`,
    };
    runs.push(run);
    if (json.return_run_details === true) return { status: 200, body: { workflow_run_id: id, run_url: `${fake.url}/repos/${repository}/actions/runs/${id}`, html_url: run.htmlUrl } };
    return { status: 204, body: "" };
  }

  function listRuns(repository: string, workflow: FakeWorkflow, query: URLSearchParams): Answer {
    const perPage = Number(query.get("per_page") ?? "30");
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) return invalid("Invalid request.\n\nper_page must be between 1 and 100.");
    const created = query.get("created");
    let since = -Infinity;
    if (created !== null) {
      const m = /^>=?(\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?)$/.exec(created);
      if (!m || Number.isNaN(Date.parse(m[1] ?? ""))) return invalid(`Invalid request.\n\nInvalid value for 'created': ${JSON.stringify(created)} (use >=YYYY-MM-DDTHH:MM:SSZ)`);
      since = Date.parse(m[1] ?? "");
    }
    const event = query.get("event");
    const branch = query.get("branch");
    const listed = runs
      .filter((run) => run.repository === repository && run.workflowId === workflow.id && (!event || run.event === event) && (!branch || run.headBranch === branch) && Date.parse(run.createdAt) >= since)
      .sort((a, b) => b.id - a.id)
      .slice(0, perPage);
    return { status: 200, body: { total_count: listed.length, workflow_runs: listed.map(runJson) } };
  }

  const fake = await startFake(
    (request) => {
      if (hanging && (!hanging.method || hanging.method === request.method)) return new Promise<Answer>(() => undefined);
      const failure = failures.find((f) => !f.method || f.method === request.method);
      if (failure) {
        failures = failures.filter((f) => f !== failure);
        return message(failure.status, failure.message);
      }
      const headers = request.headers;
      if (!headers["user-agent"]) return { status: 403, body: "Request forbidden by administrative rules. Please make sure your request has a User-Agent header." };
      const bearer = /^(?:Bearer|token) (.+)$/.exec(headers.authorization ?? "")?.[1];
      const identity = bearer === undefined ? undefined : tokens[bearer];
      if (!identity) return message(401, "Bad credentials");
      if (!(headers.accept ?? "").split(",").some((type) => type.trim() === "application/vnd.github+json")) return message(415, "Unsupported 'Accept' header: send Accept: application/vnd.github+json");
      const version = headers["x-github-api-version"];
      if (typeof version === "string" && !API_VERSIONS.includes(version)) return message(400, `Unsupported 'X-GitHub-Api-Version' header: ${version}. Supported versions are: ${API_VERSIONS.join(", ")}`);
      if (primary && primary.times > 0) {
        primary.times -= 1;
        return message(primary.status, "API rate limit exceeded for user ID 1.", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.ceil(Date.now() / 1_000) + primary.resetInSeconds) });
      }
      if (secondary && secondary.times > 0) {
        secondary.times -= 1;
        return message(secondary.status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", { "retry-after": String(secondary.retryAfterSeconds) });
      }

      const route = /^\/repos\/([^/]+)\/([^/]+)\/actions\/workflows\/([^/]+)(\/dispatches|\/runs)?$/.exec(request.path);
      if (!route) return message(404, "Not Found");
      const repository = `${decodeURIComponent(route[1] ?? "")}/${decodeURIComponent(route[2] ?? "")}`;
      const repo = options.repositories[repository];
      if (!repo || (identity.repositories !== "*" && !identity.repositories.includes(repository))) return message(404, "Not Found");
      const id = decodeURIComponent(route[3] ?? "");
      const workflow = repo.workflows.find((w) => String(w.id) === id || w.path.split("/").pop() === id);
      if (!workflow) return message(404, "Not Found");
      const tail = route[4];
      if (tail === "/dispatches") {
        if (request.method !== "POST") return message(404, "Not Found");
        if (identity.actions !== "write") return message(403, "Resource not accessible by personal access token");
        if (!isJson(headers)) return message(415, "Content-Type must be application/json");
        return dispatch(repository, repo.refs ?? ["main"], workflow, request.json, runDetails);
      }
      if (request.method !== "GET") return message(404, "Not Found");
      return tail === "/runs" ? listRuns(repository, workflow, request.query) : { status: 200, body: workflowJson(repository, workflow) };
    },
    { tls: options.tls },
  );

  return {
    url: fake.url,
    token,
    requests: fake.requests,
    runs: (repository) => runs.filter((run) => repository === undefined || run.repository === repository),
    setRunDetails(known) {
      runDetails = known;
    },
    primaryRateLimit({ times = 1, resetInSeconds, status = 403 }) {
      primary = { times, resetInSeconds, status };
    },
    secondaryRateLimit({ times = 1, retryAfterSeconds, status = 403 }) {
      secondary = { times, retryAfterSeconds, status };
    },
    failNext({ status, message: text, method }) {
      failures.push({ status, message: text, method });
    },
    hang(match = {}) {
      hanging = match;
    },
    reset() {
      runs.length = 0;
      failures = [];
      hanging = undefined;
      primary = undefined;
      secondary = undefined;
      runDetails = options.runDetails ?? true;
      fake.requests.length = 0;
    },
    close: () => fake.close(),
  };
}
