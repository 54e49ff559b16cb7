import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/http/metrics.ts";
import { createHttpServer, type HttpServer } from "../../src/http/server.ts";
import { captureLogs, type LogCapture } from "../support/app.ts";

/** The request logger is made lazily (see lazyChildLogger); what a request logs keeps its id and the redaction. */
let server: HttpServer;
let logs: LogCapture;

beforeAll(async () => {
  logs = captureLogs("debug");
  server = createHttpServer({ logger: logs.logger, metrics: createMetrics(), checkReady: async () => undefined });
  server.get("/logs", async (request) => {
    request.log.info({ authorization: "Bearer xoxb-123456789012-secret" }, "handled");
    request.log.child({ step: "inner" }).debug("deeper");
    return { level: request.log.level };
  });
  server.get("/fails", async () => {
    throw new Error("boom");
  });
  await server.ready();
});

afterAll(async () => {
  await server?.close();
});

function linesWith(message: string): Array<Record<string, unknown>> {
  return logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === message);
}

describe("request loggers", () => {
  it("carry the request id, redact secrets and keep the level", async () => {
    const answer = await server.inject({ method: "GET", url: "/logs" });
    expect(answer.json()).toEqual({ level: "debug" });
    const [handled] = linesWith("handled");
    expect(handled).toMatchObject({ component: "http" });
    expect(handled!.reqId).toMatch(/^req-/);
    expect(JSON.stringify(handled)).not.toContain("xoxb-123456789012-secret");
    expect(linesWith("deeper")).toEqual([expect.objectContaining({ reqId: handled!.reqId, step: "inner" })]);
    // No access log per request: Prometheus metrics count them.
    expect(linesWith("incoming request")).toEqual([]);
    expect(linesWith("request completed")).toEqual([]);
  });

  it("log a failing request once, with its id", async () => {
    const answer = await server.inject({ method: "GET", url: "/fails" });
    expect(answer.statusCode).toBe(500);
    const failed = linesWith("unhandled error");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reqId).toMatch(/^req-/);
    expect(failed[0]!.err).toMatchObject({ message: "boom" });
  });
});
