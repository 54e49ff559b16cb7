import type { GitHubExportConfig } from "../../config/env.ts";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError } from "../../lib/errors.ts";
import type { GitHubApi, GitHubIssue } from "./ports.ts";
import { clampDelay, createVendorClient, excerpt, record, retryAfterMs, type OutboundResponse, type VendorClientOptions } from "../../lib/outbound.ts";

/**
 * GitHub REST API: POST /repos/{owner}/{repo}/issues {title, body, labels?},
 * with `Authorization: Bearer <token>`, `Accept: application/vnd.github+json`,
 * `X-GitHub-Api-Version: 2022-11-28` and a User-Agent (GitHub refuses
 * requests without one). Calls go through the outbound client
 * (src/lib/outbound.ts): the issue search is retried within the timeout on
 * 429/5xx/network errors, the create is not.
 *
 * Rate limits, as GitHub documents them: 403 or 429 with
 * `x-ratelimit-remaining: 0` waits until `x-ratelimit-reset` (epoch seconds);
 * with `retry-after`, that many seconds; any other 429, or a 403 saying
 * "secondary rate limit", at least a minute. All become RateLimitedError (the
 * job waits without using up an attempt). 401/403/404/410 are configuration
 * problems and 422 a refused issue: permanent, with a message saying what to fix.
 */
export const GITHUB_API_VERSION = "2022-11-28";
/** How many pages of 100 recently updated issues a retry searches for the issue of a lost answer. */
const MARKER_SEARCH_PAGES = 5;
export const USER_AGENT = "Firebreak/0.1 (incident management; post-mortem exporter)";
const vendor = "github";

export type GitHubApiOptions = GitHubExportConfig & VendorClientOptions;

/** GitHub's message, with the validation errors of a 422 ({resource, field, code}). */
function remoteMessage(response: OutboundResponse): string {
  const body = record(response.json);
  const message = typeof body.message === "string" ? body.message : excerpt(response.text) || `HTTP ${response.status}`;
  const errors = Array.isArray(body.errors)
    ? body.errors.map((error) => {
        const item = record(error);
        return [item.field, item.code, item.message].filter((part) => typeof part === "string").join(" ");
      })
    : [];
  return excerpt(errors.length > 0 ? `${message}: ${errors.join("; ")}` : message);
}

/** Maps a GitHub error response onto Firebreak's errors (exported for unit tests of the rules). */
export function githubError(operation: string, repository: string, response: OutboundResponse, now: number): Error {
  const { status, headers } = response;
  const detail = remoteMessage(response);
  if (status === 403 || status === 429) {
    const retryAfter = retryAfterMs(headers, now);
    if (retryAfter !== undefined) return new RateLimitedError(`GitHub rate-limited ${operation} (secondary limit)`, clampDelay(retryAfter), vendor);
    const reset = Number(headers.get("x-ratelimit-reset"));
    if (headers.get("x-ratelimit-remaining") === "0") {
      return new RateLimitedError(`GitHub rate-limited ${operation} (primary limit)`, clampDelay(Number.isFinite(reset) && reset > 0 ? reset * 1_000 - now + 1_000 : 60_000), vendor);
    }
    if (status === 429 || /rate limit/i.test(detail)) return new RateLimitedError(`GitHub rate-limited ${operation}`, 60_000, vendor);
  }
  if (status >= 500 || status === 408) return new TransientOutboundError("outbound_unavailable", `GitHub ${operation} answered HTTP ${status}: ${detail}`, { vendor });
  if (status === 401) return new PermanentOutboundError("config_invalid", "bad_credentials", `GitHub rejected GITHUB_TOKEN (HTTP 401: ${detail}): create a new token with Issues: read and write on ${repository}`, { vendor });
  if (status === 403) {
    return new PermanentOutboundError("config_invalid", "forbidden", `GitHub refused ${operation} on ${repository} (HTTP 403: ${detail}): GITHUB_TOKEN needs Issues: read and write on that repository`, { vendor });
  }
  if (status === 404) {
    return new PermanentOutboundError(
      "config_invalid",
      "not_found",
      `GitHub does not show ${repository} to GITHUB_TOKEN (HTTP 404): check GITHUB_REPOSITORY, and that the token has access to that repository`,
      { vendor },
    );
  }
  if (status === 410) return new PermanentOutboundError("config_invalid", "issues_disabled", `Issues are disabled in ${repository} (HTTP 410): enable them, or point GITHUB_REPOSITORY elsewhere`, { vendor });
  if (status === 422) return new PermanentOutboundError("job_payload_invalid", "validation_failed", `GitHub refused the issue for ${repository} (HTTP 422 ${detail})`, { vendor });
  if (status >= 300 && status < 400) return new PermanentOutboundError("config_invalid", `http_${status}`, `GitHub ${operation} was redirected (HTTP ${status}): check GITHUB_API_URL`, { vendor });
  return new PermanentOutboundError("job_payload_invalid", `http_${status}`, `GitHub refused ${operation} (HTTP ${status}: ${detail})`, { vendor });
}

function toIssue(value: unknown, operation: string): GitHubIssue {
  const issue = record(value);
  if (typeof issue.number !== "number" || typeof issue.html_url !== "string") {
    throw new TransientOutboundError("outbound_unavailable", `GitHub ${operation} answered without an issue number and html_url`, { vendor });
  }
  return { number: issue.number, url: issue.html_url };
}

export function createGitHubApi(options: GitHubApiOptions): GitHubApi {
  const repository = `${options.owner}/${options.repo}`;
  const base = `${options.apiUrl}/repos/${encodeURIComponent(options.owner)}/${encodeURIComponent(options.repo)}`;
  const now = options.now ?? Date.now;
  const client = createVendorClient(vendor, { ...options, now }, {
    authorization: `Bearer ${options.token}`,
    accept: "application/vnd.github+json",
    "x-github-api-version": GITHUB_API_VERSION,
    "user-agent": USER_AGENT,
  });
  return {
    repository,
    async createIssue({ title, body, labels }) {
      const operation = "create issue";
      // Not retried inside the call: an issue whose answer is lost is found by its marker on the job's retry.
      const response = await client.send({
        operation,
        method: "POST",
        url: `${base}/issues`,
        body: { title, body, ...(labels.length > 0 ? { labels: [...labels] } : {}) },
      });
      if (response.status !== 201) throw githubError(operation, repository, response, now());
      return toIssue(response.json, operation);
    },
    async findIssueByMarker(marker, since) {
      const operation = "list issues";
      // Newest first, updated since the follow-up was recorded: the issue of a lost answer is on the first pages.
      for (let page = 1; page <= MARKER_SEARCH_PAGES; page += 1) {
        const query = new URLSearchParams({ state: "all", sort: "created", direction: "desc", since: since.toISOString(), per_page: "100", page: String(page) });
        const response = await client.send({ operation, method: "GET", url: `${base}/issues?${query.toString()}` });
        if (response.status !== 200) throw githubError(operation, repository, response, now());
        const items: unknown[] = Array.isArray(response.json) ? (response.json as unknown[]) : [];
        const match = items.find((item) => {
          const issue = record(item);
          return issue.pull_request === undefined && typeof issue.body === "string" && issue.body.includes(marker);
        });
        if (match !== undefined) return toIssue(match, operation);
        if (items.length < 100) return undefined;
      }
      return undefined;
    },
  };
}
