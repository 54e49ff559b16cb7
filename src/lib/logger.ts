import { pino, type Logger, type LoggerOptions, type DestinationStream } from "pino";

export type { Logger } from "pino";

/**
 * Paths pino replaces with "[Redacted]". Slack tokens, the signing secret,
 * Authorization headers and response_urls (which let anyone post into a
 * channel for 30 minutes) must never reach a log line.
 */
export const redactPaths = [
  "token",
  "*.token",
  "botToken",
  "*.botToken",
  "signingSecret",
  "*.signingSecret",
  "appToken",
  "*.appToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "*.headers.cookie",
  "headers['x-slack-signature']",
  "*.headers['x-slack-signature']",
  "response_url",
  "*.response_url",
  "*.*.response_url",
  "body.response_url",
  "password",
  "*.password",
  // Post-mortem exporters: the Confluence API token and the GitHub token (also inside the config).
  "apiToken",
  "*.apiToken",
  "*.*.apiToken",
  "*.*.token",
  // PagerDuty: routing keys (in the YAML and in Events API bodies), the webhook signing secret and its signatures.
  "routingKey",
  "*.routingKey",
  "*.*.routingKey",
  "routing_key",
  "*.routing_key",
  "*.*.routing_key",
  "webhookSecret",
  "*.webhookSecret",
  "*.*.webhookSecret",
  "secret",
  "*.secret",
  "headers['x-pagerduty-signature']",
  "*.headers['x-pagerduty-signature']",
] as const;

// Secrets can also hide inside free text (an error message quoting a URL or a
// token). Scrub the recognisable shapes from every string we log.
const secretPatterns: ReadonlyArray<[RegExp, string]> = [
  [/xox[abposr]-[A-Za-z0-9-]+/g, "xox?-[Redacted]"],
  [/xapp-[A-Za-z0-9-]+/g, "xapp-[Redacted]"],
  [/https:\/\/hooks\.slack\.com\/[^\s"'<>]+/g, "https://hooks.slack.com/[Redacted]"],
  [/(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/g, "$1[Redacted]@"],
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, "$1[Redacted]"],
  // Basic credentials (base64 of user:secret); plain words such as "Basic authentication" are left alone.
  [/(\b[Bb]asic\s+)(?=[A-Za-z0-9+/]*[A-Z0-9+/])[A-Za-z0-9+/]{16,}={0,2}/g, "$1[Redacted]"],
  // GitHub tokens (classic, fine-grained, app and OAuth) and Atlassian API tokens.
  [/\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g, "gh?_[Redacted]"],
  [/\bATATT[A-Za-z0-9_=-]{20,}/g, "ATATT[Redacted]"],
  // PagerDuty REST API keys as sent (`Token token=…`) and v3 webhook signatures.
  [/(Token\s+token=)[^\s"',]+/gi, "$1[Redacted]"],
  [/\bv1=[0-9a-f]{64}\b/gi, "v1=[Redacted]"],
];

export function scrubSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of secretPatterns) out = out.replace(pattern, replacement);
  return out;
}

/** Keys whose values are secrets at any depth (pino's paths stop at a fixed depth; arrays of services hide deeper). */
const SECRET_KEYS: ReadonlySet<string> = new Set(["token", "botToken", "appToken", "apiToken", "signingSecret", "webhookSecret", "secret", "password", "authorization", "routingKey", "routing_key"]);

function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrubSecrets(value);
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) {
    return { type: value.name, message: scrubSecrets(value.message), stack: value.stack ? scrubSecrets(value.stack) : undefined, code: (value as { code?: unknown }).code };
  }
  if (Array.isArray(value)) return value.map((item) => scrubDeep(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = SECRET_KEYS.has(key) && inner !== undefined && inner !== null ? "[Redacted]" : scrubDeep(inner, depth + 1);
  return out;
}

export interface LoggerSettings {
  level: string;
  format: "json" | "pretty";
}

export function createLogger(settings: LoggerSettings, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { service: "firebreak" },
    redact: { paths: [...redactPaths], censor: "[Redacted]" },
    serializers: { err: (err: unknown) => scrubDeep(err) },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((arg) => scrubDeep(arg)) as Parameters<typeof method>;
        method.apply(this, scrubbed);
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  if (settings.format === "pretty") {
    return pino({ ...options, transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l" } } });
  }
  return pino(options);
}
