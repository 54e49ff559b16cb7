/**
 * Small pieces shared by the exporters' fake HTTP servers (test/fakes/confluence,
 * test/fakes/github): listening on 127.0.0.1, reading bodies, answering JSON.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The raw body as received. */
  rawBody: string;
  /** The JSON body, when it parsed. */
  json: unknown;
  /** What the fake answered. */
  status: number;
  response: unknown;
  at: number;
}

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Do the work, then drop the connection without answering (a lost response). */
  drop?: boolean;
}

export type Route = (request: Omit<RecordedRequest, "status" | "response">) => Answer | Promise<Answer>;

export interface RunningFake {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export interface FakeOptions {
  /** Serve HTTPS with this certificate (e.g. `inject("tls")`, signed by the run's CA that NODE_EXTRA_CA_CERTS trusts). */
  tls?: { certPem: string; keyPem: string };
}

/** Starts a fake on a free loopback port (HTTP, or HTTPS with `tls`); every request is recorded with the answer given. */
export async function startFake(route: Route, options: FakeOptions = {}): Promise<RunningFake> {
  const requests: RecordedRequest[] = [];
  const listener: RequestListener = (request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const rawBody = await readBody(request);
      const url = new URL(request.url ?? "/", "http://fake.invalid");
      let json: unknown;
      try {
        json = rawBody === "" ? undefined : (JSON.parse(rawBody) as unknown);
      } catch {
        json = undefined;
      }
      const seen = { method: request.method ?? "GET", path: url.pathname, query: url.searchParams, headers: request.headers, rawBody, json, at: Date.now() };
      const answer = await Promise.resolve().then(() => route(seen)).catch((error: unknown): Answer => ({ status: 500, body: { message: `fake failed: ${String(error)}` } }));
      requests.push({ ...seen, status: answer.drop ? 0 : answer.status, response: answer.body });
      if (answer.drop) {
        request.socket.destroy();
        return;
      }
      const text = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
      response.writeHead(answer.status, { "content-type": typeof answer.body === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8", ...answer.headers });
      response.end(text);
    })();
  };
  const server: Server = options.tls ? createTlsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Content-Type is JSON (with or without parameters). */
export function isJson(headers: IncomingHttpHeaders): boolean {
  return /^application\/json\s*(;|$)/i.test(headers["content-type"] ?? "");
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
