/**
 * The floor of bench/ack.ts: a bare `node:http` server, run as a process of its own, that does
 * what any receiver of Slack and Alertmanager must do and nothing more, then answers 200.
 *
 *   POST /slack/events          reads the raw body; the X-Slack-Request-Timestamp must be an
 *                               integer within 5 minutes of now (either way) and X-Slack-Signature
 *                               `v0=` + HMAC-SHA256(signing secret, `v0:<timestamp>:<body>`) in hex,
 *                               compared with timingSafeEqual; 401 otherwise; 200 with an
 *                               ephemeral JSON reply.
 *   POST /webhooks/alertmanager reads the body; `Authorization: Bearer <token>` compared in
 *                               constant time (SHA-256 of both, timingSafeEqual), as
 *                               src/alert/auth.ts does; 401 otherwise; 200 `{"ok":true}`.
 *
 * Environment: BARE_PORT, BARE_SIGNING_SECRET, BARE_ALERTMANAGER_TOKEN. Prints `listening <port>`
 * once it listens; exits on SIGTERM.
 */
import { createHmac, hash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const secret = process.env.BARE_SIGNING_SECRET ?? "";
const tokenDigest = hash("sha256", process.env.BARE_ALERTMANAGER_TOKEN ?? "", "buffer");
const port = Number(process.env.BARE_PORT ?? "0");
if (secret === "" || !Number.isInteger(port)) throw new Error("bare-server: BARE_SIGNING_SECRET and BARE_PORT are required");

function slackSignatureOk(request: IncomingMessage, body: Buffer): boolean {
  const timestamp = request.headers["x-slack-request-timestamp"];
  const signature = request.headers["x-slack-signature"];
  if (typeof timestamp !== "string" || typeof signature !== "string" || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1_000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(`v0=${createHmac("sha256", secret).update(`v0:${timestamp}:`).update(body).digest("hex")}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function bearerOk(header: string | undefined): boolean {
  if (!header) return false;
  const space = header.indexOf(" ");
  if (space <= 0 || header.slice(0, space).toLowerCase() !== "bearer") return false;
  return timingSafeEqual(hash("sha256", header.slice(space + 1).trim(), "buffer"), tokenDigest);
}

function answer(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) }).end(body);
}

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks);
    if (request.method === "POST" && request.url === "/slack/events") {
      if (!slackSignatureOk(request, body)) return answer(response, 401, '{"ok":false,"error":"invalid_signature"}');
      return answer(response, 200, '{"response_type":"ephemeral","text":"ok"}');
    }
    if (request.method === "POST" && request.url === "/webhooks/alertmanager") {
      if (!bearerOk(request.headers.authorization)) return answer(response, 401, '{"ok":false,"error":"unauthorized"}');
      return answer(response, 200, '{"ok":true}');
    }
    return answer(response, 404, '{"ok":false}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : port}\n`);
});
process.on("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
