import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError } from "../../src/lib/errors.ts";
import { createOutboundClient, type OutboundClientOptions } from "../../src/lib/outbound.ts";
import { toOutboundError } from "../../src/slack/api.ts";
import { startFake, type Answer, type RecordedRequest, type RunningFake } from "../fakes/http-kit.ts";

/**
 * The outbound client (src/lib/outbound.ts) against real HTTP servers on
 * 127.0.0.1: deadline, retries with backoff, Retry-After, errors naming the
 * vendor, redirects. Waits between attempts go through an injected sleep that
 * records them and moves an injected clock, so nothing sleeps for real.
 */

const running: RunningFake[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((fake) => fake.close()));
});

/**
 * A fake that gives the scripted answers in order, then the last one again.
 * `arrived` counts requests as they come in (`requests` records them once
 * answered, so never a hung one).
 */
async function serve(...answers: (Answer | "hang")[]): Promise<RunningFake & { readonly arrived: number }> {
  let arrived = 0;
  const fake = await startFake(() => {
    const answer = answers[Math.min(arrived, answers.length - 1)]!;
    arrived += 1;
    return answer === "hang" ? new Promise<Answer>(() => undefined) : answer;
  });
  running.push(fake);
  return {
    url: fake.url,
    requests: fake.requests,
    close: () => fake.close(),
    get arrived() {
      return arrived;
    },
  };
}

const ok: Answer = { status: 200, body: { ok: true } };
const unavailable: Answer = { status: 503, body: { message: "try later" } };

/** A client whose waits are recorded and only move its clock. */
function client(overrides: Partial<OutboundClientOptions> = {}) {
  let clock = Date.parse("2026-11-22T10:00:00Z");
  const waits: number[] = [];
  const api = createOutboundClient({
    vendor: "github",
    timeoutMs: 5_000,
    now: () => clock,
    random: () => 0,
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
    ...overrides,
  });
  return { api, waits, advance: (ms: number) => (clock += ms) };
}

const statuses = (requests: RecordedRequest[]) => requests.map((request) => request.status);

