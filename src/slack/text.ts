/**
 * Untrusted text (titles typed by people, alert annotations) must reach Slack
 * as text, never as markup: `<!channel>` must not ping, `<@U123>` must not
 * mention, `<https://evil|click>` must not disguise a link. Slack's mrkdwn
 * only needs &, < and > escaped for that.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Slack's documented limits for the blocks we build. */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3000,
  headerText: 150,
  contextElementText: 3000,
  fallbackText: 40_000,
  buttonText: 75,
  channelName: 80,
  topic: 250,
} as const;

/**
 * Truncates to at most `max` characters (counting UTF-16 units as Slack does),
 * never splitting a surrogate pair or an escape entity, ending with "…".
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  const amp = cut.lastIndexOf("&");
  if (amp !== -1 && !cut.slice(amp).includes(";") && cut.length - amp <= 5) cut = cut.slice(0, amp);
  return `${cut}…`;
}

/** Escape, then fit: the order matters, escaping makes text longer. */
export function safeText(text: string, max: number): string {
  return truncate(escapeMrkdwn(text), max);
}

/** Plain-text fields (headers, buttons) are not parsed as mrkdwn; only length matters. */
export function plain(text: string, max: number): string {
  return truncate(text.replace(/\s+/g, " ").trim(), max);
}

/**
 * Text people typed, as they typed it: Slack's escaped wire syntax (sent for a
 * command with "Escape channels, users, and links" on) back to readable text.
 * `<@U1|alice>` -> `@alice`, `<#C1|checkout>` -> `#checkout`, `<!channel>` ->
 * `@channel`, `<!subteam^S1|@sre>` -> `@sre`, `<https://x|label>` -> `label
 * (https://x)`, `<https://x>` -> `https://x`. What comes out is plain text: in
 * mrkdwn it notifies nobody (only the wire syntax does), and views still escape it.
 */
export function readable(text: string): string {
  return text.replace(/<([^<>]*)>/g, (whole, inner: string) => {
    const [target = "", label] = inner.split("|", 2);
    if (target.startsWith("@")) return label ? `@${label.replace(/^@/, "")}` : target;
    if (target.startsWith("#")) return label ? `#${label}` : target;
    if (target.startsWith("!subteam^")) return label ? `@${label.replace(/^@/, "")}` : "@group";
    if (target.startsWith("!date^")) return label ?? whole;
    if (target.startsWith("!")) return `@${target.slice(1)}`;
    if (/^(https?|mailto):/i.test(target)) return label && label !== target && label !== target.replace(/^mailto:/i, "") ? `${label} (${target})` : label ?? target;
    return whole;
  });
}
