/**
 * Realistic incidents for the post-mortem golden files and the benchmark,
 * built in code: fixed ids and dates, no randomness, so the rendered drafts
 * are byte-for-byte stable.
 */
import type { PostmortemEvent, PostmortemInput, PostmortemOptions } from "../../../src/postmortem/models.ts";

/** Builds events with sequential ids ("1", "2", ...). */
class EventLog {
  private next = 1;
  readonly events: PostmortemEvent[] = [];

  add(at: Date, type: string, text: string, data: Record<string, unknown>, extra: Partial<PostmortemEvent> = {}): PostmortemEvent {
    const event: PostmortemEvent = {
      id: String(this.next++),
      type,
      source: "SLACK",
      actorId: null,
      text,
      data,
      occurredAt: at,
      private: false,
      hidden: false,
      removedAt: null,
      ...extra,
    };
    this.events.push(event);
    return event;
  }
}

function clockAt(iso: string): (minutes: number, seconds?: number) => Date {
  const base = Date.parse(iso);
  return (minutes, seconds = 0) => new Date(base + minutes * 60_000 + seconds * 1000);
}

// --- a quiet SEV4 ----------------------------------------------------------------

export function quietSev4(options: Partial<PostmortemOptions> = {}): PostmortemInput {
  const t = clockAt("2026-03-03T14:00:00Z");
  const log = new EventLog();
  log.add(t(0), "incident.declared", "Declared: Elevated 404s on the docs site", { title: "Elevated 404s on the docs site", severity: "SEV4", private: false }, { actorId: "U0AMY0001" });
  log.add(t(0, 2), "channel.created", "Channel created", { channelId: "C0DOCS001", channelName: "inc-101-elevated-404s-on-the-docs-site" }, { source: "SYSTEM" });
  log.add(t(4), "incident.acknowledged", "<@U0AMY0001> acknowledged and took command", { by: "U0AMY0001" }, { actorId: "U0AMY0001" });
  log.add(t(9), "note.added", "Note: 404s come from a crawler requesting the old /v1/ paths", { text: "404s come from a crawler requesting the old /v1/ paths" }, { actorId: "U0AMY0001" });
  log.add(t(15), "update.posted", "Update: No customer impact; adding redirects", { message: "No customer impact; adding redirects for /v1/ → /docs/v1/", status: "INVESTIGATING" }, { actorId: "U0AMY0001" });
  log.add(t(21), "note.added", "Note: redirect PR merged, see <https://git.example.com/docs/pull/311|docs#311>", { text: "Redirect PR merged, see <https://git.example.com/docs/pull/311|docs#311>" }, { actorId: "U0RAJ0002" });
  log.add(t(34), "status.changed", "Status Investigating → Monitoring: redirects live", { from: "INVESTIGATING", to: "MONITORING", message: "Redirects live, 404 rate back to normal" }, { actorId: "U0AMY0001" });
  log.add(t(62), "incident.resolved", "Resolved: Added redirects for the old /v1/ paths", { summary: "Added redirects for the old /v1/ paths; the 404s were a crawler following links from an archived page." }, { actorId: "U0AMY0001" });
  return {
    incident: {
      number: 101,
      title: "Elevated 404s on the docs site",
      severity: "SEV4",
      status: "RESOLVED",
      private: false,
      services: ["docs"],
      summary: "Added redirects for the old /v1/ paths; the 404s were a crawler following links from an archived page.",
      description: null,
      declaredAt: t(0),
      startedAt: null,
      acknowledgedAt: t(4),
      mitigatedAt: t(34),
      resolvedAt: t(62),
      commanderId: "U0AMY0001",
      declaredById: "U0AMY0001",
      channelName: "inc-101-elevated-404s-on-the-docs-site",
    },
    participants: [
      { userId: "U0AMY0001", displayName: "Amy Ortiz", roles: ["COMMANDER"] },
      { userId: "U0RAJ0002", displayName: "Raj Patel", roles: ["RESPONDER"] },
    ],
    events: log.events,
    alerts: [],
    remediations: [],
    actionItems: [
      { title: "Remove links to /v1/ from the archived pages", ownerId: "U0RAJ0002", dueDate: new Date("2026-03-20T00:00:00Z"), priority: "LOW", status: "OPEN", externalUrl: null },
    ],
    options: { timeZone: "America/New_York", audience: "internal", now: t(90), ...options },
  };
}

// --- a SEV1 with many events ----------------------------------------------------------

