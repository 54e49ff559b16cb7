import type { PostedMessage } from "./models.ts";

/**
 * Whether a message in Slack still shows what Firebreak would post now.
 * Slack hands back what it was sent plus fields of its own (a `block_id` on
 * every block, `emoji: true` on plain text, `verbatim: false` on mrkdwn), and
 * may escape `&`, `<` and `>` in text: so the rendered message must be
 * contained in Slack's copy, with every list of the same length (a block or
 * a field added or removed is drift) and text compared unescaped.
 */
export function showsCurrent(expected: { text: string; blocks: readonly unknown[] }, actual: PostedMessage): boolean {
  return unescaped(expected.text) === unescaped(actual.text) && contains(expected.blocks, actual.blocks);
}

function unescaped(text: string): string {
  return text.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

function contains(expected: unknown, actual: unknown): boolean {
  if (typeof expected === "string") return typeof actual === "string" && unescaped(expected) === unescaped(actual);
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((item, index) => contains(item, actual[index]));
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
    const have = actual as Record<string, unknown>;
    return Object.entries(expected).every(([key, value]) => value === undefined || (Object.hasOwn(have, key) && contains(value, have[key])));
  }
  return Object.is(expected, actual);
}
