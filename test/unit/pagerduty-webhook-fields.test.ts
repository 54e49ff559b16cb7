import { describe, expect, it } from "vitest";
import { occurredAt, storableText, unstorableIdentifier, webhookSchema, type PagerDutyWebhook } from "../../src/paging/models.ts";

/**
 * What the PagerDuty webhook makes of the fields it stores (src/paging/models.ts): the fuzz
 * (test/fuzz) sent correctly signed events with a NUL or a lone surrogate, and `occurred_at`
 * values JavaScript reads but PostgreSQL cannot store, and each got 503 (PagerDuty would retry
 * them for nothing). The integration side is test/integration/webhook-bad-input.test.ts.
 */

function event(fields: { id?: string; dataId?: string; incidentKey?: string | null }): PagerDutyWebhook {
  return webhookSchema.parse({
    event: { id: fields.id ?? "01EVENT", event_type: "incident.acknowledged", data: { id: fields.dataId ?? "PINC", incident_key: fields.incidentKey ?? null } },
  });
}

describe("occurred_at", () => {
  it("is the time given when it is an ISO 8601 time of the years 1 to 9999", () => {
    expect(occurredAt("2026-01-01T00:00:00.000Z")?.toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(occurredAt("2026-03-04T05:06:07+02:00")?.toISOString()).toBe("2026-03-04T03:06:07.000Z");
    expect(occurredAt("0001-01-01T00:00:00Z")?.toISOString()).toBe("0001-01-01T00:00:00.000Z");
    expect(occurredAt("9999-12-31T23:59:59.999Z")?.toISOString()).toBe("9999-12-31T23:59:59.999Z");
  });

  it("is no time for what PostgreSQL could not store or is not such a time (the event then counts as arrived now)", () => {
    for (const text of ["-271821-04-20T00:00:00.000Z", "+275760-09-13T00:00:00.000Z", "0000-01-01T00:00:00Z", "2026-02-30T25:61:00Z", "1", "not a date", "", "2026-01-01", "2026-01-01T00:00:00.000Z\u0000"]) {
      expect(occurredAt(text), text).toBeUndefined();
    }
    expect(occurredAt(undefined)).toBeUndefined();
  });
});

describe("identifiers and names with characters PostgreSQL cannot store", () => {
  it("names the first identifier with a NUL or a lone surrogate", () => {
    expect(unstorableIdentifier(event({}))).toBeUndefined();
    expect(unstorableIdentifier(event({ id: "01\u0000" }))).toBe("event.id");
    expect(unstorableIdentifier(event({ dataId: "P\ud800" }))).toBe("event.data.id");
    expect(unstorableIdentifier(event({ incidentKey: "\udc00key" }))).toBe("event.data.incident_key");
    // A whole surrogate pair is a character like any other.
    expect(unstorableIdentifier(event({ id: "01😀", incidentKey: "key-😀" }))).toBeUndefined();
  });

  it("keeps names, each such character replaced by U+FFFD", () => {
    expect(storableText("Ana\u0000 \ud800Oncall\udc00 😀")).toBe("Ana\ufffd \ufffdOncall\ufffd 😀");
    expect(storableText("Ana Oncall")).toBe("Ana Oncall");
  });
});