const NOTES: readonly string[] = [
  "Error rate on checkout-api at 18%, mostly card payments",
  "PSP adapter logs show `invalid_merchant_config` since 09:50",
  "<@U0CHEN003> checking the 09:48 deploy of checkout v2025.11.4",
  "Dashboards: <https://grafana.example.com/d/checkout|checkout overview>",
  "Retry storm visible on the PSP side, connection pool at 100%",
  "Support reports customers seeing \"payment declined\" on retry",
  "Canary for v2025.11.4 passed: it does not exercise card payments",
  "Config diff shows the merchant id moved to a new secret path",
  "Secret sync job ran at 09:47; the new path was empty in eu-west",
  "Looks like human error in the config push",
  "Not Bob's fault, the canary missed it",
  "Careless config push, nobody reviewed the secret path",
  "Queue depth for payment-events at 42k and draining",
  "eu-west affected, us-east healthy",
  "Customer comms drafted by <@U0DANA004>",
  "PSP confirmed no incident on their side",
  "Feature flag psp-v2 is on for 100% of traffic",
];

const UPDATES: readonly string[] = [
  "Card payments failing for a share of customers in Europe; we are investigating",
  "Cause identified: a configuration change; rolling back",
  "Error rate dropping after the rollback; monitoring",
];

/**
 * A SEV1 declared from alerts, escalated, mitigated by a rollback, resolved,
 * reopened when an alert fired again and resolved for good. `eventCount`
 * events in total (500 for the golden file, 5,000 for the benchmark).
 */
