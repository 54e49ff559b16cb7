import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { readEvent } from "../../src/events/catalogue.ts";
import type { TimelineEventType } from "../../src/events/models.ts";
import { EVENT_CATALOGUE } from "../support/catalogue.ts";

/** A payload of each type, with user ids where a type has people, to see how stored text shows them. */
const SAMPLES: { [K in TimelineEventType]: unknown } = {
  "incident.declared": { title: "Checkout is failing", severity: "SEV2", private: false, number: 7 },
  "channel.created": { channelId: "C0INC", channelName: "inc-7-checkout" },
  "participant.invited": { users: ["U0ALICE", "U0BOB"] },
  "incident.acknowledged": { by: "U0ALICE" },
  "status.changed": { from: "INVESTIGATING", to: "IDENTIFIED", message: "Bad deploy" },
  "update.posted": { message: "Rolling back", status: "IDENTIFIED" },
  "severity.changed": { from: "SEV3", to: "SEV1" },
  "commander.assigned": { from: "U0ALICE", to: "U0BOB" },
  "role.assigned": { role: "SCRIBE", from: null, to: "U0CAROL" },
  "note.added": { text: "Support sees errors" },
  "incident.resolved": { summary: "Rolled back" },
  "incident.reopened": { previousResolvedAt: "2026-12-02T10:00:00.000Z" },
  "action.denied": { action: "resolve", reason: "Only the commander can resolve on INC-7." },
  "reminder.sent": { misses: 2, escalated: true },
  "announcement.posted": { channelId: "C0ANN", ts: "1700000000.000100" },
  "alert.firing": { fingerprint: "f1", alertname: "HighErrorRate", groupKey: "{}:{}", again: true },
  "alert.resolved": { fingerprint: "f1", alertname: "HighErrorRate", groupKey: "{}:{}" },
  "message.captured": { channelId: "C0INC", ts: "1700000000.000100", threadTs: null, authorId: "U0ALICE", text: "DB failover started", permalink: null, via: ["pin"] },
  "timeline.entry_edited": { eventId: "12", before: "a", after: "b" },
  "timeline.entry_hidden": { eventId: "12", hidden: true },
  "followup.added": { title: "Add a canary stage", ownerId: "U0BOB", dueDate: "2026-12-15", priority: "HIGH" },
  "postmortem.section_edited": { section: "what-happened", text: "A bad deploy" },
  "page.triggered": { target: "U0ANA", targetKind: "user", again: false, message: "join please", attempts: 1 },
  "page.delayed": { target: "Checkout", targetKind: "service", reason: "PagerDuty is asking Firebreak to slow down (429)" },
  "page.failed": { target: "Checkout", targetKind: "service", reason: "PagerDuty refused trigger event (400): invalid routing key" },
  "page.resolved": { target: "Checkout", targetKind: "service" },
  "oncall.assigned": { service: "Checkout", policy: "Checkout on-call", userId: "U0ANA", name: "Ana", role: "commander" },
  "oncall.unavailable": { service: "Checkout", policy: "PABC123", reason: "nobody is on call", person: null },
  "pagerduty.incident": { event: "acknowledged", pagerdutyIncidentId: "PINC1", target: "Checkout", agent: "Ana", agentUserId: null, assignees: [] },
  "remediation.requested": { executionId: "e1", actionId: "checkout-rollback", label: "Roll back checkout-api", kind: "kubernetes", target: "prod/checkout-api", dryRun: false },
  "remediation.finished": { executionId: "e1", actionId: "checkout-rollback", label: "Roll back checkout-api", kind: "kubernetes", target: "prod/checkout-api", status: "succeeded", summary: "Rolled back to revision 41", link: null, durationMs: 1200, dryRun: false },
  "channel.drift": { check: "channel_archived", outcome: "reported", channelId: "C0INC", detail: null },
};

const TYPES = Object.keys(SAMPLES) as TimelineEventType[];

describe("the event catalogue", () => {
  it("has a kind for every type, named by its own key", () => {
    expect(Object.keys(EVENT_CATALOGUE).sort()).toEqual([...TYPES].sort());
    for (const type of TYPES) expect(EVENT_CATALOGUE[type].type).toBe(type);
  });

  it.each(TYPES)("%s: its stored text holds no Slack markup", (type) => {
    const row = EVENT_CATALOGUE[type].row({ incidentId: "00000000-0000-4000-8000-000000000000", source: "SLACK", data: SAMPLES[type] as never });
    expect(row.text).not.toMatch(/<[@#!]/);
    expect(row.text.trim()).not.toBe("");
  });

  it("shows people in stored text as @ids, never as mentions", () => {
    const row = EVENT_CATALOGUE["commander.assigned"].row({ incidentId: "00000000-0000-4000-8000-000000000000", source: "SLACK", data: { from: "U0ALICE", to: "U0BOB" } });
    expect(row.text).toBe("@U0BOB is now the commander");
  });

  it("refuses to record a payload its schema does not accept", () => {
    const bad = { from: "SEV3" } as never;
    expect(() => EVENT_CATALOGUE["severity.changed"].row({ incidentId: "00000000-0000-4000-8000-000000000000", source: "SLACK", data: bad })).toThrow(ZodError);
  });

  it("reads a stored payload through its kind's schema; a type it does not know, or a payload that does not match, is not read", () => {
    expect(readEvent(EVENT_CATALOGUE, "severity.changed", { from: "SEV3", to: "SEV1" })?.kind.type).toBe("severity.changed");
    expect(readEvent(EVENT_CATALOGUE, "severity.changed", { from: 3 })).toBeUndefined();
    expect(readEvent(EVENT_CATALOGUE, "paging.paged", {})).toBeUndefined();
    expect(readEvent(EVENT_CATALOGUE, "toString", {})).toBeUndefined();
  });

  it("lets people edit only what people wrote, and never hide the audit trail", () => {
    const editable = TYPES.filter((type) => EVENT_CATALOGUE[type].editable !== undefined).sort();
    expect(editable).toEqual(["followup.added", "message.captured", "note.added", "update.posted"]);
    const unhideable = TYPES.filter((type) => !EVENT_CATALOGUE[type].hideable).sort();
    // The audit trails: corrections of the timeline, and every remediation run against production.
    expect(unhideable).toEqual(["remediation.finished", "remediation.requested", "timeline.entry_edited", "timeline.entry_hidden"]);
  });
});
