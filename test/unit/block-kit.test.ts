import { describe, expect, it } from "vitest";
import { LIMITS, markupProblems, mrkdwnStrings, plainStrings, slackLimitViolations } from "./block-kit.ts";

const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
const message = (...blocks: unknown[]) => ({ text: "fallback", blocks });
const button = (text: string) => ({ type: "button", action_id: "a", text: { type: "plain_text", text }, value: "v" });
const option = (text: string, value = "v") => ({ text: { type: "plain_text", text }, value });
const select = (options: unknown[], initial?: unknown) => ({ type: "static_select", action_id: "s", options, ...(initial === undefined ? {} : { initial_option: initial }) });
const modal = (title: string, blocks: unknown[]) => ({ type: "modal", callback_id: "cb", title: { type: "plain_text", text: title }, blocks });
const input = (blockId: string, element: unknown) => ({ type: "input", block_id: blockId, label: { type: "plain_text", text: "Label" }, element });

/** The walker must find exactly one violation, mentioning `needle`. */
function expectOneViolation(payload: unknown, surface: "message" | "modal", needle: string): void {
  const violations = slackLimitViolations(payload, surface);
  expect(violations).toHaveLength(1);
  expect(violations[0]).toContain(needle);
}

describe("Block Kit limit walker (the helper the view tests rely on)", () => {
  it("accepts payloads exactly at the limits", () => {
    const blocks = [
      { type: "header", text: { type: "plain_text", text: "h".repeat(LIMITS.headerText) } },
      section("s".repeat(LIMITS.sectionText)),
      { type: "actions", elements: [button("b".repeat(LIMITS.buttonText)), select([option("o".repeat(LIMITS.optionText))])] },
      { type: "context", elements: [{ type: "mrkdwn", text: "c" }] },
      ...Array.from({ length: LIMITS.blocks.message - 4 }, () => ({ type: "divider" })),
    ];
    expect(slackLimitViolations(message(...blocks), "message")).toEqual([]);
    const modalBlocks = Array.from({ length: LIMITS.blocks.modal }, () => section("x"));
    expect(slackLimitViolations(modal("t".repeat(LIMITS.modalTitle), modalBlocks), "modal")).toEqual([]);
  });

  it("catches each limit one past it", () => {
    expectOneViolation(message(section("s".repeat(LIMITS.sectionText + 1))), "message", "section text is 3001");
    expectOneViolation(message({ type: "header", text: { type: "plain_text", text: "h".repeat(LIMITS.headerText + 1) } }), "message", "header text is 151");
    expectOneViolation(message({ type: "actions", elements: [button("b".repeat(LIMITS.buttonText + 1))] }), "message", "button text is 76");
    expectOneViolation(message({ type: "actions", elements: [select([option("o".repeat(LIMITS.optionText + 1))])] }), "message", "option text is 76");
    expectOneViolation(message({ type: "actions", elements: [select([option("o", "v".repeat(LIMITS.optionValue + 1))])] }), "message", "option value is 151");
    expectOneViolation(message(...Array.from({ length: LIMITS.blocks.message + 1 }, () => ({ type: "divider" }))), "message", "message blocks has 51");
    expectOneViolation(modal("t", Array.from({ length: LIMITS.blocks.modal + 1 }, () => ({ type: "divider" }))), "modal", "modal blocks has 101");
    expectOneViolation(modal("t".repeat(LIMITS.modalTitle + 1), [section("x")]), "modal", "modal title is 25");
    expectOneViolation(message({ type: "context", elements: [{ type: "mrkdwn", text: "c".repeat(LIMITS.contextText + 1) }] }), "message", "context text is 3001");
    expectOneViolation(message({ type: "section", fields: [{ type: "mrkdwn", text: "f".repeat(LIMITS.sectionFieldText + 1) }] }), "message", "section field is 2001");
    expectOneViolation(modal("t", [input("i", select(Array.from({ length: LIMITS.selectOptions + 1 }, (_, i) => option(`o${i}`, `v${i}`))))]), "modal", "static_select options has 101");
  });

  it("catches wrong text types, empty text, stray initial options, duplicate block ids and lone surrogates", () => {
    expectOneViolation(message({ type: "header", text: { type: "mrkdwn", text: "h" } }), "message", "header text must be plain_text");
    expectOneViolation(message(section("")), "message", "non-empty");
    expectOneViolation(message({ type: "actions", elements: [select([option("a", "a")], option("b", "b"))] }), "message", "initial_option must be one of the options");
    expectOneViolation(modal("t", [input("same", { type: "plain_text_input", action_id: "x" }), input("same", { type: "plain_text_input", action_id: "y" })]), "modal", "duplicate block_id");
    expectOneViolation(message(section("broken \ud83d")), "message", "lone surrogate");
    expectOneViolation({ text: "", blocks: [] }, "message", "fallback text");
    expectOneViolation(message({ type: "mystery" }), "message", "unexpected block type");
  });

  it("collects mrkdwn and plain_text strings separately", () => {
    const payload = message({ type: "header", text: { type: "plain_text", text: "plain" } }, section("marked"));
    expect(mrkdwnStrings(payload)).toEqual(["fallback", "marked"]);
    expect(plainStrings(payload)).toEqual(["plain"]);
  });

  it("tells the app's own control sequences from foreign markup", () => {
    expect(markupProblems("<@U0COMMAND> in <#C0INCIDENT> at <!date^1700000000^{date_short_pretty}|2023-11-14> &lt;x&gt; &amp;")).toEqual([]);
    expect(markupProblems("> quoted line\n>another")).toEqual([]);
    expect(markupProblems("<!channel>")).toEqual(['unexpected markup "<!channel>"']);
    expect(markupProblems("see <https://evil.example|docs>")).toEqual(['unexpected markup "<https://evil.example|docs>"']);
    expect(markupProblems("`/incident show <number>`")).toEqual(['unexpected markup "<number>"']);
    expect(markupProblems("cut <@U0COMM")).toEqual(['unexpected markup "<@U0COMM"']);
    expect(markupProblems("a > b")).toEqual(["unescaped >"]);
    expect(markupProblems("Q&A")).toEqual(["bare & at 1"]);
  });
});
