import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/env.ts";
import { ConfigError } from "../../src/lib/errors.ts";
import { scrubSecrets } from "../../src/lib/logger.ts";
import { captureLogs } from "../support/app.ts";

/** The exporters' configuration (on when all its variables are set) and the redaction of their tokens. */

const valid = { SLACK_BOT_TOKEN: "xoxb-1-2-abc", SLACK_SIGNING_SECRET: "8f742231b10e8888abcd99aaaaaa85a5" };
const confluence = {
  CONFLUENCE_BASE_URL: "https://acme.atlassian.net/wiki/",
  CONFLUENCE_EMAIL: "bot@acme.example",
  CONFLUENCE_API_TOKEN: "ATATT3xFfGF0exampleExampleExample1234567890",
  CONFLUENCE_SPACE_ID: "98304",
};
const github = { GITHUB_TOKEN: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", GITHUB_REPOSITORY: "acme/incident-followups" };

/** The problems loadConfig reports (it must refuse the environment). */
function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  const refusal: unknown = (() => {
    try {
      return loadConfig(env);
    } catch (error) {
      return error;
    }
  })();
  expect(refusal).toBeInstanceOf(ConfigError);
  return (refusal as ConfigError).problems;
}

describe("exporter configuration", () => {
  it("both exporters are off by default, with a 10 s timeout", () => {
    expect(loadConfig(valid).exporters).toEqual({ timeoutMs: 10_000, confluence: undefined, github: undefined });
  });

  it("Confluence is on with its four variables; the site URL loses a trailing /wiki", () => {
    const config = loadConfig({ ...valid, ...confluence, CONFLUENCE_PARENT_PAGE_ID: "65868", EXPORT_TIMEOUT_MS: "2500" });
    expect(config.exporters).toEqual({
      timeoutMs: 2_500,
      github: undefined,
      confluence: { baseUrl: "https://acme.atlassian.net", email: "bot@acme.example", apiToken: confluence.CONFLUENCE_API_TOKEN, spaceId: "98304", parentPageId: "65868" },
    });
    expect(Object.isFrozen(config.exporters.confluence)).toBe(true);
  });

  it("GitHub is on with a token and owner/name; API URL defaults to api.github.com; labels are a comma list", () => {
    const config = loadConfig({ ...valid, ...github, GITHUB_LABELS: " incident-followup, , sev " });
    expect(config.exporters.github).toEqual({ apiUrl: "https://api.github.com", token: github.GITHUB_TOKEN, owner: "acme", repo: "incident-followups", labels: ["incident-followup", "sev"] });
    expect(loadConfig({ ...valid, ...github, GITHUB_API_URL: "https://ghe.acme.example/api/v3/" }).exporters.github?.apiUrl).toBe("https://ghe.acme.example/api/v3");
  });

  it("a partial Confluence set is an error naming what is missing", () => {
    const problems = problemsOf({ ...valid, CONFLUENCE_BASE_URL: confluence.CONFLUENCE_BASE_URL, CONFLUENCE_API_TOKEN: confluence.CONFLUENCE_API_TOKEN });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CONFLUENCE_EMAIL, CONFLUENCE_SPACE_ID are missing: the Confluence exporter needs CONFLUENCE_BASE_URL, CONFLUENCE_EMAIL, CONFLUENCE_API_TOKEN, CONFLUENCE_SPACE_ID/);
    expect(problems[0]).not.toContain(confluence.CONFLUENCE_API_TOKEN);
    // The optional parent page alone is a partial set too.
    expect(problemsOf({ ...valid, CONFLUENCE_PARENT_PAGE_ID: "1" })[0]).toMatch(/^CONFLUENCE_BASE_URL, CONFLUENCE_EMAIL, CONFLUENCE_API_TOKEN, CONFLUENCE_SPACE_ID are missing/);
  });

  it("a partial GitHub set is an error naming what is missing", () => {
    expect(problemsOf({ ...valid, GITHUB_TOKEN: github.GITHUB_TOKEN })).toEqual([
      expect.stringMatching(/^GITHUB_REPOSITORY is missing: the GitHub exporter needs GITHUB_TOKEN, GITHUB_REPOSITORY \(GITHUB_TOKEN is set\)/),
    ]);
    expect(problemsOf({ ...valid, GITHUB_REPOSITORY: "acme/x", GITHUB_LABELS: "a" })[0]).toMatch(/^GITHUB_TOKEN is missing/);
  });

  it("bad values are named with how to fix them", () => {
    const problems = problemsOf({
      ...valid,
      ...confluence,
      ...github,
      CONFLUENCE_BASE_URL: "acme.atlassian.net",
      CONFLUENCE_EMAIL: "bot",
      CONFLUENCE_SPACE_ID: "ENG",
      GITHUB_REPOSITORY: "incident-followups",
      GITHUB_API_URL: "ftp://x",
      EXPORT_TIMEOUT_MS: "10",
    });
    const byVariable: Record<string, string> = Object.fromEntries(problems.map((problem) => [problem.split(" ")[0] ?? "", problem]));
    expect(Object.keys(byVariable).sort()).toEqual(["CONFLUENCE_BASE_URL", "CONFLUENCE_EMAIL", "CONFLUENCE_SPACE_ID", "EXPORT_TIMEOUT_MS", "GITHUB_API_URL", "GITHUB_REPOSITORY"]);
    expect(byVariable.CONFLUENCE_SPACE_ID).toContain("not the space key");
    expect(byVariable.GITHUB_REPOSITORY).toContain("owner/name");
  });
});

describe("exporter secrets in logs", () => {
  function capture() {
    const logs = captureLogs("debug");
    return { logger: logs.logger, output: () => logs.text() };
  }

  it("redacts the exporter tokens by key, including inside the configuration", () => {
    const { logger, output } = capture();
    const config = loadConfig({ ...valid, ...confluence, ...github });
    logger.info({ exporters: config.exporters }, "config");
    logger.info({ apiToken: confluence.CONFLUENCE_API_TOKEN, github: { token: github.GITHUB_TOKEN } }, "keys");
    const text = output();
    expect(text).toContain("[Redacted]");
    expect(text).not.toContain(confluence.CONFLUENCE_API_TOKEN);
    expect(text).not.toContain(github.GITHUB_TOKEN);
    // What is not secret stays readable.
    expect(text).toContain("acme/incident-followups".split("/")[1]);
  });

  it("scrubs GitHub and Atlassian tokens and Basic credentials from free text", () => {
    const basic = Buffer.from(`bot@acme.example:${confluence.CONFLUENCE_API_TOKEN}`).toString("base64");
    const text = scrubSecrets(`token ghp_${"a".repeat(36)} pat ${github.GITHUB_TOKEN} atl ${confluence.CONFLUENCE_API_TOKEN} header Basic ${basic}`);
    expect(text).not.toMatch(/ghp_a{10}/);
    expect(text).not.toContain(github.GITHUB_TOKEN);
    expect(text).not.toContain(confluence.CONFLUENCE_API_TOKEN);
    expect(text).not.toContain(basic);
    expect(text).toContain("Basic [Redacted]");
    // Words are not credentials.
    expect(scrubSecrets("Basic authentication failed")).toBe("Basic authentication failed");
  });

  it("an error message carrying a token is scrubbed when logged", () => {
    const { logger, output } = capture();
    logger.error({ err: new Error(`GitHub said no to ${github.GITHUB_TOKEN}`) }, "export failed");
    expect(output()).not.toContain(github.GITHUB_TOKEN);
    expect(output()).toContain("GitHub said no to");
  });
});