export function sev1(eventCount = 500, options: Partial<PostmortemOptions> = {}, variant: { distinctNotes?: boolean } = {}): PostmortemInput {
  const t = clockAt("2026-11-22T10:00:00Z");
  const log = new EventLog();
  const alert = (at: Date, name: string, fingerprint: string, again = false) =>
    log.add(at, "alert.firing", `${again ? "Firing again" : "Firing"}: ${name}`, { fingerprint, alertname: name, groupKey: "{}:{service=\"checkout\"}", again }, { source: "ALERTMANAGER" });
  const resolvedAlert = (at: Date, name: string, fingerprint: string) =>
    log.add(at, "alert.resolved", `Resolved: ${name}`, { fingerprint, alertname: name, groupKey: "{}:{service=\"checkout\"}" }, { source: "ALERTMANAGER" });

  // Detect and respond.
  log.add(t(0), "incident.declared", "Declared: Checkout is failing for card payments", { title: "Checkout is failing for card payments", severity: "SEV2", private: false }, { source: "ALERTMANAGER" });
  log.add(t(0, 1), "channel.created", "Channel created", { channelId: "C0CHECKOUT", channelName: "inc-42-checkout-is-failing-for-card-payments" }, { source: "SYSTEM" });
  alert(t(0, 2), "HighErrorRate", "a1f0c2d3e4b5a601");
  alert(t(0, 2), "HighErrorRate", "a1f0c2d3e4b5a602");
  alert(t(0, 2), "LatencyHigh", "b2e1d3c4b5a69702");
  log.add(t(1), "participant.invited", "Invited", { users: ["U0ALICE01", "U0BOB0002", "U0CHEN003"] }, { source: "SYSTEM" });
  log.add(t(3), "incident.acknowledged", "<@U0ALICE01> acknowledged and took command", { by: "U0ALICE01" }, { actorId: "U0ALICE01" });
  log.add(t(4), "role.assigned", "<@U0BOB0002> is now the scribe", { role: "SCRIBE", from: null, to: "U0BOB0002" }, { actorId: "U0ALICE01" });
  log.add(t(4, 30), "role.assigned", "<@U0DANA004> is now the comms lead", { role: "COMMS", from: null, to: "U0DANA004" }, { actorId: "U0ALICE01" });
  log.add(t(6), "severity.changed", "Severity SEV2 → SEV1", { from: "SEV2", to: "SEV1" }, { actorId: "U0ALICE01" });
  log.add(t(7), "announcement.posted", "Announced", { channelId: "C0MAJOR001", ts: "1795341000.000100" }, { source: "SYSTEM" });
  log.add(t(8), "update.posted", `Update: ${UPDATES[0]}`, { message: UPDATES[0], status: "INVESTIGATING" }, { actorId: "U0DANA004" });
  log.add(t(10), "status.changed", "Status Investigating → Identified", { from: "INVESTIGATING", to: "IDENTIFIED", message: "Card payments fail at the PSP adapter since the 09:48 deploy" }, { actorId: "U0ALICE01" });
  alert(t(12), "HighErrorRate", "a1f0c2d3e4b5a603");

  // The fixed events after the filler notes.
  const tail: Array<() => void> = [];
  tail.push(() => log.add(t(40, 20), "action.denied", "Denied: resolve", { action: "resolve", reason: "only the commander may resolve this incident" }, { actorId: "U0EVE0005" }));
  tail.push(() => log.add(t(41), "remediation.finished", "Feature flag psp-v2 off failed: flag service returned 503", {}, { source: "REMEDIATION", actorId: "U0CHEN003" }));
  tail.push(() => log.add(t(45), "reminder.sent", "Reminder", { misses: 1, escalated: false }, { source: "SYSTEM" }));
  tail.push(() => log.add(t(62), "remediation.finished", "Rollback of checkout to v2025.11.3 succeeded", {}, { source: "REMEDIATION", actorId: "U0ALICE01" }));
  tail.push(() => log.add(t(65), "status.changed", "Status Identified → Monitoring", { from: "IDENTIFIED", to: "MONITORING", message: "Rollback complete, error rate back to baseline" }, { actorId: "U0ALICE01" }));
  tail.push(() => log.add(t(66), "update.posted", `Update: ${UPDATES[2]}`, { message: UPDATES[2], status: "MONITORING" }, { actorId: "U0DANA004" }));
  tail.push(() => resolvedAlert(t(70), "HighErrorRate", "a1f0c2d3e4b5a601"));
  tail.push(() => resolvedAlert(t(70), "LatencyHigh", "b2e1d3c4b5a69702"));
  tail.push(() => log.add(t(100), "incident.resolved", "Resolved", { summary: "Rolled back checkout to v2025.11.3. Card payments failed for about 18% of attempts in eu-west for 73 minutes." }, { actorId: "U0ALICE01" }));
  tail.push(() => alert(t(110), "HighErrorRate", "a1f0c2d3e4b5a601", true));
  tail.push(() => log.add(t(110, 5), "incident.reopened", "Reopened", { previousResolvedAt: t(100).toISOString() }, { source: "SYSTEM" }));
  tail.push(() => log.add(t(115), "note.added", "Note: refire caused by the payment-events backlog replaying old failures", { text: "Refire caused by the payment-events backlog replaying old failures" }, { actorId: "U0CHEN003" }));
  tail.push(() => log.add(t(125), "status.changed", "Status Investigating → Monitoring", { from: "INVESTIGATING", to: "MONITORING", message: "Backlog drained" }, { actorId: "U0ALICE01" }));
  tail.push(() => resolvedAlert(t(128), "HighErrorRate", "a1f0c2d3e4b5a601"));
  tail.push(() => log.add(t(150), "incident.resolved", "Resolved", { summary: "Rolled back checkout to v2025.11.3. Card payments failed for about 18% of attempts in eu-west for 73 minutes." }, { actorId: "U0ALICE01" }));

  // Filler: notes and updates every few seconds between 10:13 and 10:40, and between the remediation and the monitoring status.
  const fillerCount = eventCount - log.events.length - tail.length;
  const firstWindow = Math.ceil(fillerCount * 0.8);
  for (let i = 0; i < fillerCount; i++) {
    const at = i < firstWindow ? new Date(t(13).getTime() + Math.floor((i * 27 * 60_000) / firstWindow)) : new Date(t(42).getTime() + Math.floor(((i - firstWindow) * 19 * 60_000) / (fillerCount - firstWindow)));
    const actor = ["U0ALICE01", "U0BOB0002", "U0CHEN003", "U0DANA004", "U0EVE0005"][i % 5] ?? null;
    if (i % 37 === 36) {
      const message = UPDATES[1] ?? "";
      log.add(at, "update.posted", `Update: ${message}`, { message, status: "IDENTIFIED" }, { actorId: "U0DANA004" });
      continue;
    }
    // distinctNotes: every note differs (no two texts share a review), the benchmark's worst case.
    const note = `${NOTES[i % NOTES.length] ?? ""}${variant.distinctNotes ? ` (${i})` : ""}`;
    log.add(at, "note.added", `Note: ${note}`, { text: note }, {
      actorId: actor,
      // A few special entries: private, hidden, removed, edited.
      private: i % 50 === 7,
      hidden: i % 97 === 13,
      removedAt: i % 89 === 11 ? new Date(at.getTime() + 60_000) : null,
      editedAt: i % 61 === 5 ? new Date(at.getTime() + 120_000) : null,
    });
  }
  for (const add of tail) add();

  return {
    incident: {
      number: 42,
      title: "Checkout is failing for card payments",
      severity: "SEV1",
      status: "RESOLVED",
      private: false,
      services: ["checkout", "payments"],
      summary: "Rolled back checkout to v2025.11.3. Card payments failed for about 18% of attempts in eu-west for 73 minutes.",
      description: "5xx on POST /api/checkout above 5% for card payments (Alertmanager: HighErrorRate).",
      declaredAt: t(0),
      startedAt: t(-8),
      acknowledgedAt: t(3),
      mitigatedAt: t(65),
      resolvedAt: t(150),
      commanderId: "U0ALICE01",
      declaredById: null,
      channelName: "inc-42-checkout-is-failing-for-card-payments",
    },
    participants: [
      { userId: "U0ALICE01", displayName: "Alice Martin", roles: ["COMMANDER"] },
      { userId: "U0BOB0002", displayName: "Bob Nguyen", roles: ["SCRIBE"] },
      { userId: "U0CHEN003", displayName: "Chen Wei", roles: ["RESPONDER"] },
      { userId: "U0DANA004", displayName: "Dana Kowalski", roles: ["COMMS"] },
      { userId: "U0EVE0005", displayName: null, roles: ["RESPONDER"] },
    ],
    events: log.events,
    alerts: [
      { alertname: "HighErrorRate", fingerprint: "a1f0c2d3e4b5a601", severity: "critical", status: "RESOLVED", startsAt: t(-8), endsAt: t(128), summary: "5xx above 5% on checkout-api" },
      { alertname: "HighErrorRate", fingerprint: "a1f0c2d3e4b5a602", severity: "critical", status: "RESOLVED", startsAt: t(-7), endsAt: t(69), summary: "5xx above 5% on checkout-api" },
      { alertname: "LatencyHigh", fingerprint: "b2e1d3c4b5a69702", severity: "warning", status: "RESOLVED", startsAt: t(-2), endsAt: t(70), summary: "p99 latency above 2s on checkout-api" },
      { alertname: "HighErrorRate", fingerprint: "a1f0c2d3e4b5a603", severity: "critical", status: "FIRING", startsAt: t(11), endsAt: null, summary: "5xx above 5% on psp-adapter" },
    ],
    remediations: [
      { actionKey: "psp-v2-flag-off", kind: "feature_flag_off", status: "FAILED", requestedById: "U0CHEN003", confirmedById: "U0ALICE01", requestedAt: t(40, 40), finishedAt: t(41), resultSummary: null, error: "Flag service returned 503 Service Unavailable" },
      { actionKey: "checkout-rollback", kind: "deploy_rollback", status: "SUCCEEDED", requestedById: "U0ALICE01", confirmedById: "U0BOB0002", requestedAt: t(58), finishedAt: t(62), resultSummary: "Rolled back checkout from v2025.11.4 to v2025.11.3", error: null },
    ],
    actionItems: [
      { title: "Document the checkout rollback in the runbook", ownerId: "U0BOB0002", dueDate: new Date("2026-11-30T00:00:00Z"), priority: "MEDIUM", status: "DONE", externalUrl: null },
      { title: "Alert on PSP adapter p99 latency", ownerId: null, dueDate: null, priority: "LOW", status: "OPEN", externalUrl: null },
      { title: "Make the secret sync fail the deploy when a path is empty", ownerId: "U0CHEN003", dueDate: new Date("2026-11-25T00:00:00Z"), priority: "HIGH", status: "OPEN", externalUrl: "https://github.example.com/shop/checkout/issues/871" },
      { title: "Exercise card payments in the checkout canary", ownerId: "U0ALICE01", dueDate: new Date("2026-12-04T00:00:00Z"), priority: "HIGH", status: "OPEN", externalUrl: null },
    ],
    answers: {
      "contributing-factors": "The config push by <@U0BOB0002> caused the outage: the secret sync job copied an empty path.\nThe canary does not exercise card payments.",
      "went-poorly": "Dana should have known the PSP status page URL.",
    },
    options: { timeZone: "Europe/Paris", audience: "internal", now: new Date("2026-11-26T09:00:00Z"), ...options },
  };
}

