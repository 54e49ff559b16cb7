/**
 * PagerDuty v3 webhooks ("webhook subscriptions"), as PagerDuty documents them (developer docs:
 * Webhooks Overview, Verifying Signatures, Behavior; go-pagerduty's webhookv3 package):
 *
 * - One event per POST, JSON: `{ "event": { id, event_type, resource_type, occurred_at, agent, client, data } }`.
 *   For incident.* event types `data` is the incident: `{ id, type: "incident", self, html_url,
 *   number, status, incident_key, created_at, title, service, assignees, escalation_policy, teams,
 *   priority, urgency, conference_bridge, resolve_reason }`.
 * - Headers: `Content-Type: application/json`, `User-Agent: PagerDuty-Webhook/V3.0`,
 *   `X-Webhook-Id` (unique per webhook, repeated on each retry of it), `X-Webhook-Subscription`
 *   (the subscription's id), `X-PagerDuty-Signature`.
 * - Signature: `v1=` + hex(HMAC-SHA256(secret, raw body)); one per active secret, comma-separated
 *   (several during a secret rotation). A receiver keeps the `v1=` entries and accepts the request
 *   if any of them matches, comparing in constant time, on the unaltered raw body (UTF-8).
 * - PagerDuty expects a 2xx within 5 seconds; it retries on timeouts, 5xx and 429 and drops the
 *   webhook on other 4xx.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { AccountState, FakeIncident, FakeUser } from "./state.ts";

export const WEBHOOK_USER_AGENT = "PagerDuty-Webhook/V3.0";

export type IncidentWebhookEventType =
  | "incident.triggered"
  | "incident.acknowledged"
  | "incident.unacknowledged"
  | "incident.escalated"
  | "incident.reassigned"
  | "incident.resolved"
  | "incident.reopened";

export const INCIDENT_WEBHOOK_EVENT_TYPES: readonly IncidentWebhookEventType[] = [
  "incident.triggered",
  "incident.acknowledged",
  "incident.unacknowledged",
  "incident.escalated",
  "incident.reassigned",
  "incident.resolved",
  "incident.reopened",
];

/**
 * Deliveries a real receiver must refuse (or, for "old-format", must not mistake for a v3 event):
 * - "bad-signature": a well-formed `v1=` signature made with another secret.
 * - "no-signature": no X-PagerDuty-Signature header.
 * - "tampered": signed with the right secret, then the body changed (a replayed signature).
 * - "unknown-version": the right HMAC under a version other than v1 (`v0=…`): only v1 counts.
 * - "unprefixed": the right HMAC without the `v1=` prefix.
 * - "old-format": a V2 webhook as PagerDuty's retired webhook extensions sent them
 *   (`{ messages: [{ event: "incident.acknowledge", incident, … }] }`, User-Agent
 *   PagerDuty-Webhook/V2.0, no X-Webhook-Subscription), signed the v1 way with the right secret,
 *   so that only its shape betrays it.
 */
export type WebhookForgery = "bad-signature" | "no-signature" | "tampered" | "unknown-version" | "unprefixed" | "old-format";

export interface WebhookEventSpec {
  event_type: IncidentWebhookEventType;
  /** The incident: the fake's incident object, its id, its dedup key (incident key) or its number. */
  incident: FakeIncident | string | number;
  /** Who did it: a user (object or id), or null (PagerDuty itself, e.g. an automatic escalation). Default null. */
  agent?: FakeUser | string | null;
  /** New assignees (user ids) for incident.reassigned (required) and incident.escalated (default: the next level's on-call users). */
  assignees?: string[];
  /** Default: now. */
  occurredAt?: Date;
  /** `event.client`; default null. */
  client?: { name: string } | null;
}

