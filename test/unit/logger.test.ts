import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, scrubSecrets } from "../../src/lib/logger.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString("utf8"));
      callback();
    },
  });
  const logger = createLogger({ level: "debug", format: "json" }, stream);
  return { logger, output: () => lines.join("") };
}

const token = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp";
const secret = "8f742231b10e8888abcd99aaaaaa85a5";
const responseUrl = "https://hooks.slack.com/commands/T000/123/abcDEF";

describe("log redaction", () => {
  it("redacts tokens, the signing secret, Authorization headers and response_urls by key", () => {
    const { logger, output } = capture();
    logger.info({ token, config: { botToken: token, signingSecret: secret }, headers: { authorization: `Bearer ${token}` }, body: { response_url: responseUrl } }, "request");
    logger.info({ req: { headers: { authorization: "Basic dXNlcjpwYXNz", "x-slack-signature": "v0=abc" } } }, "incoming");
    const text = output();
    expect(text).toContain("[Redacted]");
    expect(text).not.toContain(token);
    expect(text).not.toContain(secret);
    expect(text).not.toContain("dXNlcjpwYXNz");
    expect(text).not.toContain(responseUrl);
    expect(text).not.toContain("v0=abc");
  });

  it("redacts Socket Mode's app-level token by key and inside text", () => {
    const { logger, output } = capture();
    const appToken = "xapp-1-A0FIREBRK1-1234567890-abcdef0123456789";
    logger.info({ config: { slack: { appToken } }, appToken }, "config");
    logger.warn({ err: new Error(`apps.connections.open refused ${appToken}`) }, `socket ${appToken}`);
    const text = output();
    expect(text).not.toContain("abcdef0123456789");
    expect(text).toContain("apps.connections.open refused");
  });

  it("scrubs secrets that hide inside messages and errors", () => {
    const { logger, output } = capture();
    logger.error({ err: new Error(`call failed with token ${token} for ${responseUrl}`) }, `retrying ${token}`);
    logger.warn({ note: "db postgresql://firebreak:hunter2@db:5432/x down" }, "oops");
    const text = output();
    expect(text).not.toContain(token);
    expect(text).not.toContain(responseUrl);
    expect(text).not.toContain("hunter2");
    expect(text).toContain("call failed with token");
    expect(text).toContain("postgresql://firebreak:[Redacted]@db:5432/x");
  });

  it("redacts PagerDuty's token, routing keys and webhook secret by key and inside text", () => {
    const { logger, output } = capture();
    const pdToken = "u+AbCdEfGhIjKlMnOpQr";
    const routingKey = "R0UT1NGKEY0123456789abcdefABCDEF";
    const webhookSecret = "whsec-9f8e7d6c5b4a39281706";
    const signature = `v1=${"ab12".repeat(16)}`;
    logger.info({ config: { pagerduty: { token: pdToken, webhookSecret }, services: [{ pagerduty: { routingKey } }] } }, "config");
    logger.info({ body: { routing_key: routingKey, event_action: "trigger" }, req: { headers: { "x-pagerduty-signature": signature } } }, "event");
    logger.warn({ err: new Error(`GET /oncalls with Token token=${pdToken} failed`) }, `signature ${signature} refused`);
    const text = output();
    expect(text).toContain("[Redacted]");
    for (const secretValue of [pdToken, routingKey, webhookSecret, signature]) expect(text).not.toContain(secretValue);
    expect(text).toContain("GET /oncalls with Token token=[Redacted] failed");
  });

  it("keeps ordinary text intact", () => {
    expect(scrubSecrets("INC-12 declared by <@U123> in #inc-12")).toBe("INC-12 declared by <@U123> in #inc-12");
  });
});
