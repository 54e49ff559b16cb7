import { z } from "zod";
import { ConfigError } from "../lib/errors.ts";

/**
 * Every environment variable Firebreak reads, in one schema. Nothing else in
 * src/ reads process.env: main.ts passes it here once and hands the frozen
 * result to the composition root.
 */
const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const optionalString = z
  .string()
  .transform((value) => value.trim())
  .pipe(z.string())
  .optional()
  .transform((value) => (value === "" ? undefined : value));

export const envSchema = z.object({
  NODE_ENV: z.enum(["production", "development", "test"]).default("development"),
  HOST: z.string().min(1).default("0.0.0.0"),
  PORT: z.coerce
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(0, "must be between 0 and 65535")
    .max(65535, "must be between 0 and 65535")
    .default(3000),
  DATABASE_URL: optionalString.refine(
    (value) => value === undefined || /^postgres(ql)?:\/\/.+/.test(value),
    "must be a PostgreSQL URL such as postgresql://user:password@host:5432/firebreak (or unset to use the embedded database)",
  ),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  DATA_DIR: z.string().min(1).default(".data"),
  SLACK_BOT_TOKEN: z
    .string({ error: "is required: the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page" })
    .min(1, "is required: the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page")
    .refine((value) => value.startsWith("xoxb-"), "must be a bot token starting with xoxb- (OAuth & Permissions > Bot User OAuth Token)"),
  SLACK_SIGNING_SECRET: z
    .string({ error: "is required: the Signing Secret from your Slack app's Basic Information page" })
    .min(1, "is required: the Signing Secret from your Slack app's Basic Information page")
    .refine((value) => /^[0-9a-f]{16,}$/i.test(value), "must be the hexadecimal Signing Secret from Basic Information > App Credentials"),
  /** An app-level token (xapp-…, scope connections:write): Slack is received over Socket Mode instead of /slack/events. */
  SLACK_APP_TOKEN: optionalString.refine(
    (value) => value === undefined || /^xapp-[A-Za-z0-9-]+$/.test(value),
    "must be an app-level token starting with xapp- (Basic Information > App-Level Tokens, with the connections:write scope)",
  ),
  SLACK_API_URL: z
    .url({ error: "must be an http(s) URL such as https://slack.com/api/" })
    .default("https://slack.com/api/")
    .transform((value) => (value.endsWith("/") ? value : `${value}/`)),
  SLACK_API_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** conversations.create is Tier 2 (about 20 a minute): channel creations are paced to this. */
  SLACK_CHANNELS_PER_MINUTE: z.coerce.number().int().min(1).max(6_000).default(20),
  FIREBREAK_CONFIG: optionalString,
  LOG_LEVEL: z.enum(logLevels, { error: `must be one of ${logLevels.join(", ")}` }).default("info"),
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  // Below `docker stop`'s 10 s grace period, so a drain finishes before SIGKILL.
  ALERTMANAGER_TOKEN: optionalString.refine((value) => value === undefined || value.length >= 16, "must be at least 16 characters (generate one with `openssl rand -hex 32`)"),
  ALERTMANAGER_USERNAME: optionalString,
  ALERTMANAGER_PASSWORD: optionalString.refine((value) => value === undefined || value.length >= 12, "must be at least 12 characters"),
  ALERTMANAGER_ALLOW_INSECURE: z.enum(["true", "false"], { error: "must be true or false" }).default("false"),
  /** Processed Alertmanager deliveries (raw payloads) are deleted after this many days. */
  ALERT_DELIVERY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3_650).default(7),
  API_TOKEN: optionalString.refine((value) => value === undefined || value.length >= 16, "must be at least 16 characters (generate one with `openssl rand -hex 32`)"),
  TIME_ZONE: z
    .string()
    .default("UTC")
    .refine((zone) => {
      try {
        new Intl.DateTimeFormat("en", { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    }, "must be an IANA time zone such as Europe/Paris"),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(120_000).default(8_000),
  // Post-mortem exporters: each is on when all its required variables are set (see loadConfig).
  CONFLUENCE_BASE_URL: optionalString.refine((value) => value === undefined || isHttpUrl(value), "must be your Confluence Cloud site URL, such as https://your-site.atlassian.net"),
  CONFLUENCE_EMAIL: optionalString.refine((value) => value === undefined || /^[^\s@]+@[^\s@]+$/.test(value), "must be the email address of the Atlassian account that owns CONFLUENCE_API_TOKEN"),
  CONFLUENCE_API_TOKEN: optionalString,
  CONFLUENCE_SPACE_ID: optionalString.refine((value) => value === undefined || /^\d+$/.test(value), "must be the numeric space id, not the space key (GET /wiki/api/v2/spaces?keys=<KEY> shows it)"),
  CONFLUENCE_PARENT_PAGE_ID: optionalString.refine((value) => value === undefined || /^\d+$/.test(value), "must be a numeric page id (the number in the page's URL)"),
  GITHUB_TOKEN: optionalString,
  GITHUB_REPOSITORY: optionalString.refine((value) => value === undefined || /^[\w.-]+\/[\w.-]+$/.test(value), "must be owner/name, such as acme/incident-followups"),
  GITHUB_API_URL: optionalString
    .refine((value) => value === undefined || isHttpUrl(value), "must be an http(s) URL such as https://api.github.com (GitHub Enterprise Server: https://<host>/api/v3)")
    .transform((value) => (value ?? "https://api.github.com").replace(/\/+$/, "")),
  GITHUB_LABELS: optionalString,
  EXPORT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  // PagerDuty: pages go out through the Events API (routing keys in the YAML); the REST key reads on-call schedules.
  PAGERDUTY_TOKEN: optionalString,
  PAGERDUTY_API_URL: optionalString
    .refine((value) => value === undefined || isHttpsUrl(value), "must be an https URL such as https://api.pagerduty.com (or https://api.eu.pagerduty.com)")
    .transform((value) => (value ?? "https://api.pagerduty.com").replace(/\/+$/, "")),
  PAGERDUTY_EVENTS_URL: optionalString
    .refine((value) => value === undefined || isHttpsUrl(value), "must be an https URL such as https://events.pagerduty.com (or https://events.eu.pagerduty.com)")
    .transform((value) => (value ?? "https://events.pagerduty.com").replace(/\/+$/, "")),
  PAGERDUTY_WEBHOOK_SECRET: optionalString.refine((value) => value === undefined || value.length >= 16, "must be the signing secret PagerDuty shows when you create the v3 webhook subscription"),
  PAGERDUTY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** A page still not accepted this long after it was due is reported in the incident channel (and keeps being retried). */
  PAGERDUTY_DELAY_WARNING_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
  /** Deadline of one remediation call (a rollback, a flag change), retries within it included. */
  REMEDIATION_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(120_000).default(20_000),
  /** How often the reconciler compares open incidents with Slack (channel, header, bookmark); 0 turns it off. */
  RECONCILE_INTERVAL_SECONDS: z.coerce
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number of seconds")
    .refine((value) => value === 0 || (value >= 30 && value <= 86_400), "must be 0 (off) or between 30 and 86400 seconds")
    .default(300),
  /** The reconciler checks at most this many incidents a minute (each check reads Slack three times: Tier 3 methods allow about 50 a minute). */
  RECONCILE_CHECKS_PER_MINUTE: z.coerce.number().int().min(1).max(600).default(20),
});

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" && url.hostname !== "" && url.username === "" && url.password === "" && url.search === "";
  } catch {
    return false;
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/**
 * The exporters' variables: all of `required` set turns an exporter on, none
 * leaves it off; anything in between is a mistake, named in one sentence.
 */
function partialGroupProblem(name: string, required: Record<string, string | undefined>, optional: Record<string, string | undefined>): string | undefined {
  const set = Object.keys(required).filter((key) => required[key] !== undefined);
  const missing = Object.keys(required).filter((key) => required[key] === undefined);
  const extras = Object.keys(optional).filter((key) => optional[key] !== undefined);
  if (missing.length === 0 || set.length + extras.length === 0) return undefined;
  return `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing: the ${name} exporter needs ${Object.keys(required).join(", ")} (${[...set, ...extras].join(", ")} ${set.length + extras.length === 1 ? "is" : "are"} set); set them all to turn it on, or unset ${set.length + extras.length === 1 ? "it" : "them"} to leave it off`;
}

export interface ConfluenceExportConfig {
  /** The site, e.g. https://acme.atlassian.net (without /wiki). */
  readonly baseUrl: string;
  readonly email: string;
  readonly apiToken: string;
  readonly spaceId: string;
  readonly parentPageId: string | undefined;
}

export interface GitHubExportConfig {
  readonly apiUrl: string;
  readonly token: string;
  readonly owner: string;
  readonly repo: string;
  readonly labels: readonly string[];
}

export type Env = z.infer<typeof envSchema>;

/** Over Socket Mode, Slack signs nothing: the signing secret is not needed (checked when given). */
const socketModeEnvSchema = envSchema.extend({
  SLACK_SIGNING_SECRET: optionalString.refine(
    (value) => value === undefined || /^[0-9a-f]{16,}$/i.test(value),
    "must be the hexadecimal Signing Secret from Basic Information > App Credentials",
  ),
});

export interface Config {
  readonly env: Env["NODE_ENV"];
  readonly http: { readonly host: string; readonly port: number };
  readonly database:
    | { readonly kind: "embedded"; readonly dataDir: string; readonly poolSize: number }
    | { readonly kind: "postgres"; readonly url: string; readonly poolSize: number };
  readonly slack: {
    readonly botToken: string;
    /** Verifies /slack/events requests; undefined in Socket Mode, where the endpoint is off. */
    readonly signingSecret: string | undefined;
    /** Socket Mode's app-level token; undefined: Slack reaches Firebreak over HTTP (/slack/events). */
    readonly appToken: string | undefined;
    readonly apiUrl: string;
    readonly timeoutMs: number;
    readonly channelsPerMinute: number;
  };
  readonly configFile: string | undefined;
  readonly log: { readonly level: Env["LOG_LEVEL"]; readonly format: "json" | "pretty" };
  readonly shutdownTimeoutMs: number;
  /** Bearer token for the HTTP API (post-mortem exports); undefined = the API is off. */
  readonly apiToken: string | undefined;
  /** Post-mortems show times in UTC and in this zone. */
  readonly timeZone: string;
  /** How Alertmanager authenticates; undefined = the webhook endpoint is off. */
  readonly alertmanager: { readonly kind: "bearer"; readonly token: string } | { readonly kind: "basic"; readonly username: string; readonly password: string } | { readonly kind: "insecure" } | undefined;
  readonly alertDeliveryRetentionDays: number;
  /** Post-mortem exporters; undefined = that exporter is off. */
  readonly exporters: {
    readonly timeoutMs: number;
    readonly confluence: ConfluenceExportConfig | undefined;
    readonly github: GitHubExportConfig | undefined;
  };
  readonly pagerduty: PagerDutyConfig;
  readonly remediationTimeoutMs: number;
  /** The reconciler (src/reconcile/): a round every `intervalMs` (0: off), one incident every 60 s / `checksPerMinute`. */
  readonly reconcile: { readonly intervalMs: number; readonly checksPerMinute: number };
  /**
   * Reads a variable the YAML names for a secret (`tokenEnv: UNLEASH_ADMIN_TOKEN`), from the same
   * snapshot of the environment as everything else; a function, so the values never appear when
   * the configuration is printed or logged.
   */
  readonly secret: (name: string) => string | undefined;
}

export interface PagerDutyConfig {
  /** REST API key (read-only is enough for on-call lookups; paging a person opens an incident, which needs write). Undefined: no on-call lookups, no `/incident page @user`. */
  readonly token: string | undefined;
  readonly apiUrl: string;
  readonly eventsUrl: string;
  /** Verifies POST /webhooks/pagerduty; undefined: that endpoint is off. */
  readonly webhookSecret: string | undefined;
  readonly timeoutMs: number;
  readonly delayWarningMs: number;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates the environment and returns the frozen configuration. Throws a
 * ConfigError listing one sentence per problem (variable, what is wrong, how
 * to fix it); never a stack trace for the user.
 */
export function loadConfig(source: Readonly<Record<string, string | undefined>>): Config {
  const parsed = (source.SLACK_APP_TOKEN?.trim() ? socketModeEnvSchema : envSchema).safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join(".") || "environment";
      const message = issue.code === "invalid_type" && source[name] === undefined && !issue.message.startsWith("is required")
        ? "is required"
        : issue.message;
      return `${name} ${message}`;
    });
    throw new ConfigError(problems);
  }
  const env = parsed.data;
  const basicParts = [env.ALERTMANAGER_USERNAME, env.ALERTMANAGER_PASSWORD].filter((value) => value !== undefined).length;
  const problems: string[] = [];
  if (basicParts === 1) problems.push("ALERTMANAGER_USERNAME and ALERTMANAGER_PASSWORD must be set together (basic auth), or use ALERTMANAGER_TOKEN");
  if (env.ALERTMANAGER_TOKEN && basicParts === 2) problems.push("ALERTMANAGER_TOKEN cannot be combined with ALERTMANAGER_USERNAME/ALERTMANAGER_PASSWORD: choose bearer or basic auth");
  const confluence = {
    CONFLUENCE_BASE_URL: env.CONFLUENCE_BASE_URL,
    CONFLUENCE_EMAIL: env.CONFLUENCE_EMAIL,
    CONFLUENCE_API_TOKEN: env.CONFLUENCE_API_TOKEN,
    CONFLUENCE_SPACE_ID: env.CONFLUENCE_SPACE_ID,
  };
  const github = { GITHUB_TOKEN: env.GITHUB_TOKEN, GITHUB_REPOSITORY: env.GITHUB_REPOSITORY };
  for (const problem of [
    partialGroupProblem("Confluence", confluence, { CONFLUENCE_PARENT_PAGE_ID: env.CONFLUENCE_PARENT_PAGE_ID }),
    partialGroupProblem("GitHub", github, { GITHUB_LABELS: env.GITHUB_LABELS }),
  ]) {
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const snapshot: Readonly<Record<string, string | undefined>> = Object.freeze({ ...source });
  const config: Config = {
    secret: (name) => {
      const value = snapshot[name]?.trim();
      return value === undefined || value === "" ? undefined : value;
    },
    env: env.NODE_ENV,
    http: { host: env.HOST, port: env.PORT },
    database: env.DATABASE_URL
      ? { kind: "postgres", url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE }
      : { kind: "embedded", dataDir: env.DATA_DIR, poolSize: env.DATABASE_POOL_SIZE },
    slack: {
      botToken: env.SLACK_BOT_TOKEN,
      signingSecret: env.SLACK_SIGNING_SECRET,
      appToken: env.SLACK_APP_TOKEN,
      apiUrl: env.SLACK_API_URL,
      timeoutMs: env.SLACK_API_TIMEOUT_MS,
      channelsPerMinute: env.SLACK_CHANNELS_PER_MINUTE,
    },
    configFile: env.FIREBREAK_CONFIG,
    log: { level: env.LOG_LEVEL, format: env.LOG_FORMAT ?? (env.NODE_ENV === "production" ? "json" : "pretty") },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    apiToken: env.API_TOKEN,
    timeZone: env.TIME_ZONE,
    alertDeliveryRetentionDays: env.ALERT_DELIVERY_RETENTION_DAYS,
    alertmanager: env.ALERTMANAGER_TOKEN
      ? { kind: "bearer", token: env.ALERTMANAGER_TOKEN }
      : env.ALERTMANAGER_USERNAME && env.ALERTMANAGER_PASSWORD
        ? { kind: "basic", username: env.ALERTMANAGER_USERNAME, password: env.ALERTMANAGER_PASSWORD }
        : env.ALERTMANAGER_ALLOW_INSECURE === "true"
          ? { kind: "insecure" }
          : undefined,
    exporters: {
      timeoutMs: env.EXPORT_TIMEOUT_MS,
      confluence:
        env.CONFLUENCE_BASE_URL && env.CONFLUENCE_EMAIL && env.CONFLUENCE_API_TOKEN && env.CONFLUENCE_SPACE_ID
          ? {
              baseUrl: env.CONFLUENCE_BASE_URL.replace(/\/+$/, "").replace(/\/wiki$/, ""),
              email: env.CONFLUENCE_EMAIL,
              apiToken: env.CONFLUENCE_API_TOKEN,
              spaceId: env.CONFLUENCE_SPACE_ID,
              parentPageId: env.CONFLUENCE_PARENT_PAGE_ID,
            }
          : undefined,
      github:
        env.GITHUB_TOKEN && env.GITHUB_REPOSITORY
          ? {
              apiUrl: env.GITHUB_API_URL,
              token: env.GITHUB_TOKEN,
              owner: env.GITHUB_REPOSITORY.split("/")[0] ?? "",
              repo: env.GITHUB_REPOSITORY.split("/")[1] ?? "",
              labels: (env.GITHUB_LABELS ?? "").split(",").map((label) => label.trim()).filter((label) => label !== ""),
            }
          : undefined,
    },
    remediationTimeoutMs: env.REMEDIATION_TIMEOUT_MS,
    reconcile: { intervalMs: env.RECONCILE_INTERVAL_SECONDS * 1_000, checksPerMinute: env.RECONCILE_CHECKS_PER_MINUTE },
    pagerduty: {
      token: env.PAGERDUTY_TOKEN,
      apiUrl: env.PAGERDUTY_API_URL,
      eventsUrl: env.PAGERDUTY_EVENTS_URL,
      webhookSecret: env.PAGERDUTY_WEBHOOK_SECRET,
      timeoutMs: env.PAGERDUTY_TIMEOUT_MS,
      delayWarningMs: env.PAGERDUTY_DELAY_WARNING_SECONDS * 1_000,
    },
  };
  return deepFreeze(config);
}
