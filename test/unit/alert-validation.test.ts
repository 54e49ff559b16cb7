import { describe, expect, it } from "vitest";
import { alertmanagerWebhookSchema, describeIssues, endsAtOrNull, passesCompiledWebhookCheck, validateWebhook } from "../../src/alert/models.ts";

/**
 * The webhook accepts a payload on ajv's compiled check alone (the fast path) and asks zod,
 * the schema's one definition, only to explain a refusal. So the compiled check must never
 * accept what zod refuses (a bad payload would be stored and fail in processing), should not
 * refuse what zod accepts (it would only cost time), and must fill the same defaults. Both
 * are run on valid payloads and on every mutation of every field.
 */
const alert = {
  status: "firing",
  labels: { alertname: "HighErrorRate", severity: "critical", service: "checkout", instance: "a" },
  annotations: { summary: "5xx above 5%", runbook_url: "https://runbooks/checkout" },
  startsAt: "2026-11-22T10:00:00.000Z",
  endsAt: "0001-01-01T00:00:00Z",
  generatorURL: "http://prometheus:9090/graph?g0.expr=...",
  fingerprint: "c8f2a6d3e1b0a9f7",
};
// JSON round trip: no object shared between the two alerts (structuredClone would keep the sharing).
const base: unknown = JSON.parse(JSON.stringify({
  version: "4",
  groupKey: '{}:{alertname="HighErrorRate"}',
  truncatedAlerts: 0,
  status: "firing",
  receiver: "firebreak",
  groupLabels: { alertname: "HighErrorRate" },
  commonLabels: { alertname: "HighErrorRate", severity: "critical", service: "checkout" },
  commonAnnotations: { summary: "5xx above 5%" },
  externalURL: "http://alertmanager:9093",
  alerts: [alert, { ...alert, status: "resolved", endsAt: "2026-11-22T10:05:00+02:00", fingerprint: "0a" }],
}));

const replacements: unknown[] = [
  undefined, // the key removed
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  true,
  "",
  "x",
  "4",
  4,
  "firing",
  "resolved",
  "pending",
  [],
  [alert],
  {},
  { a: "b" },
  { a: 1 },
  "2026-11-22T10:00:00Z",
  "2026-11-22T10:00:00.123456789+05:30",
  "0001-01-01T00:00:00Z",
  "2026-02-30T10:00:00Z",
  "2026-11-22 10:00:00Z",
  "2026-11-22T10:00:00",
  "2026-11-22T25:00:00Z",
  "2026-11-22T10:00:00+2:00",
];

type Json = unknown;

/** Every path to a value in `value` (objects and arrays included). */
function paths(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (value === null || typeof value !== "object") return [prefix];
  const keys: Array<string | number> = Array.isArray(value) ? value.map((_, index) => index) : Object.keys(value);
  return [prefix, ...keys.flatMap((key) => paths((value as Record<string | number, Json>)[key], [...prefix, key]))];
}

function withValue(root: Json, path: Array<string | number>, replacement: unknown): Json {
  if (path.length === 0) return replacement;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else parent[last] = structuredClone(replacement);
  return copy;
}

function mutations(): Array<{ name: string; value: Json }> {
  const out: Array<{ name: string; value: Json }> = [{ name: "valid", value: base }];
  for (const path of paths(base)) {
    for (const replacement of replacements) {
      out.push({ name: `${path.join(".") || "(body)"} = ${JSON.stringify(replacement) ?? "(removed)"}`, value: withValue(base, path, replacement) });
    }
    // An extra key next to the known ones.
    const target = path.reduce<Json>((value, key) => (value as Record<string | number, Json>)[key], base);
    if (target && typeof target === "object" && !Array.isArray(target)) {
      out.push({ name: `${path.join(".")}.extra = "x"`, value: withValue(base, [...path, "extra"], "x") });
      out.push({ name: `${path.join(".")}.extra = 5`, value: withValue(base, [...path, "extra"], 5) });
    }
  }
  return out;
}

