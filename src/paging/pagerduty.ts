import { api, event } from "@pagerduty/pdjs";
import type { PagerDutyConfig } from "../config/env.ts";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError } from "../lib/errors.ts";
import { createVendorClient, excerpt, record, type OutboundResponse, type Transport, type VendorClientOptions } from "../lib/outbound.ts";
import type { OnCallResponder, PageEvent, Pager, PagerDutyUser, UserPage } from "./ports.ts";

/**
 * PagerDuty through its own SDK, @pagerduty/pdjs: the Events API v2 (pages)
 * and the REST API (on-call, users, incidents). pdjs builds and sends the
 * requests; the shared outbound client (src/lib/outbound.ts) is its
 * transport's policy: one deadline per call, retries with backoff on 5xx and
 * network errors, Retry-After honoured, 429 raised as RateLimitedError so the
 * durable queue postpones the job instead of holding it in memory.
 *
 * What pdjs lacks, and how it is covered: its `requestTimeout` aborts
 * nothing (our deadline races every attempt and aborts its signal); it
 * retries a 429 by itself, three times, after `retryTimeout` (20 s by
 * default, 1 s here, so that our deadline is not spent waiting and the queue
 * gets the 429), and its `requestTimeout` timer outlives the call (0 here); it reaches a server only over https (`https://${server}/…`),
 * which is why PAGERDUTY_API_URL and PAGERDUTY_EVENTS_URL must be https (a
 * private CA is trusted through NODE_EXTRA_CA_CERTS, as everywhere in Node).
 */

const PDJS_429_RETRY_MS = 1_000;

interface PdjsAnswer {
  status: number;
  headers: Headers;
  data?: unknown;
}

function isAnswer(value: unknown): value is PdjsAnswer {
  return value !== null && typeof value === "object" && typeof (value as { status?: unknown }).status === "number" && (value as { headers?: unknown }).headers !== undefined;
}

/** A pdjs answer (or the response it rejects with when the body is not JSON) as the outbound client's raw answer. */
function answerOf(value: PdjsAnswer): { status: number; headers: Headers; text: string } {
  const headers = new Headers();
  const source = value.headers as unknown as { forEach?: (fn: (v: string, k: string) => void) => void };
  source.forEach?.((v, k) => headers.set(k, v));
  return { status: value.status, headers, text: value.data === undefined ? "" : JSON.stringify(value.data) };
}

/** Events API calls go through pdjs's `event`, REST calls through `api`; both get the attempt's signal. */
function pdjsTransport(eventsUrl: string, token: string | undefined): Transport {
  const events = new URL(eventsUrl);
  const eventsServer = `${events.host}${events.pathname.replace(/\/+$/, "")}`;
  return async ({ url, method, headers, body, signal }) => {
    // requestTimeout 0: pdjs's own timer aborts nothing and would outlive the call.
    // pdjs writes Accept, Content-Type and Authorization itself; the rest (PagerDuty's `From`) is passed on.
    const own = Object.fromEntries([...headers.entries()].filter(([name]) => !["accept", "content-type", "authorization"].includes(name)));
    const common = { signal, retryTimeout: PDJS_429_RETRY_MS, requestTimeout: 0, headers: own };
    try {
      const answer: unknown = url.startsWith(`${events.origin}${events.pathname.replace(/\/+$/, "")}/v2/enqueue`)
        ? await event({ ...common, server: eventsServer, data: JSON.parse(body ?? "{}") as Parameters<typeof event>[0]["data"] })
        : // The REST key goes to the REST API only (pdjs writes it as `Token token=…`), never to the Events API.
          await api({ ...common, url, method, token: token ?? "", ...(body !== undefined ? { data: JSON.parse(body) as object } : {}) });
      if (!isAnswer(answer)) throw new Error("pdjs returned no response");
      return answerOf(answer);
    } catch (error) {
      // pdjs rejects with the response itself when the body is not JSON (an HTML 502 page).
      if (isAnswer(error)) return answerOf(error);
      throw error;
    }
  };
}