export interface WebhookSendOptions {
  /** The subscription's signing secret; several sign during a rotation (one `v1=` each, in this order). */
  secret: string | readonly string[];
  forge?: WebhookForgery;
  /** Default: "PSUBSCR1" style id made by the fake (the same for every webhook of one fake). */
  subscriptionId?: string;
  /** Reuse an X-Webhook-Id to model a retry of the same webhook. */
  webhookId?: string;
  /**
   * Apply the change the event describes to the fake's incident first, as PagerDuty would have
   * (default true; never for a forged delivery, which PagerDuty did not send).
   */
  applyChange?: boolean;
  /** PagerDuty waits 5 s for the answer. */
  timeoutMs?: number;
  /** Extra headers (webhook subscriptions may define custom headers). */
  headers?: Record<string, string>;
}

export interface WebhookDelivery {
  readonly url: string;
  readonly webhookId: string;
  readonly subscriptionId: string;
  readonly eventId: string;
  readonly eventType: IncidentWebhookEventType;
  readonly forge?: WebhookForgery;
  readonly headers: Record<string, string>;
  readonly rawBody: string;
  readonly payload: unknown;
  readonly sentAt: number;
  /** The receiver's answer (status 0 if it did not answer within the timeout). */
  status: number;
  responseBody: string;
}

export interface WebhookResult {
  status: number;
  ok: boolean;
  /** The receiver's body as text, and as JSON when it parses. */
  body: string;
  json: unknown;
  headers: Record<string, string>;
  delivery: WebhookDelivery;
}

/** `v1=<hex>` for each secret, comma-separated: the X-PagerDuty-Signature value for `rawBody`. */
export function signPagerDutyWebhook(rawBody: string | Buffer, secret: string | readonly string[]): string {
  const secrets = typeof secret === "string" ? [secret] : secret;
  return secrets.map((one) => `v1=${createHmac("sha256", one).update(rawBody).digest("hex")}`).join(",");
}

/**
 * PagerDuty's documented verification: split the header on ",", keep the `v1=` entries, and accept
 * if one equals hex(HMAC-SHA256(secret, raw body)), compared in constant time. The fake's tests use
 * it as the reference receiver; the app has its own.
 */
export function verifyPagerDutySignature(rawBody: string | Buffer, header: string | undefined, secret: string): boolean {
  if (header === undefined || header === "") return false;
  const expected = createHmac("sha256", secret).update(rawBody).digest();
  return header
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("v1="))
    .some((part) => {
      const hex = part.slice(3);
      if (!/^[0-9a-f]+$/i.test(hex) || hex.length !== expected.length * 2) return false;
      return timingSafeEqual(Buffer.from(hex, "hex"), expected);
    });
}

function resolveUser(state: AccountState, agent: FakeUser | string | null | undefined): FakeUser | null {
  if (agent === undefined || agent === null) return null;
  const id = typeof agent === "string" ? agent : agent.id;
  const user = state.users.get(id);
  if (!user) throw new Error(`fake PagerDuty: sendWebhook: no user ${id}`);
  return user;
}

