/**
 * Text conversions for the post-mortem: Slack markup to plain text, and
 * plain text to safe Markdown, HTML and Mermaid labels. Every piece of text
 * that a person or an outside system wrote goes through one of these.
 */

const SLACK_MARKUP = /<([@#!])([^>|]*)(?:\|([^>]*))?>|<((?:https?|mailto):[^>|\s]*)(?:\|([^>]*))?>/g;

/** Renders a user mention; `label` is the name Slack embedded (`<@U1|bob>`), if any. */
export type MentionRenderer = (userId: string, label: string | null) => string;

/**
 * Slack message text to plain text: `<@U1>` through `mention`, `<#C1|general>`
 * to "#general", `<!here>` to "@here", `<https://x|docs>` to "docs (https://x)",
 * and Slack's &amp; &lt; &gt; back to characters. The result is plain text,
 * still to be escaped for the output format.
 */
export function slackToPlain(text: string, mention: MentionRenderer): string {
  return text
    .replace(SLACK_MARKUP, (_whole, sigil: string | undefined, id: string | undefined, label: string | undefined, url: string | undefined, urlLabel: string | undefined) => {
      if (url !== undefined) return urlLabel ? `${urlLabel} (${url})` : url;
      const name = label && label !== "" ? label : null;
      if (sigil === "@") return mention(id ?? "", name);
      if (sigil === "#") return `#${name ?? id ?? ""}`;
      // <!here>, <!channel>, <!subteam^S1|@oncall>, <!date^…|fallback>
      if (name) return name;
      const special = (id ?? "").split("^")[0] ?? "";
      return special === "subteam" ? "@group" : `@${special}`;
    })
    // A person as stored text shows them (`@U0123ABCD`, see src/events/catalogue.ts): through `mention` too.
    .replace(/(^|[^\w@])@([UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,11})\b/g, (_whole, lead: string, id: string) => `${lead}${mention(id, null)}`)
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** Slack user ids typed as plain text ("U0123ABCD"): removed from public exports. */
export const BARE_USER_ID = /\b[UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,11}\b/g;

const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * Markdown inline text: whitespace collapsed to single spaces, and every
 * character that could start markup (emphasis, links, images, raw HTML,
 * entities, code, tables, strikethrough) backslash-escaped, so the text
 * renders literally in CommonMark and GitHub-flavoured Markdown.
 */
export function mdInline(text: string): string {
  return text
    .replace(/\s+/g, " ")
    .trim()
    .replace(/[\\`*_[\]<>|~&]/g, "\\$&");
}

/**
 * Markdown block text: lines kept (as hard line breaks), paragraphs kept,
 * each line escaped like inline text plus the characters that only mean
 * something at the start of a line (headings, lists, quotes, rules).
 */
export function mdBlock(text: string): string {
  const paragraphs = text
    .replace(/\r\n?/g, "\n")
    .split(/\n\s*\n/)
    .map((paragraph) =>
      paragraph
        .split("\n")
        .map((line) => mdInline(line))
        .filter((line) => line !== "")
        .map((line) => line.replace(/^([#+=-])/, "\\$1").replace(/^(\d+)([.)])/, "$1\\$2"))
        .join("\\\n"),
    )
    .filter((paragraph) => paragraph !== "");
  return paragraphs.join("\n\n");
}

/** HTML block text: escaped, line breaks kept. */
export function htmlBlock(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .trim()
    .split(/\n\s*\n/)
    .map((paragraph) => `<p>${escapeHtml(paragraph.trim()).replace(/\n/g, "<br>")}</p>`)
    .join("\n");
}

/**
 * A label inside a Mermaid timeline: Mermaid reads ":" as an event separator,
 * "#" and "%%" as comments, ";" as a statement end and renders some HTML, so
 * only letters, digits and plain punctuation are kept, and the label is cut
 * to `max` characters.
 */
export function mermaidLabel(text: string, max: number): string {
  const cleaned = text
    .replace(/[^\p{L}\p{N} .,_/()+'?!@=→-]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (cleaned.length <= max) return cleaned === "" ? "-" : cleaned;
  return `${cleaned.slice(0, max - 1).trimEnd()}…`;
}

/** Cuts text to `max` characters with an ellipsis, never splitting a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut.trimEnd()}…`;
}