describe("Alertmanager webhook v4 schema", () => {
  it("accepts Alertmanager's payload and reads the zero endsAt as not ended", () => {
    const parsed = alertmanagerWebhookSchema.parse(base);
    expect(parsed.alerts[0]?.fingerprint).toBe("c8f2a6d3e1b0a9f7");
    expect(endsAtOrNull(parsed.alerts[0]!)).toBeNull();
    expect(endsAtOrNull(parsed.alerts[1]!)).toEqual(new Date("2026-11-22T08:05:00Z"));
  });

  it("names the offending field when the payload is wrong", () => {
    const bad = withValue(withValue(withValue(base, ["version"], "3"), ["alerts", 0, "status"], "pending"), ["alerts", 0, "labels", "severity"], 5);
    const result = alertmanagerWebhookSchema.safeParse(bad);
    expect(result.success).toBe(false);
    const message = describeIssues(result.error!);
    expect(message).toMatch(/version/);
    expect(message).toMatch(/alerts\.0\.status/);
    expect(message).toMatch(/alerts\.0\.labels\.severity/);
  });

  it("refuses an empty alert list", () => {
    expect(alertmanagerWebhookSchema.safeParse(withValue(base, ["alerts"], [])).success).toBe(false);
    expect(validateWebhook(withValue(base, ["alerts"], [])).ok).toBe(false);
  });
});

describe("the compiled webhook check agrees with the zod schema", () => {
  const cases = mutations();

  it("covers valid and refused payloads", () => {
    const verdicts = cases.map((entry) => alertmanagerWebhookSchema.safeParse(structuredClone(entry.value)).success);
    expect(cases.length).toBeGreaterThan(1_000);
    expect(verdicts.filter(Boolean).length).toBeGreaterThan(100);
    expect(verdicts.filter((ok) => !ok).length).toBeGreaterThan(100);
  });

  it("accepts and refuses exactly the same payloads, with the same defaults", () => {
    const disagreements: string[] = [];
    for (const entry of cases) {
      const zod = alertmanagerWebhookSchema.safeParse(structuredClone(entry.value));
      const compiledInput = structuredClone(entry.value);
      const compiled = passesCompiledWebhookCheck(compiledInput);
      if (compiled !== zod.success) {
        disagreements.push(`${entry.name}: compiled ${compiled ? "accepts" : "refuses"}, zod ${zod.success ? "accepts" : "refuses"}`);
      } else if (zod.success && JSON.stringify(alertmanagerWebhookSchema.parse(compiledInput)) !== JSON.stringify(zod.data)) {
        // zod keeps what is present and strips unknown keys: a different default shows here.
        disagreements.push(`${entry.name}: different values after defaults`);
      }
    }
    expect(disagreements).toEqual([]);
  });

  it("answers a refusal with zod's message naming the field", () => {
    const result = validateWebhook(withValue(base, ["alerts", 1, "labels", "severity"], 5));
    expect(result).toEqual({ ok: false, error: "alerts.1.labels.severity: Invalid input: expected string, received number" });
    const missing = validateWebhook(withValue(base, ["groupKey"], undefined));
    expect(missing.ok).toBe(false);
    expect(missing.ok ? "" : missing.error).toMatch(/^groupKey: /);
  });

  it("fills the defaults in the value it returns", () => {
    const bare = { ...(structuredClone(base) as Record<string, unknown>), alerts: [{ status: "firing", labels: { a: "b" }, startsAt: "2026-11-22T10:00:00Z", fingerprint: "f" }] } as Record<string, unknown>;
    delete bare.truncatedAlerts;
    delete bare.groupLabels;
    const result = validateWebhook(bare);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.truncatedAlerts).toBe(0);
    expect(result.value.groupLabels).toEqual({});
    expect(result.value.alerts[0]).toMatchObject({ annotations: {}, generatorURL: "" });
  });
});