/** Changes the incident as the event says happened (throws when the event cannot happen to it). */
export function applyWebhookChange(state: AccountState, incident: FakeIncident, spec: WebhookEventSpec, at: number): void {
  const agent = resolveUser(state, spec.agent);
  const by = agent?.id ?? null;
  const fail = (why: string): never => {
    throw new Error(`fake PagerDuty: sendWebhook ${spec.event_type} for incident #${incident.number} (${incident.status}): ${why} (pass applyChange: false to send it anyway)`);
  };
  const log = (type: FakeIncident["log"][number]["type"]): void => {
    incident.log.push({ at, type, via: "webhook_scenario", ...(by ? { by } : {}) });
    incident.updatedAt = at;
  };
  const status = (next: FakeIncident["status"]): void => {
    incident.status = next;
    incident.lastStatusChangeAt = at;
    incident.lastStatusChangeBy = by;
  };
  switch (spec.event_type) {
    case "incident.triggered":
      if (incident.status !== "triggered") fail("only a triggered incident announces incident.triggered");
      return;
    case "incident.acknowledged":
      if (incident.status === "resolved") fail("a resolved incident cannot be acknowledged");
      status("acknowledged");
      log("acknowledge");
      return;
    case "incident.unacknowledged":
      if (incident.status !== "acknowledged") fail("only an acknowledged incident can be unacknowledged");
      status("triggered");
      log("unacknowledge");
      return;
    case "incident.resolved":
      if (incident.status === "resolved") fail("the incident is already resolved");
      status("resolved");
      incident.resolvedAt = at;
      log("resolve");
      return;
    case "incident.reopened":
      if (incident.status !== "resolved") fail("only a resolved incident can be reopened");
      status("triggered");
      incident.resolvedAt = null;
      log("reopen");
      return;
    case "incident.escalated": {
      if (incident.status === "resolved") fail("a resolved incident does not escalate");
      const level = incident.escalationLevel + 1;
      const next = spec.assignees ?? state.onCallUsers(incident.escalationPolicyId, level, at);
      for (const id of next) if (!state.users.has(id)) fail(`no user ${id}`);
      incident.escalationLevel = level;
      if (next.length > 0) incident.assigneeIds = [...next];
      if (incident.status === "acknowledged") status("triggered");
      log("escalate");
      return;
    }
    case "incident.reassigned": {
      if (incident.status === "resolved") fail("a resolved incident cannot be reassigned");
      if (!spec.assignees || spec.assignees.length === 0) fail("incident.reassigned needs `assignees`");
      for (const id of spec.assignees ?? []) if (!state.users.has(id)) fail(`no user ${id}`);
      incident.assigneeIds = [...(spec.assignees ?? [])];
      if (incident.status === "acknowledged") status("triggered");
      log("reassign");
      return;
    }
  }
}

function webhookReference(ref: Record<string, unknown>): Record<string, unknown> {
  // v3 webhooks render references as { html_url, id, self, summary, type }.
  return { html_url: ref["html_url"], id: ref["id"], self: ref["self"], summary: ref["summary"], type: ref["type"] };
}

