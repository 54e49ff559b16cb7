import { describe, expect, it } from "vitest";
import { auditVerdict } from "../../scripts/supply-chain.ts";

// What `npm audit --omit=dev --json` prints (npm 11), and what CI makes of it.
const report = (vulnerabilities: Record<string, { severity: string }>, counts: Record<string, number>) =>
  JSON.stringify({ auditReportVersion: 2, vulnerabilities, metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0, ...counts } } });

describe("auditVerdict", () => {
  it("fails on a high or a critical vulnerability, naming the packages", () => {
    const verdict = auditVerdict(report({ "left-pad": { severity: "critical" }, lodash: { severity: "high" }, ms: { severity: "low" } }, { critical: 1, high: 1, low: 1, total: 3 }));
    expect(verdict.kind).toBe("vulnerable");
    expect(verdict.kind === "vulnerable" && verdict.packages).toEqual(["left-pad (critical)", "lodash (high)"]);
    expect(verdict.kind === "vulnerable" && [verdict.counts["critical"], verdict.counts["high"]]).toEqual([1, 1]);
  });

  it("passes with only low and moderate ones", () => {
    expect(auditVerdict(report({ ms: { severity: "moderate" } }, { moderate: 1, total: 1 })).kind).toBe("clean");
  });

  it("skips, saying why, when the audit endpoint does not answer (here: a proxy answering 405)", () => {
    const output = JSON.stringify({ message: "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk", statusCode: 405, error: { summary: "", detail: "" } });
    const verdict = auditVerdict(output);
    expect(verdict.kind).toBe("skipped");
    expect(verdict.kind === "skipped" && verdict.reason).toContain("405 Method Not Allowed");
    expect(auditVerdict("").kind).toBe("skipped");
  });
});
