import type { ConfluenceExportConfig } from "../../config/env.ts";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError } from "../../lib/errors.ts";
import type { ConfluenceApi, ConfluencePage } from "./ports.ts";
import { clampDelay, createVendorClient, excerpt, record, retryAfterMs, type OutboundResponse, type VendorClientOptions } from "../../lib/outbound.ts";

/**
 * Confluence Cloud REST API v2 (https://<site>/wiki/api/v2), basic auth with
 * an Atlassian account's email and API token:
 *
 * - POST /pages {spaceId, status: "current", title, parentId?, body: {representation: "storage", value}}
 * - GET  /pages/{id}?body-format=storage -> {id, title, spaceId, version: {number}, body, _links}
 * - PUT  /pages/{id} {id, status, title, body, version: {number: current + 1, message}}
 * - GET  /pages?space-id=&title=&status=current&body-format=storage -> {results: [...]}
 *
 * Calls go through the outbound client (src/lib/outbound.ts): reads and
 * updates are retried within the timeout on 429/5xx/network errors, a create
 * is not. Statuses: 429 -> RateLimitedError (Retry-After); 401/403/404 -> a permanent
 * configuration error naming the variable to fix; a title used by another
 * page (400, or 409 on update) -> PageTitleTakenError; any other 409 on
 * update -> PageVersionConflictError; 5xx/408 -> transient.
 */

/** Another page in the space has this title (titles are unique per space). */
export class PageTitleTakenError extends PermanentOutboundError {
  constructor(title: string, detail: string) {
    super("job_payload_invalid", "title_taken", `Confluence already has a page titled "${title}" in this space (${detail})`, { vendor: "confluence" });
  }
}

/** The page changed since its version was read: read it again and retry. */
export class PageVersionConflictError extends TransientOutboundError {
  constructor(pageId: string, detail: string) {
    super("outbound_unavailable", `Confluence page ${pageId} changed while it was being updated (${detail})`, { vendor: "confluence" });
  }
}

export type ConfluenceApiOptions = ConfluenceExportConfig & VendorClientOptions;

/** The first error title of a v2 error body ({errors: [{status, code, title, detail}]}), or the raw text. */
function remoteMessage(response: OutboundResponse): string {
  const errors = record(response.json).errors;
  if (Array.isArray(errors)) {
    const first = record(errors[0]);
    const parts = [first.title, first.detail].filter((part): part is string => typeof part === "string" && part !== "");
    if (parts.length > 0) return excerpt(parts.join(": "));
  }
  const message = record(response.json).message;
  return typeof message === "string" ? excerpt(message) : excerpt(response.text) || `HTTP ${response.status}`;
}

