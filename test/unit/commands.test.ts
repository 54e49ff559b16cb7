import { describe, expect, it } from "vitest";
import { MAX_TITLE_LENGTH, parseIncidentCommand } from "../../src/incident/commands.ts";

describe("/incident parsing", () => {
  it("declares with a title and the default severity", () => {
    expect(parseIncidentCommand("declare Checkout is failing")).toEqual({ kind: "declare", title: "Checkout is failing", severity: "SEV3" });
  });

  it("accepts a severity before the title", () => {
    expect(parseIncidentCommand("declare sev1 Checkout is failing")).toEqual({ kind: "declare", title: "Checkout is failing", severity: "SEV1" });
    expect(parseIncidentCommand("  DECLARE   SEV2   DB down ")).toEqual({ kind: "declare", title: "DB down", severity: "SEV2" });
  });

  it("keeps the title as typed (escaping happens when rendering)", () => {
    expect(parseIncidentCommand("declare <!channel> everything is down")).toMatchObject({ title: "<!channel> everything is down" });
  });

  it("asks for a title when there is none", () => {
    expect(parseIncidentCommand("declare")).toEqual({ kind: "help", problem: { type: "missing_title" } });
    expect(parseIncidentCommand("declare sev1")).toEqual({ kind: "help", problem: { type: "missing_title" } });
  });

  it("refuses overlong titles", () => {
    const parsed = parseIncidentCommand(`declare ${"x".repeat(MAX_TITLE_LENGTH + 1)}`);
    expect(parsed).toEqual({ kind: "help", problem: { type: "title_too_long", length: MAX_TITLE_LENGTH + 1, max: MAX_TITLE_LENGTH } });
  });

  it("answers unknown subcommands and empty text with help", () => {
    expect(parseIncidentCommand("")).toEqual({ kind: "help" });
    expect(parseIncidentCommand("help")).toEqual({ kind: "help" });
    expect(parseIncidentCommand("frobnicate now")).toEqual({ kind: "help", problem: { type: "unknown_command", subcommand: "frobnicate" } });
  });
});