/** `event.data` for incident.* event types. */
export function incidentWebhookData(state: AccountState, incident: FakeIncident): Record<string, unknown> {
  const service = state.services.get(incident.serviceId);
  const policy = state.policies.get(incident.escalationPolicyId);
  return {
    id: incident.id,
    type: "incident",
    self: `${state.apiUrl()}/incidents/${incident.id}`,
    html_url: `${state.webUrl}/incidents/${incident.id}`,
    number: incident.number,
    status: incident.status,
    incident_key: incident.incidentKey,
    created_at: new Date(incident.createdAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
    title: incident.title,
    service: service ? webhookReference(state.serviceReference(service)) : { id: incident.serviceId, type: "service_reference" },
    assignees:
      incident.status === "resolved"
        ? []
        : incident.assigneeIds.flatMap((id) => {
            const user = state.users.get(id);
            return user ? [webhookReference(state.userReference(user))] : [];
          }),
    escalation_policy: policy ? webhookReference(state.policyReference(policy)) : { id: incident.escalationPolicyId, type: "escalation_policy_reference" },
    teams: [],
    priority: null,
    urgency: incident.urgency,
    conference_bridge: null,
    resolve_reason: null,
  };
}

const V2_EVENT_NAMES: Record<IncidentWebhookEventType, string> = {
  "incident.triggered": "incident.trigger",
  "incident.acknowledged": "incident.acknowledge",
  "incident.unacknowledged": "incident.unacknowledge",
  "incident.escalated": "incident.escalate",
  "incident.reassigned": "incident.assign",
  "incident.resolved": "incident.resolve",
  "incident.reopened": "incident.trigger",
};

/** A ULID-like event id (26 characters of Crockford base32), as v3 event ids look. */
function eventId(): string {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const bytes = Buffer.from(randomUUID().replace(/-/g, ""), "hex");
  let out = Date.now().toString(32).toUpperCase().padStart(10, "0").slice(-10);
  for (let i = 0; out.length < 26; i += 1) out += alphabet[(bytes[i % bytes.length] ?? 0) % 32];
  return out;
}

export interface BuiltWebhook {
  eventId: string;
  payload: unknown;
  rawBody: string;
  headers: Record<string, string>;
}

export function buildWebhook(
  state: AccountState,
  incident: FakeIncident,
  spec: WebhookEventSpec,
  options: WebhookSendOptions & { subscriptionId: string; webhookId: string; occurredAt: number; url: string },
): BuiltWebhook {
  const agent = resolveUser(state, spec.agent);
  const id = eventId();
  const occurredAt = new Date(options.occurredAt).toISOString();
  let payload: unknown;
  let userAgent = WEBHOOK_USER_AGENT;
  if (options.forge === "old-format") {
    userAgent = "PagerDuty-Webhook/V2.0";
    const incidentV2 = state.incidentObject(incident);
    payload = {
      messages: [
        {
          id: randomUUID(),
          event: V2_EVENT_NAMES[spec.event_type],
          created_on: occurredAt,
          incident: { ...incidentV2, incident_number: incident.number },
          webhook: { endpoint_url: options.url, name: "Generic V2 Webhook", type: "webhook_reference" },
          log_entries: [],
        },
      ],
    };
  } else {
    payload = {
      event: {
        id,
        event_type: spec.event_type,
        resource_type: "incident",
        occurred_at: occurredAt,
        agent: agent ? webhookReference(state.userReference(agent)) : null,
        client: spec.client ?? null,
        data: incidentWebhookData(state, incident),
      },
    };
  }
  const signedBody = JSON.stringify(payload);
  let rawBody = signedBody;
  const secrets = typeof options.secret === "string" ? [options.secret] : [...options.secret];
  if (secrets.length === 0) throw new Error("fake PagerDuty: sendWebhook needs a secret");
  let signature: string | undefined = signPagerDutyWebhook(signedBody, secrets);
  switch (options.forge) {
    case "bad-signature":
      signature = signPagerDutyWebhook(signedBody, `not-${secrets[0] ?? ""}-${randomUUID()}`);
      break;
    case "no-signature":
      signature = undefined;
      break;
    case "tampered":
      // The signature of the original body, on a body that says something else.
      rawBody = signedBody.replace(`"status":"${incident.status}"`, `"status":"${incident.status === "resolved" ? "triggered" : "resolved"}"`);
      if (rawBody === signedBody) rawBody = signedBody.replace(/}$/, ',"tampered":true}');
      break;
    case "unknown-version":
      signature = signature.replace(/v1=/g, "v0=");
      break;
    case "unprefixed":
      signature = signature.replace(/v1=/g, "");
      break;
    default:
      break;
  }
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json",
    "user-agent": userAgent,
    "x-webhook-id": options.webhookId,
    ...(options.forge === "old-format" ? {} : { "x-webhook-subscription": options.subscriptionId }),
    ...(signature !== undefined ? { "x-pagerduty-signature": signature } : {}),
    ...options.headers,
  };
  return { eventId: id, payload: rawBody === signedBody ? payload : (JSON.parse(rawBody) as unknown), rawBody, headers };
}

/** POSTs the webhook and reads the receiver's answer (status 0 when it does not answer in time). */
export async function deliverWebhook(url: string, built: BuiltWebhook, timeoutMs: number): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  try {
    const response = await fetch(url, { method: "POST", headers: built.headers, body: built.rawBody, signal: AbortSignal.timeout(timeoutMs) });
    const body = await response.text();
    return { status: response.status, body, headers: Object.fromEntries(response.headers.entries()) };
  } catch (error) {
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return { status: 0, body: "", headers: {} };
    throw new Error(`fake PagerDuty: could not deliver the webhook to ${url}: ${error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ""}` : String(error)}`);
  }
}
