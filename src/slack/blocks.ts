import { SLACK_LIMITS, plain, truncate } from "./text.ts";

/**
 * Small Block Kit builders shared by every domain's views. They take text
 * that is already escaped (safeText) where mrkdwn is concerned, and enforce
 * Slack's length limits.
 */

/** A date every reader sees in their own time zone, with an ISO fallback. */
export function slackDate(date: Date): string {
  const unix = Math.floor(date.getTime() / 1000);
  return `<!date^${unix}^{date_short_pretty} at {time}|${date.toISOString()}>`;
}

export function section(text: string, accessory?: unknown): unknown {
  return { type: "section", text: { type: "mrkdwn", text: truncate(text, SLACK_LIMITS.sectionText) }, ...(accessory ? { accessory } : {}) };
}

export function context(text: string): unknown {
  return { type: "context", elements: [{ type: "mrkdwn", text: text.slice(0, SLACK_LIMITS.contextElementText) }] };
}

export function option(text: string, value: string) {
  return { text: { type: "plain_text", text: plain(text, 75), emoji: true }, value };
}

export function modal(callbackId: string, title: string, submit: string | undefined, blocks: unknown[], privateMetadata = ""): unknown {
  return {
    type: "modal",
    callback_id: callbackId,
    private_metadata: privateMetadata,
    title: { type: "plain_text", text: plain(title, 24) },
    ...(submit ? { submit: { type: "plain_text", text: submit } } : {}),
    close: { type: "plain_text", text: submit ? "Cancel" : "Close" },
    blocks,
  };
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A modal's private_metadata as the JSON object the app put there; {} if it is anything else. */
export function parsePrivateMetadata(raw: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
