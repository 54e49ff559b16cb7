import { createHmac, randomBytes } from "node:crypto";

let triggerSeq = 0;

/** The signing secret every test app is configured with. */
export const TEST_SIGNING_SECRET = "8f742231b10e8888abcd99aaaaaa85a5";
export const TEST_BOT_TOKEN = "xoxb-test-token";

export function signature(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

export interface SendOptions {
  secret?: string;
  /** Seconds since the epoch; defaults to now. */
  timestamp?: number;
  /** Send no signature headers at all. */
  unsigned?: boolean;
  /** Replace the signature with this value. */
  forgedSignature?: string;
  retryNum?: number;
  contentType?: string;
}

export interface SlackResponse {
  status: number;
  body: unknown;
  text: string;
  elapsedMs: number;
}

/** Sends a body to /slack/events the way Slack does, signed unless told otherwise. */
export async function sendToSlackEndpoint(appUrl: string, body: string, options: SendOptions = {}): Promise<SlackResponse> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { "content-type": options.contentType ?? "application/x-www-form-urlencoded" };
  if (!options.unsigned) {
    headers["x-slack-request-timestamp"] = String(timestamp);
    headers["x-slack-signature"] = options.forgedSignature ?? signature(options.secret ?? TEST_SIGNING_SECRET, timestamp, body);
  }
  if (options.retryNum !== undefined) {
    headers["x-slack-retry-num"] = String(options.retryNum);
    headers["x-slack-retry-reason"] = "http_timeout";
  }
  const started = performance.now();
  const response = await fetch(`${appUrl}/slack/events`, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  const elapsedMs = performance.now() - started;
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // plain text answer
  }
  return { status: response.status, body: parsed, text, elapsedMs };
}

/** A slash-command payload as Slack sends it (form-encoded). */
export function slashCommandBody(overrides: Partial<Record<string, string>> & { text: string }): string {
  const fields: Record<string, string> = {
    token: "deprecated-verification-token",
    team_id: "T0TEST0001",
    team_domain: "firebreak-test",
    channel_id: "C0GENERAL1",
    channel_name: "general",
    user_id: "U0DECLARER",
    user_name: "declarer",
    command: "/incident",
    api_app_id: "A0FIREBRK1",
    is_enterprise_install: "false",
    response_url: "https://hooks.slack.com/commands/T0TEST0001/1/secret",
    // Slack sends a fresh trigger_id with every invocation (a retry repeats it).
    trigger_id: `${Date.now()}.${++triggerSeq}.${randomBytes(8).toString("hex")}`,
  };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) fields[key] = value;
  return new URLSearchParams(fields).toString();
}

export function sendCommand(appUrl: string, text: string, overrides: Partial<Record<string, string>> = {}, options: SendOptions = {}) {
  return sendToSlackEndpoint(appUrl, slashCommandBody({ ...overrides, text }), options);
}
