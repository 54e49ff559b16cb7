import { describe, expect, it } from "vitest";
import { assertStorable, UnstorablePayloadError, unstorableField, withoutByteOrderMark } from "../../src/alert/ingest-storable.ts";

/**
 * The Alertmanager webhook's storable check walks the parsed body when its text has a \u0000 or
 * surrogate escape. A body may nest as deep as 1 MiB allows (the fuzz sent 60,000 levels with a
 * NUL inside): the walk must find the NUL without overflowing the stack (a recursive walk did:
 * 503 and a stall, test/fuzz), and name where it is without printing 60,000 steps.
 */

/** JSON text nested `depth` levels deep (objects under "a", or arrays), with `leaf` at the bottom. */
function nested(depth: number, kind: "object" | "array", leaf: string): string {
  return kind === "object" ? `${'{"a":'.repeat(depth)}${leaf}${"}".repeat(depth)}` : `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`;
}

describe("the storable check on deeply nested bodies", () => {
  for (const kind of ["object", "array"] as const) {
    it(`finds a NUL 100,000 levels deep in ${kind}s, and names a shortened path`, () => {
      const text = nested(100_000, kind, '"x\\u0000y"');
      const value: unknown = JSON.parse(text);
      const field = unstorableField(value);
      const step = kind === "object" ? "a" : "0";
      expect(field).toBe(`${Array.from({ length: 12 }, () => step).join(".")}.… (100000 levels deep)`);
      expect(() => assertStorable(value, text)).toThrow(UnstorablePayloadError);
    });

    it(`lets a 100,000-level ${kind} without one through`, () => {
      const text = nested(100_000, kind, '"plain \\u0026 text"');
      const value: unknown = JSON.parse(text);
      expect(unstorableField(value)).toBeUndefined();
      expect(() => assertStorable(value, text)).not.toThrow();
    });
  }

  it("finds a lone surrogate in a key deep inside, and a NUL next to a deep branch", () => {
    const deepKey = JSON.parse(`{"alerts":[{"labels":${nested(5_000, "object", '{"\\ud800":"v"}')}}]}`) as unknown;
    expect(unstorableField(deepKey)).toMatch(/^alerts\.0\.labels\.a\.a\.a\.a\.a\.a\.a\.a\.a\.… \(5004 levels deep\)$/);
    const beside = JSON.parse(`{"extra":${nested(50_000, "array", "1")},"groupKey":"g\\u0000"}`) as unknown;
    expect(unstorableField(beside)).toBe("groupKey");
  });

  it("still names short paths in full", () => {
    expect(unstorableField({ alerts: [{ labels: { instance: "a\u0000b" } }] })).toBe("alerts.0.labels.instance");
    expect(unstorableField({ commonLabels: { "x\udc00": "v" } })).toBe("commonLabels.x\udc00");
    expect(unstorableField("\u0000")).toBe("(body)");
  });
});

describe("the byte order mark", () => {
  it("is dropped once from the front, and nowhere else", () => {
    expect(withoutByteOrderMark('\ufeff{"a":1}')).toBe('{"a":1}');
    expect(withoutByteOrderMark('\ufeff\ufeff{"a":1}')).toBe('\ufeff{"a":1}');
    expect(withoutByteOrderMark('{"a":"\ufeff"}')).toBe('{"a":"\ufeff"}');
    expect(withoutByteOrderMark("")).toBe("");
  });
});
