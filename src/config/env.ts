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
  SLACK_API_URL: z
    .url({ error: "must be an http(s) URL such as https://slack.com/api/" })
    .default("https://slack.com/api/")
    .transform((value) => (value.endsWith("/") ? value : `${value}/`)),
  SLACK_API_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  FIREBREAK_CONFIG: optionalString,
  LOG_LEVEL: z.enum(logLevels, { error: `must be one of ${logLevels.join(", ")}` }).default("info"),
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  // Below `docker stop`'s 10 s grace period, so a drain finishes before SIGKILL.
  ALERTMANAGER_TOKEN: optionalString.refine((value) => value === undefined || value.length >= 16, "must be at least 16 characters (generate one with `openssl rand -hex 32`)"),
  ALERTMANAGER_USERNAME: optionalString,
  ALERTMANAGER_PASSWORD: optionalString.refine((value) => value === undefined || value.length >= 12, "must be at least 12 characters"),
  ALERTMANAGER_ALLOW_INSECURE: z.enum(["true", "false"], { error: "must be true or false" }).default("false"),
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
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  readonly env: Env["NODE_ENV"];
  readonly http: { readonly host: string; readonly port: number };
  readonly database:
    | { readonly kind: "embedded"; readonly dataDir: string }
    | { readonly kind: "postgres"; readonly url: string; readonly poolSize: number };
  readonly slack: {
    readonly botToken: string;
    readonly signingSecret: string;
    readonly apiUrl: string;
    readonly timeoutMs: number;
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
  const parsed = envSchema.safeParse(source);
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
  if (problems.length > 0) throw new ConfigError(problems);
  const config: Config = {
    env: env.NODE_ENV,
    http: { host: env.HOST, port: env.PORT },
    database: env.DATABASE_URL
      ? { kind: "postgres", url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE }
      : { kind: "embedded", dataDir: env.DATA_DIR },
    slack: {
      botToken: env.SLACK_BOT_TOKEN,
      signingSecret: env.SLACK_SIGNING_SECRET,
      apiUrl: env.SLACK_API_URL,
      timeoutMs: env.SLACK_API_TIMEOUT_MS,
    },
    configFile: env.FIREBREAK_CONFIG,
    log: { level: env.LOG_LEVEL, format: env.LOG_FORMAT ?? (env.NODE_ENV === "production" ? "json" : "pretty") },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    apiToken: env.API_TOKEN,
    timeZone: env.TIME_ZONE,
    alertmanager: env.ALERTMANAGER_TOKEN
      ? { kind: "bearer", token: env.ALERTMANAGER_TOKEN }
      : env.ALERTMANAGER_USERNAME && env.ALERTMANAGER_PASSWORD
        ? { kind: "basic", username: env.ALERTMANAGER_USERNAME, password: env.ALERTMANAGER_PASSWORD }
        : env.ALERTMANAGER_ALLOW_INSECURE === "true"
          ? { kind: "insecure" }
          : undefined,
  };
  return deepFreeze(config);
}