/** PagerDuty's REST error: `{ error: { message, code, errors: [...] } }`; the Events API's: `{ status, message, errors }`. */
function problemOf(response: OutboundResponse): string {
  const body = record(response.json);
  const error = record(body.error);
  const details = [error.errors, body.errors].flatMap((list) => (Array.isArray(list) ? list.filter((item): item is string => typeof item === "string") : []));
  const message = typeof error.message === "string" ? error.message : typeof body.message === "string" ? body.message : excerpt(response.text, 200);
  return [message, ...details].filter((part) => part !== "").join(": ") || `HTTP ${response.status}`;
}

function failed(operation: string, response: OutboundResponse): Error {
  const problem = problemOf(response);
  if (response.status === 429) return new RateLimitedError(`PagerDuty rate-limited ${operation}`, 30_000, "pagerduty");
  const remote = response.status === 401 ? "unauthorized" : response.status === 403 ? "forbidden" : response.status === 404 ? "not_found" : response.status === 400 ? "invalid" : `http_${response.status}`;
  const message = `PagerDuty refused ${operation} (${response.status}): ${problem}`;
  // 5xx left after the client's retries: transient, the job retries later.
  if (response.status >= 500 || response.status === 408) return new TransientOutboundError("outbound_unavailable", message, { vendor: "pagerduty" });
  return new PermanentOutboundError("pagerduty_api_error", remote, message, { vendor: "pagerduty" });
}

/** PagerDuty may quote the routing key in its answer: never repeat it (messages reach Slack, the timeline and logs). */
function withoutKey(error: unknown, routingKey: string): unknown {
  if (!(error instanceof Error) || !error.message.includes(routingKey)) return error;
  const message = error.message.split(routingKey).join("[routing key]");
  if (error instanceof PermanentOutboundError) return new PermanentOutboundError(error.code, error.remoteCode, message, { vendor: "pagerduty" });
  if (error instanceof TransientOutboundError) return new TransientOutboundError(error.code, message, { vendor: "pagerduty" });
  return new Error(message);
}

export interface PagerDutyClientOptions extends Pick<PagerDutyConfig, "token" | "apiUrl" | "eventsUrl" | "timeoutMs"> {
  /** Overrides for the outbound policy (tests of the client; the app uses the defaults). */
  outbound?: Omit<VendorClientOptions, "timeoutMs" | "transport">;
}

