/**
 * Coded errors. Every error Firebreak raises on purpose carries a stable `code`
 * so that the one global handler (src/slack/errors.ts, the HTTP error handler)
 * can decide what the user sees without string matching.
 */
export type ErrorCode =
  | "config_invalid"
  | "database_unavailable"
  | "migration_failed"
  | "slack_request_invalid"
  | "command_invalid"
  | "incident_not_found"
  | "not_in_incident_channel"
  | "slack_api_error"
  | "pagerduty_api_error"
  | "slack_rate_limited"
  | "rate_limited"
  | "outbound_timeout"
  | "outbound_unavailable"
  | "job_payload_invalid"
  | "payload_unstorable"
  | "not_ready";

/**
 * The outside systems Firebreak calls, with the names its messages use. The
 * errors of a call to one of them name it (`vendor`); a new vendor is one line here.
 */
export const VENDORS = {
  slack: "Slack",
  github: "GitHub",
  confluence: "Confluence",
  pagerduty: "PagerDuty",
  kubernetes: "Kubernetes",
  argocd: "Argo CD",
  unleash: "Unleash",
  launchdarkly: "LaunchDarkly",
  flagsmith: "Flagsmith",
  webhook: "the remediation webhook",
} as const;
export type Vendor = keyof typeof VENDORS;

export class FirebreakError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A problem with configuration; `problems` holds one human sentence each. */
export class ConfigError extends FirebreakError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super("config_invalid", `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

export class DatabaseUnavailableError extends FirebreakError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("database_unavailable", message, options);
  }
}

export class MigrationError extends FirebreakError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("migration_failed", message, options);
  }
}

/** The user typed something we cannot act on; the message is shown to them as is. */
export class CommandError extends FirebreakError {
  constructor(message: string, code: ErrorCode = "command_invalid") {
    super(code, message);
  }
}

/** An outside system refused a call for good (no point retrying). */
export class PermanentOutboundError extends FirebreakError {
  /** The outside system's own error code, e.g. Slack's "channel_not_found". */
  readonly remoteCode: string;
  /** The outside system's response body, when it says more (e.g. per-user invite errors). */
  readonly details: unknown;
  /** Which outside system, when the caller said. */
  readonly vendor: Vendor | undefined;
  constructor(code: ErrorCode, remoteCode: string, message: string, options?: { cause?: unknown; details?: unknown; vendor?: Vendor }) {
    super(code, message, options);
    this.remoteCode = remoteCode;
    this.details = options?.details;
    this.vendor = options?.vendor;
  }
}

/**
 * An outside system asked us to slow down; retry after `retryAfterMs` (the job
 * queue postpones the job without using an attempt). Code `slack_rate_limited`
 * for Slack, `rate_limited` for any other vendor (or none named).
 */
export class RateLimitedError extends FirebreakError {
  readonly retryAfterMs: number;
  readonly vendor: Vendor | undefined;
  constructor(message: string, retryAfterMs: number, vendor?: Vendor) {
    super(vendor === "slack" ? "slack_rate_limited" : "rate_limited", message);
    this.retryAfterMs = retryAfterMs;
    this.vendor = vendor;
  }
}

/** A failure that may pass: network error, timeout, 5xx. */
export class TransientOutboundError extends FirebreakError {
  /** Which outside system, when the caller said. */
  readonly vendor: Vendor | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; vendor?: Vendor }) {
    super(code, message, options);
    this.vendor = options?.vendor;
  }
}

export function isCoded(error: unknown): error is FirebreakError {
  return error instanceof FirebreakError;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A job's prerequisite is not there yet (the incident channel is still being
 * created, the announcement not posted yet). The job waits without using up
 * an attempt, for at most a day.
 */
export class NotReadyError extends FirebreakError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs = 2_000) {
    super("not_ready", message);
    this.retryAfterMs = retryAfterMs;
  }
}
