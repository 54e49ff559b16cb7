/**
 * A fake GitHub REST API for issues: a real HTTP server on 127.0.0.1 that
 * checks what GitHub documents for `POST /repos/{owner}/{repo}/issues` and
 * `GET /repos/{owner}/{repo}/issues` (token, User-Agent, Accept, API version,
 * title/body/labels types), keeps the issues, and can hit the primary or a
 * secondary rate limit, or lose an answer, on demand.
 *
 *   const github = await startFakeGitHub();
 *   // GITHUB_API_URL=github.url, GITHUB_TOKEN=github.token, GITHUB_REPOSITORY=github.repository
 */
import { isJson, isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";

export const API_VERSION = "2022-11-28";
const DOCS = "https://docs.github.com/rest";

export interface FakeIssue {
  number: number;
  repository: string;
  title: string;
  body: string | null;
  labels: string[];
  state: "open" | "closed";
  createdAt: string;
  htmlUrl: string;
}

export interface FakeGitHubOptions {
  token?: string;
  /** "owner/name"; default ["acme/incident-followups"]. */
  repositories?: string[];
  /** Repositories whose issues are disabled (410). */
  issuesDisabled?: string[];
}

export interface FakeGitHub {
  /** As GITHUB_API_URL. */
  readonly url: string;
  readonly token: string;
  /** The first repository, as GITHUB_REPOSITORY. */
  readonly repository: string;
  readonly requests: readonly RecordedRequest[];
  issues(repository?: string): FakeIssue[];
  /** The next `times` requests exceed the primary limit: 403 (or 429), x-ratelimit-remaining 0, reset in `resetInSeconds`. */
  primaryRateLimit(options: { times?: number; resetInSeconds: number; status?: 403 | 429 }): void;
  /** The next `times` requests exceed a secondary limit: 403 (or 429) with retry-after. */
  secondaryRateLimit(options: { times?: number; retryAfterSeconds: number; status?: 403 | 429 }): void;
  /** The next issue is created, but the connection drops before the answer. */
  loseNextCreateAnswer(): void;
  reset(): void;
  close(): Promise<void>;
}

function message(status: number, text: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>): Answer {
  return { status, body: { message: text, documentation_url: DOCS, status: String(status), ...extra }, ...(headers ? { headers } : {}) };
}

function invalid(field: string, code: "missing_field" | "invalid"): Answer {
  return message(422, "Validation Failed", { errors: [{ resource: "Issue", field, code }] });
}

export async function startFakeGitHub(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const token = options.token ?? "ghp_fakeGitHubToken0000000000000000000000";
  const repositories = options.repositories ?? ["acme/incident-followups"];
  const disabled = new Set(options.issuesDisabled ?? []);
  const issues: FakeIssue[] = [];
  let primary: { times: number; resetInSeconds: number; status: number } | undefined;
  let secondary: { times: number; retryAfterSeconds: number; status: number } | undefined;
  let loseCreate = false;
  let remaining = 5_000;

  const limits = () => ({
    "x-ratelimit-limit": "5000",
    "x-ratelimit-remaining": String(remaining),
    "x-ratelimit-reset": String(Math.floor(Date.now() / 1_000) + 3_600),
    "x-ratelimit-used": String(5_000 - remaining),
    "x-ratelimit-resource": "core",
  });

  function issueJson(issue: FakeIssue, base: string): Record<string, unknown> {
    return {
      id: 10_000 + issue.number,
      node_id: `I_fake${issue.number}`,
      number: issue.number,
      title: issue.title,
      body: issue.body,
      labels: issue.labels.map((name, index) => ({ id: index + 1, name })),
      state: issue.state,
      url: `${base}/repos/${issue.repository}/issues/${issue.number}`,
      html_url: issue.htmlUrl,
      created_at: issue.createdAt,
      updated_at: issue.createdAt,
    };
  }

  const fake = await startFake((request) => {
    const headers = request.headers;
    // GitHub refuses requests without a User-Agent before anything else.
    if (!headers["user-agent"]) {
      return { status: 403, body: "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required)." };
    }
    const auth = headers.authorization ?? "";
    if (auth !== `Bearer ${token}` && auth !== `token ${token}`) return message(401, "Bad credentials");
    // GitHub accepts more, but documents these two: the fake insists, so the app sends them.
    if (!(headers.accept ?? "").split(",").some((type) => type.trim() === "application/vnd.github+json")) {
      return message(415, "Unsupported 'Accept' header: send Accept: application/vnd.github+json");
    }
    if (headers["x-github-api-version"] !== API_VERSION) {
      return message(400, `Unsupported 'X-GitHub-Api-Version' header (send ${API_VERSION})`);
    }
    if (primary && primary.times > 0) {
      primary.times -= 1;
      return message(primary.status, "API rate limit exceeded for user ID 1.", {}, {
        ...limits(),
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": String(Math.ceil(Date.now() / 1_000) + primary.resetInSeconds),
      });
    }
    if (secondary && secondary.times > 0) {
      secondary.times -= 1;
      return message(secondary.status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", {}, { "retry-after": String(secondary.retryAfterSeconds) });
    }
    remaining -= 1;
    const route = /^\/repos\/([^/]+)\/([^/]+)\/issues$/.exec(request.path);
    const repository = route ? `${decodeURIComponent(route[1] ?? "")}/${decodeURIComponent(route[2] ?? "")}` : "";
    if (!route || !repositories.includes(repository)) return message(404, "Not Found");
    if (disabled.has(repository)) return message(410, "Issues are disabled for this repo");

    if (request.method === "GET") {
      const state = request.query.get("state") ?? "open";
      if (!["open", "closed", "all"].includes(state)) return invalid("state", "invalid");
      const since = request.query.get("since");
      if (since !== null && Number.isNaN(Date.parse(since))) return invalid("since", "invalid");
      const perPage = Number(request.query.get("per_page") ?? "30");
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) return invalid("per_page", "invalid");
      const page = Number(request.query.get("page") ?? "1");
      if (!Number.isInteger(page) || page < 1) return invalid("page", "invalid");
      const listed = issues
        .filter((issue) => issue.repository === repository && (state === "all" || issue.state === state) && (since === null || Date.parse(issue.createdAt) >= Date.parse(since)))
        .sort((a, b) => (request.query.get("direction") === "asc" ? a.number - b.number : b.number - a.number))
        .slice((page - 1) * perPage, page * perPage);
      return { status: 200, body: listed.map((issue) => issueJson(issue, fake.url)), headers: limits() };
    }
    if (request.method !== "POST") return message(404, "Not Found");

    if (!isJson(headers)) return message(415, "Content-Type must be application/json");
    if (!isRecord(request.json)) return message(400, "Problems parsing JSON");
    const body = request.json;
    if (body.title === undefined || body.title === null || body.title === "") return invalid("title", "missing_field");
    if (typeof body.title !== "string" && typeof body.title !== "number") return invalid("title", "invalid");
    if (body.body !== undefined && body.body !== null && typeof body.body !== "string") return invalid("body", "invalid");
    const labels = body.labels;
    if (labels !== undefined && (!Array.isArray(labels) || !labels.every((label) => typeof label === "string" || (isRecord(label) && typeof label.name === "string")))) {
      return invalid("labels", "invalid");
    }
    const number = issues.filter((issue) => issue.repository === repository).length + 1;
    const issue: FakeIssue = {
      number,
      repository,
      title: String(body.title),
      body: typeof body.body === "string" ? body.body : null,
      labels: ((labels ?? []) as Array<string | { name: string }>).map((label) => (typeof label === "string" ? label : label.name)),
      state: "open",
      createdAt: new Date().toISOString(),
      htmlUrl: `https://github.example/${repository}/issues/${number}`,
    };
    issues.push(issue);
    const drop = loseCreate;
    loseCreate = false;
    return { status: 201, body: issueJson(issue, fake.url), headers: { ...limits(), location: `${fake.url}/repos/${repository}/issues/${number}` }, drop };
  });

  return {
    url: fake.url,
    token,
    repository: repositories[0] ?? "",
    requests: fake.requests,
    issues: (repository) => issues.filter((issue) => repository === undefined || issue.repository === repository),
    primaryRateLimit({ times = 1, resetInSeconds, status = 403 }) {
      primary = { times, resetInSeconds, status };
    },
    secondaryRateLimit({ times = 1, retryAfterSeconds, status = 403 }) {
      secondary = { times, retryAfterSeconds, status };
    },
    loseNextCreateAnswer() {
      loseCreate = true;
    },
    reset() {
      issues.length = 0;
      fake.requests.length = 0;
      primary = undefined;
      secondary = undefined;
      loseCreate = false;
      remaining = 5_000;
    },
    close: () => fake.close(),
  };
}