export function createPagerDuty(options: PagerDutyClientOptions): Pager {
  const client = createVendorClient("pagerduty", { ...options.outbound, timeoutMs: options.timeoutMs, transport: pdjsTransport(options.eventsUrl, options.token) }, {
    accept: "application/vnd.pagerduty+json;version=2",
  });
  const rest = (path: string) => `${options.apiUrl}/${path}`;

  function requireToken(what: string): void {
    if (!options.token) throw new PermanentOutboundError("config_invalid", "no_token", `PAGERDUTY_TOKEN is not set: Firebreak cannot ${what}`, { vendor: "pagerduty" });
  }

  async function getJson(operation: string, url: string): Promise<Record<string, unknown>> {
    const response = await client.send({ operation, method: "GET", url });
    if (response.status !== 200) throw failed(operation, response);
    return record(response.json);
  }

  function userOf(value: unknown): PagerDutyUser | undefined {
    const user = record(value);
    if (typeof user.id !== "string" || typeof user.email !== "string") return undefined;
    return { id: user.id, email: user.email, name: typeof user.name === "string" ? user.name : user.email, ...(typeof user.html_url === "string" ? { url: user.html_url } : {}) };
  }

  return {
    async sendEvent(page: PageEvent) {
      const body = {
        routing_key: page.routingKey,
        event_action: page.action,
        dedup_key: page.dedupKey,
        ...(page.action === "trigger"
          ? {
              payload: {
                summary: page.summary.slice(0, 1024),
                source: page.source,
                severity: page.severity,
                component: page.component,
                group: "firebreak",
                class: "incident",
                custom_details: page.details,
              },
              links: page.links,
              client: "Firebreak",
              ...(page.links[0] ? { client_url: page.links[0].href } : {}),
            }
          : {}),
      };
      const operation = `${page.action} event`;
      // The dedup key makes a repeated event harmless: the client may send it again.
      let response: OutboundResponse;
      try {
        response = await client.send({ operation, method: "POST", url: `${options.eventsUrl}/v2/enqueue`, body, retryable: true });
      } catch (error) {
        throw withoutKey(error, page.routingKey);
      }
      if (response.status !== 202 && response.status !== 200) throw withoutKey(failed(operation, response), page.routingKey);
    },

    async findOnCall(escalationPolicyId: string): Promise<OnCallResponder | undefined> {
      requireToken("look up who is on call");
      const query = new URLSearchParams({ "escalation_policy_ids[]": escalationPolicyId, earliest: "true", "include[]": "users" });
      const body = await getJson("on-call lookup", rest(`oncalls?${query.toString()}`));
      const oncalls = Array.isArray(body.oncalls) ? body.oncalls.map(record) : [];
      const first = oncalls.find((entry) => entry.escalation_level === 1);
      if (!first) return undefined;
      const user = record(first.user);
      if (typeof user.id !== "string") return undefined;
      const policy = record(first.escalation_policy);
      return {
        userId: user.id,
        name: typeof user.summary === "string" ? user.summary : typeof user.name === "string" ? user.name : user.id,
        // With include[]=users the email is already there; otherwise GET /users/{id} says.
        email: typeof user.email === "string" ? user.email : undefined,
        policyName: typeof policy.summary === "string" ? policy.summary : escalationPolicyId,
        until: typeof first.end === "string" ? new Date(first.end) : undefined,
      };
    },

    async getUser(id: string): Promise<PagerDutyUser> {
      requireToken("read a PagerDuty user");
      const body = await getJson("user lookup", rest(`users/${encodeURIComponent(id)}`));
      const user = userOf(body.user);
      if (!user) throw new PermanentOutboundError("pagerduty_api_error", "invalid_answer", `PagerDuty's answer for user ${id} has no email`, { vendor: "pagerduty" });
      return user;
    },

    async findUserByEmail(email: string): Promise<PagerDutyUser | undefined> {
      requireToken("find a PagerDuty user");
      const body = await getJson("user search", rest(`users?${new URLSearchParams({ query: email }).toString()}`));
      const users = Array.isArray(body.users) ? body.users.map(userOf).filter((user): user is PagerDutyUser => user !== undefined) : [];
      return users.find((user) => user.email.toLowerCase() === email.toLowerCase());
    },

    async pageUser(page: UserPage): Promise<{ incidentId: string; url: string | undefined }> {
      requireToken("page a person");
      const operation = "page a person";
      const body = {
        incident: {
          type: "incident",
          title: page.title.slice(0, 1024),
          service: { id: page.serviceId, type: "service_reference" },
          assignments: [{ assignee: { id: page.userId, type: "user_reference" } }],
          incident_key: page.dedupKey,
          urgency: page.urgency,
          body: { type: "incident_body", details: page.details },
        },
      };
      // incident_key makes a repeated request answer 400 "Open incident with matching dedup key already exists", never a second page.
      const response = await client.send({ operation, method: "POST", url: rest("incidents"), body, headers: { from: page.from }, retryable: true });
      if (response.status === 400 && /matching dedup key already exists/i.test(response.text)) {
        const match = /already exists[^"]*?(P[A-Z0-9]{5,13})/.exec(response.text);
        return { incidentId: match?.[1] ?? "", url: undefined };
      }
      if (response.status !== 201 && response.status !== 200) throw failed(operation, response);
      const incident = record(record(response.json).incident);
      return { incidentId: typeof incident.id === "string" ? incident.id : "", url: typeof incident.html_url === "string" ? incident.html_url : undefined };
    },
  };
}
