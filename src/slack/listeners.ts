import type { App } from "@slack/bolt";

/**
 * What a capability's Slack listeners register on: Bolt's own methods, so
 * listeners keep Bolt's payload types. Listeners translate a payload into one
 * call to their capability and ack the answer; no logic, no database, no
 * catch (errors reach the one global handler in bolt.ts).
 */
export type SlackListeners = Pick<App, "action" | "view" | "shortcut" | "event">;

/** A modal submission's answer: close it, or show field errors. */
export type ViewAnswer = { close: true } | { errors: Record<string, string> };

export function viewAck(answer: ViewAnswer) {
  return "errors" in answer ? { response_action: "errors" as const, errors: answer.errors } : undefined;
}

/** The Events API envelope's id: a redelivered event carries the same one. */
export function eventKey(body: unknown, fallback: string): string {
  const id = (body as { event_id?: unknown }).event_id;
  return typeof id === "string" && id !== "" ? id : fallback;
}

/** Who clicked, and where: what every button handler gets. */
export interface Clicker {
  userId: string;
  channelId: string | undefined;
  triggerId: string;
}
