import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/env.ts";
import { ConfigError } from "../../src/lib/errors.ts";

const valid = { SLACK_BOT_TOKEN: "xoxb-1-2-abc", SLACK_SIGNING_SECRET: "8f742231b10e8888abcd99yyyzzz85a5".replace(/[yz]/g, "a") };

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("needs only the bot token and signing secret; the rest has defaults", () => {
    const config = loadConfig(valid);
    expect(config.http.port).toBe(3000);
    expect(config.database).toEqual({ kind: "embedded", dataDir: ".data", poolSize: 10 });
    expect(config.slack.apiUrl).toBe("https://slack.com/api/");
    expect(config.configFile).toBeUndefined();
  });

  it("uses PostgreSQL when DATABASE_URL is set", () => {
    const config = loadConfig({ ...valid, DATABASE_URL: "postgresql://u:p@db:5432/firebreak", DATABASE_POOL_SIZE: "5" });
    expect(config.database).toEqual({ kind: "postgres", url: "postgresql://u:p@db:5432/firebreak", poolSize: 5 });
  });

  it("is frozen all the way down", () => {
    const config = loadConfig(valid);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.slack)).toBe(true);
    expect(() => {
      (config.slack as { botToken: string }).botToken = "x";
    }).toThrow(TypeError);
  });

  it("reports every problem at once, one sentence per variable", () => {
    const problems = problemsOf({ PORT: "eighty", DATABASE_URL: "mysql://x", LOG_LEVEL: "loud" });
    const byVariable = (name: string) => problems.filter((problem) => problem.startsWith(`${name} `));
    expect(byVariable("SLACK_BOT_TOKEN")).toHaveLength(1);
    expect(byVariable("SLACK_BOT_TOKEN")[0]).toMatch(/required.*OAuth & Permissions/);
    expect(byVariable("SLACK_SIGNING_SECRET")[0]).toMatch(/required.*Basic Information/);
    expect(byVariable("PORT")[0]).toMatch(/number/);
    expect(byVariable("DATABASE_URL")[0]).toMatch(/PostgreSQL URL/);
    expect(byVariable("LOG_LEVEL")[0]).toMatch(/one of/);
    expect(problems).toHaveLength(5);
  });

  it("rejects a user token where a bot token belongs, and a non-hex secret", () => {
    const problems = problemsOf({ SLACK_BOT_TOKEN: "xoxp-123", SLACK_SIGNING_SECRET: "not a secret" });
    expect(problems.join("\n")).toMatch(/SLACK_BOT_TOKEN must be a bot token starting with xoxb-/);
    expect(problems.join("\n")).toMatch(/SLACK_SIGNING_SECRET must be the hexadecimal Signing Secret/);
  });

  it("receives Slack over Socket Mode with an app-level token, where no signing secret is needed", () => {
    const config = loadConfig({ SLACK_BOT_TOKEN: valid.SLACK_BOT_TOKEN, SLACK_APP_TOKEN: "xapp-1-A0FIREBRK1-123-abc" });
    expect(config.slack.appToken).toBe("xapp-1-A0FIREBRK1-123-abc");
    expect(config.slack.signingSecret).toBeUndefined();
    expect(loadConfig(valid).slack.appToken).toBeUndefined();
    expect(problemsOf({ ...valid, SLACK_APP_TOKEN: "xoxb-1-2-abc" }).join("\n")).toMatch(/SLACK_APP_TOKEN must be an app-level token starting with xapp-/);
    expect(problemsOf({ SLACK_BOT_TOKEN: valid.SLACK_BOT_TOKEN, SLACK_APP_TOKEN: "xapp-1-A-1-a", SLACK_SIGNING_SECRET: "not hex" }).join("\n")).toMatch(/SLACK_SIGNING_SECRET must be the hexadecimal/);
    expect(problemsOf({ SLACK_BOT_TOKEN: valid.SLACK_BOT_TOKEN }).join("\n")).toMatch(/SLACK_SIGNING_SECRET is required/);
  });

  it("treats an empty DATABASE_URL as unset", () => {
    expect(loadConfig({ ...valid, DATABASE_URL: "" }).database.kind).toBe("embedded");
  });

  it("normalises SLACK_API_URL to end with a slash", () => {
    expect(loadConfig({ ...valid, SLACK_API_URL: "http://127.0.0.1:9/api" }).slack.apiUrl).toBe("http://127.0.0.1:9/api/");
  });
});