export function createConfluenceApi(options: ConfluenceApiOptions): ConfluenceApi {
  const api = `${options.baseUrl}/wiki/api/v2`;
  const now = options.now ?? Date.now;
  const vendor = "confluence";
  const client = createVendorClient(vendor, { ...options, now }, {
    authorization: `Basic ${Buffer.from(`${options.email}:${options.apiToken}`).toString("base64")}`,
    accept: "application/json",
  });

  function fail(operation: string, response: OutboundResponse): Error {
    const status = response.status;
    const detail = remoteMessage(response);
    if (status === 429) {
      return new RateLimitedError(`Confluence rate-limited ${operation}`, clampDelay(retryAfterMs(response.headers, now()) ?? 30_000), vendor);
    }
    if (status >= 500 || status === 408) return new TransientOutboundError("outbound_unavailable", `Confluence ${operation} answered HTTP ${status}: ${detail}`, { vendor });
    if (status >= 300 && status < 400) {
      return new PermanentOutboundError("config_invalid", `http_${status}`, `Confluence ${operation} was redirected (HTTP ${status}): check CONFLUENCE_BASE_URL (your site, such as https://your-site.atlassian.net)`, { vendor });
    }
    if (status === 401) {
      return new PermanentOutboundError("config_invalid", "unauthorized", `Confluence rejected the credentials (HTTP 401) on ${operation}: check CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (an API token of that Atlassian account)`, { vendor });
    }
    if (status === 403) {
      return new PermanentOutboundError("config_invalid", "forbidden", `Confluence refused ${operation} (HTTP 403: ${detail}): the account of CONFLUENCE_EMAIL needs permission to add and edit pages in space ${options.spaceId}`, { vendor });
    }
    if (status === 404) {
      return new PermanentOutboundError(
        "config_invalid",
        "not_found",
        `Confluence ${operation} found nothing (HTTP 404: ${detail}): check CONFLUENCE_SPACE_ID (${options.spaceId})${options.parentPageId ? ` and CONFLUENCE_PARENT_PAGE_ID (${options.parentPageId})` : ""}, and that the account may see them`,
        { vendor },
      );
    }
    if (status === 413) return new PermanentOutboundError("job_payload_invalid", "too_large", `Confluence refused ${operation}: the page is too large (HTTP 413)`, { vendor });
    return new PermanentOutboundError("job_payload_invalid", `http_${status}`, `Confluence refused ${operation} (HTTP ${status}: ${detail})`, { vendor });
  }

  function toPage(value: unknown, operation: string): ConfluencePage {
    const page = record(value);
    const version = record(page.version).number;
    const links = record(page._links);
    const storage = record(record(page.body).storage).value;
    if (typeof page.id !== "string" || typeof version !== "number") {
      throw new TransientOutboundError("outbound_unavailable", `Confluence ${operation} answered without a page id and version`, { vendor });
    }
    const base = typeof links.base === "string" ? links.base : `${options.baseUrl}/wiki`;
    return {
      id: page.id,
      title: typeof page.title === "string" ? page.title : "",
      spaceId: typeof page.spaceId === "string" ? page.spaceId : options.spaceId,
      version,
      url: typeof links.webui === "string" ? `${base}${links.webui}` : null,
      body: typeof storage === "string" ? storage : null,
    };
  }

  const isTitleTaken = (response: OutboundResponse) => (response.status === 400 || response.status === 409) && /title already exists|same title/i.test(remoteMessage(response));

  return {
    async getPage(id) {
      const operation = `get page ${id}`;
      const response = await client.send({ operation, method: "GET", url: `${api}/pages/${encodeURIComponent(id)}?body-format=storage` });
      if (response.status === 404) return undefined;
      if (response.status !== 200) throw fail(operation, response);
      return toPage(response.json, operation);
    },
    async findPageByTitle(title) {
      const operation = "find page by title";
      const query = new URLSearchParams({ "space-id": options.spaceId, title, status: "current", "body-format": "storage", limit: "5" });
      const response = await client.send({ operation, method: "GET", url: `${api}/pages?${query.toString()}` });
      if (response.status !== 200) throw fail(operation, response);
      const results = record(response.json).results;
      const match = Array.isArray(results) ? results.map((result) => toPage(result, operation)).find((page) => page.title === title) : undefined;
      return match;
    },
    async createPage({ title, body }) {
      const operation = "create page";
      // Not retried inside the call: a create whose answer is lost is found by its title on the job's retry.
      const response = await client.send({
        operation,
        method: "POST",
        url: `${api}/pages`,
        body: {
          spaceId: options.spaceId,
          status: "current",
          title,
          ...(options.parentPageId ? { parentId: options.parentPageId } : {}),
          body: { representation: "storage", value: body },
        },
      });
      if (isTitleTaken(response)) throw new PageTitleTakenError(title, remoteMessage(response));
      if (response.status !== 200 && response.status !== 201) throw fail(operation, response);
      return toPage(response.json, operation);
    },
    async updatePage({ id, title, body, version, message }) {
      const operation = `update page ${id}`;
      // Retried inside the call (PUT): a repeat of a version already written answers 409, read again by the job.
      const response = await client.send({
        operation,
        method: "PUT",
        url: `${api}/pages/${encodeURIComponent(id)}`,
        body: { id, status: "current", title, body: { representation: "storage", value: body }, version: { number: version, message } },
      });
      if (isTitleTaken(response)) throw new PageTitleTakenError(title, remoteMessage(response));
      if (response.status === 409) throw new PageVersionConflictError(id, remoteMessage(response));
      if (response.status !== 200) throw fail(operation, response);
      return toPage(response.json, operation);
    },
  };
}
