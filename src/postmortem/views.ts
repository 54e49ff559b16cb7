import { safeText } from "../slack/text.ts";
import type { PostmortemDocument } from "./models.ts";

/** The short message posted in the incident channel when a draft is (re)generated. */
export function postmortemSummaryMessage(doc: PostmortemDocument): { text: string; blocks: unknown[] } {
  const ref = doc.header.ref;
  const metrics = doc.metrics.map((metric) => `*${safeText(metric.label, 60)}*: ${safeText(metric.human, 60)}`);
  const findings = doc.review.findings.length;
  const lines = [
    `:memo: *Post-mortem draft for ${ref}* is ready: timeline by phase, metrics, alerts and the blameless prompts to fill in.`,
    metrics.join(" · "),
    findings > 0
      ? `:mag: The blameless review flagged ${findings} passage${findings === 1 ? "" : "s"} that may assign blame to a person; the draft suggests system-focused wording.`
      : ":white_check_mark: The blameless review flagged nothing.",
    `Export it from Firebreak's API: \`GET /api/incidents/${doc.header.number}/postmortem.md\` (or \`.html\`, \`.json\`; add \`?audience=public\` for a shareable version).`,
  ];
  return {
    text: `Post-mortem draft for ${ref} is ready`,
    blocks: lines.map((line) => ({ type: "section", text: { type: "mrkdwn", text: line.slice(0, 3_000) } })),
  };
}