// --- a private incident ---------------------------------------------------------------

/** Strings of the private incident that must never appear in a public export. */
export const PRIVATE_STRINGS = [
  "credential leak",
  "billing-export",
  "AKIA-TEST-1234",
  "203.0.113.7",
  "inc-77-suspected",
  "Rotated the leaked key",
  "contractor laptop",
  "legal@",
  "Ingrid",
  "Kenji",
  "SEC-4411",
  "Bucket policy",
] as const;

export function privateIncident(options: Partial<PostmortemOptions> = {}): PostmortemInput {
  const t = clockAt("2026-05-14T01:30:00Z");
  const log = new EventLog();
  log.add(t(0), "incident.declared", "Declared: Suspected credential leak in billing-export", { title: "Suspected credential leak in billing-export", severity: "SEV2", private: true }, { actorId: "U0INGRID1" });
  log.add(t(0, 2), "channel.created", "Channel created", { channelId: "G0PRIVATE1", channelName: "inc-77-suspected-credential-leak" }, { source: "SYSTEM" });
  log.add(t(1), "commander.assigned", "<@U0INGRID1> is now the commander", { from: null, to: "U0INGRID1" }, { actorId: "U0INGRID1" });
  log.add(t(2), "participant.invited", "Invited", { users: ["U0KENJI02"] }, { actorId: "U0INGRID1" });
  log.add(t(5), "note.added", "Note: key AKIA-TEST-1234 used from 203.0.113.7", { text: "Key AKIA-TEST-1234 used from 203.0.113.7 (not one of our ranges)" }, { actorId: "U0KENJI02" });
  log.add(t(9), "note.added", "Note: key was on a contractor laptop, ask legal@ before contacting", { text: "Key was on a contractor laptop; ask legal@ before contacting anyone. <@U0KENJI02> to follow up" }, { actorId: "U0INGRID1", private: true });
  log.add(t(12), "status.changed", "Status Investigating → Identified", { from: "INVESTIGATING", to: "IDENTIFIED", message: "Key AKIA-TEST-1234 confirmed leaked" }, { actorId: "U0INGRID1" });
  log.add(t(20), "remediation.finished", "Rotated the leaked key AKIA-TEST-1234", {}, { source: "REMEDIATION", actorId: "U0INGRID1" });
  log.add(t(22), "status.changed", "Status Identified → Monitoring", { from: "IDENTIFIED", to: "MONITORING", message: "Key rotated; watching billing-export access logs" }, { actorId: "U0INGRID1" });
  log.add(t(30), "update.posted", "Update: no further access from 203.0.113.7", { message: "No further access from 203.0.113.7 to billing-export", status: "MONITORING" }, { actorId: "U0KENJI02" });
  log.add(t(95), "incident.resolved", "Resolved", { summary: "Rotated the leaked key; Bucket policy now denies access outside our ranges. Tracked as SEC-4411." }, { actorId: "U0INGRID1" });
  return {
    incident: {
      number: 77,
      title: "Suspected credential leak in billing-export",
      severity: "SEV2",
      status: "RESOLVED",
      private: true,
      services: ["billing"],
      summary: "Rotated the leaked key; Bucket policy now denies access outside our ranges. Tracked as SEC-4411.",
      description: "Unusual reads of billing-export from 203.0.113.7 using key AKIA-TEST-1234.",
      declaredAt: t(0),
      startedAt: null,
      acknowledgedAt: t(1),
      mitigatedAt: t(22),
      resolvedAt: t(95),
      commanderId: "U0INGRID1",
      declaredById: "U0INGRID1",
      channelName: "inc-77-suspected-credential-leak",
    },
    participants: [
      { userId: "U0INGRID1", displayName: "Ingrid Berg", roles: ["COMMANDER"] },
      { userId: "U0KENJI02", displayName: "Kenji Sato", roles: ["RESPONDER"] },
    ],
    events: log.events,
    alerts: [
      { alertname: "UnusualBucketAccess", fingerprint: "c3d4e5f6a7b8c9d0", severity: "warning", status: "RESOLVED", startsAt: t(-25), endsAt: t(40), summary: "Reads of billing-export from 203.0.113.7" },
    ],
    remediations: [
      { actionKey: "rotate-billing-key", kind: "deploy_rollback", status: "SUCCEEDED", requestedById: "U0INGRID1", requestedAt: t(18), finishedAt: t(20), resultSummary: "Rotated the leaked key AKIA-TEST-1234", error: null },
    ],
    actionItems: [
      { title: "Scan contractor laptop images for keys (SEC-4411)", ownerId: "U0KENJI02", dueDate: new Date("2026-05-30T00:00:00Z"), priority: "HIGH", status: "OPEN", externalUrl: "https://github.example.com/sec/billing-export/issues/12" },
    ],
    answers: { "what-happened": "Key AKIA-TEST-1234 from a contractor laptop was used to read billing-export." },
    options: { timeZone: "Asia/Tokyo", audience: "internal", now: t(120), ...options },
  };
}