describe("the outbound client", () => {
  it("sends JSON with the client's and the call's headers, and parses the JSON answer", async () => {
    const fake = await serve({ status: 201, body: { id: 7 } });
    const { api } = client({ headers: { authorization: "Bearer s3cret", Accept: "application/vnd.github+json" } });
    const response = await api.send({ operation: "create issue", method: "POST", url: `${fake.url}/issues`, headers: { "x-extra": "1" }, body: { title: "t" } });
    expect(response).toMatchObject({ status: 201, json: { id: 7 } });
    expect(fake.requests[0]).toMatchObject({ method: "POST", path: "/issues", json: { title: "t" } });
    expect(fake.requests[0]!.headers).toMatchObject({ authorization: "Bearer s3cret", accept: "application/vnd.github+json", "x-extra": "1", "content-type": "application/json; charset=utf-8" });
  });

  it("503 then 200: retried after a jittered backoff, and succeeds with exactly two requests", async () => {
    const fake = await serve(unavailable, ok);
    const { api, waits } = client({ backoffMs: 200 });
    const response = await api.send({ operation: "list issues", method: "GET", url: `${fake.url}/issues` });
    expect(response.status).toBe(200);
    expect(statuses(fake.requests)).toEqual([503, 200]);
    // random() = 0: half of the first backoff.
    expect(waits).toEqual([100]);
  });

  it("backs off exponentially, gives up after the retries and hands the last answer to the caller", async () => {
    const fake = await serve(unavailable);
    const { api, waits } = client({ backoffMs: 200, retries: 2, random: () => 0.5 });
    const response = await api.send({ operation: "update page", method: "PUT", url: `${fake.url}/pages/1`, body: {} });
    expect(response.status).toBe(503);
    expect(statuses(fake.requests)).toEqual([503, 503, 503]);
    expect(waits).toEqual([150, 300]);
  });

  it("a backoff that does not fit in what is left of the deadline is not waited: one request, the answer returned", async () => {
    const fake = await serve(unavailable, ok);
    const { api, waits } = client({ timeoutMs: 1_000, backoffMs: 5_000 });
    const response = await api.send({ operation: "list issues", method: "GET", url: `${fake.url}/issues` });
    expect(response.status).toBe(503);
    expect(fake.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("429 with a Retry-After that fits: waits exactly that long and retries", async () => {
    const fake = await serve({ status: 429, body: { message: "slow down" }, headers: { "retry-after": "1" } }, ok);
    const { api, waits } = client({ timeoutMs: 5_000 });
    const response = await api.send({ operation: "get page 1", method: "GET", url: `${fake.url}/pages/1` });
    expect(response.status).toBe(200);
    expect(statuses(fake.requests)).toEqual([429, 200]);
    expect(waits).toEqual([1_000]);
  });

  it.each([
    ["delta-seconds", () => "120", 120_000],
    ["an HTTP date", () => new Date(Date.parse("2026-11-22T10:00:00Z") + 90_000).toUTCString(), 90_000],
  ])("429 with a Retry-After (%s) beyond the deadline: RateLimitedError naming the vendor, nothing waited", async (_kind, header, expected) => {
    const fake = await serve({ status: 429, body: { message: "slow down" }, headers: { "retry-after": header() } }, ok);
    const { api, waits } = client({ timeoutMs: 5_000 });
    const error = await api.send({ operation: "list issues", method: "GET", url: `${fake.url}/issues` }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ code: "rate_limited", vendor: "github", retryAfterMs: expected });
    expect((error as Error).message).toMatch(/^GitHub rate-limited list issues/);
    expect(fake.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("a POST not marked retryable is sent once: 503 comes back as is; a 429 with Retry-After becomes RateLimitedError", async () => {
    const fake = await serve(unavailable, ok);
    const { api, waits } = client();
    const response = await api.send({ operation: "create issue", method: "POST", url: `${fake.url}/issues`, body: { title: "t" } });
    expect(response.status).toBe(503);
    expect(fake.requests).toHaveLength(1);

    const limited = await serve({ status: 429, body: {}, headers: { "retry-after": "1" } }, ok);
    const error = await api.send({ operation: "create issue", method: "POST", url: `${limited.url}/issues`, body: { title: "t" } }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "rate_limited", vendor: "github", retryAfterMs: 1_000 });
    expect(limited.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("a POST the caller marks retryable is retried", async () => {
    const fake = await serve(unavailable, { status: 202, body: { status: "success" } });
    const { api } = client();
    const response = await api.send({ operation: "trigger event", method: "POST", url: `${fake.url}/enqueue`, body: { dedup_key: "k" }, retryable: true });
    expect(response.status).toBe(202);
    expect(statuses(fake.requests)).toEqual([503, 202]);
  });

  it("the deadline covers the whole call: a server that never answers ends in outbound_timeout naming the vendor", async () => {
    const fake = await serve("hang");
    const started = Date.now();
    const { api } = client({ vendor: "confluence", timeoutMs: 400, retries: 5 });
    const error = await api.send({ operation: "get page 1", method: "GET", url: `${fake.url}/pages/1` }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransientOutboundError);
    expect(error).toMatchObject({ code: "outbound_timeout", vendor: "confluence" });
    expect((error as Error).message).toBe("Confluence get page 1 timed out after 400 ms");
    expect(fake.arrived).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("an attempt that hangs past attemptTimeoutMs is retried within the deadline", async () => {
    const fake = await serve("hang", ok);
    const { api } = client({ timeoutMs: 5_000, attemptTimeoutMs: 200 });
    const response = await api.send({ operation: "list issues", method: "GET", url: `${fake.url}/issues` });
    expect(response.status).toBe(200);
    expect(fake.arrived).toBe(2);
    expect(statuses(fake.requests)).toEqual([200]);
  });

  it("connection refused: TransientOutboundError outbound_unavailable naming the vendor, after the retries", async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const { port: free } = server.address() as AddressInfo;
        server.close(() => resolve(free));
      });
    });
    const { api, waits } = client({ vendor: "confluence" });
    const error = await api.send({ operation: "get page 1", method: "GET", url: `http://127.0.0.1:${port}/pages/1` }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransientOutboundError);
    expect(error).toMatchObject({ code: "outbound_unavailable", vendor: "confluence" });
    expect((error as Error).message).toMatch(/^Confluence get page 1 failed \(3 attempts\): .*ECONNREFUSED/);
    expect(waits).toHaveLength(2);
  });

  it("a redirect is returned, never followed: the target records no request", async () => {
    const target = await serve(ok);
    const redirector = await serve({ status: 302, body: "", headers: { location: `${target.url}/steal` } });
    const { api } = client({ headers: { authorization: "Bearer s3cret" } });
    const response = await api.send({ operation: "list issues", method: "GET", url: `${redirector.url}/issues` });
    expect(response.status).toBe(302);
    expect(redirector.requests).toHaveLength(1);
    expect(target.requests).toHaveLength(0);
  });

  it("credentials in the URL are refused before anything is sent, without repeating the URL", async () => {
    const fake = await serve(ok);
    const { api } = client();
    const url = fake.url.replace("http://", "http://user:hunter2@");
    const error = await api.send({ operation: "list issues", method: "GET", url }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PermanentOutboundError);
    expect(error).toMatchObject({ code: "config_invalid", remoteCode: "credentials_in_url", vendor: "github" });
    expect((error as Error).message).not.toContain("hunter2");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("RateLimitedError's code", () => {
  it("stays slack_rate_limited for Slack and is rate_limited for any other vendor", () => {
    expect(new RateLimitedError("x", 1_000, "slack")).toMatchObject({ code: "slack_rate_limited", vendor: "slack" });
    expect(new RateLimitedError("x", 1_000, "confluence")).toMatchObject({ code: "rate_limited", vendor: "confluence" });
    expect(new RateLimitedError("x", 1_000)).toMatchObject({ code: "rate_limited", vendor: undefined });
  });

  it("Slack's 429s still map to slack_rate_limited", () => {
    expect(toOutboundError("chat.postMessage", { code: "slack_webapi_rate_limited_error", retryAfter: 3 })).toMatchObject({ code: "slack_rate_limited", vendor: "slack", retryAfterMs: 3_000 });
    expect(toOutboundError("chat.postMessage", { code: "slack_webapi_platform_error", data: { error: "ratelimited" } })).toMatchObject({ code: "slack_rate_limited", vendor: "slack" });
  });
});
