/** Helpers for the fake Slack's own tests: a silent logger and a way to inspect failed WebClient calls. */
import { LogLevel, type Logger } from "@slack/web-api";
import { loadSlackContract } from "./contract.ts";

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

export interface CaughtSlackError {
  code: string;
  error?: string;
  data: Record<string, unknown>;
  retryAfter?: number;
  statusCode?: number;
  body?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Awaits a WebClient call that must fail and returns the interesting parts of the error. */
export async function failure(call: Promise<unknown>): Promise<CaughtSlackError> {
  try {
    await call;
  } catch (err: unknown) {
    if (!(err instanceof Error) || !("code" in err) || typeof err.code !== "string") throw err;
    const out: CaughtSlackError = { code: err.code, data: {} };
    if ("data" in err && isRecord(err.data)) {
      out.data = err.data;
      if (typeof err.data["error"] === "string") out.error = err.data["error"];
    }
    if ("retryAfter" in err && typeof err.retryAfter === "number") out.retryAfter = err.retryAfter;
    if ("statusCode" in err && typeof err.statusCode === "number") out.statusCode = err.statusCode;
    if ("body" in err) out.body = err.body;
    return out;
  }
  throw new Error("expected the Slack call to fail, but it succeeded");
}

export function messagesOf(e: CaughtSlackError): string[] {
  const meta = e.data["response_metadata"];
  if (!isRecord(meta) || !Array.isArray(meta["messages"])) return [];
  return meta["messages"].filter((m): m is string => typeof m === "string");
}

/**
 * Every bot scope the contract knows except chat:write.public (so that posting to a public channel
 * the bot is not in still fails): the fake's own tests call methods the app never does
 * (users.info, reactions.add, conversations.join...), which manifest.yml rightly does not ask for.
 */
export function everyBotScopeButPublic(): string[] {
  const scopes = Object.values(loadSlackContract().methods).flatMap((method) => [...method.botScopes]);
  return [...new Set(scopes)].filter((scope) => scope !== "chat:write.public").sort();
}
