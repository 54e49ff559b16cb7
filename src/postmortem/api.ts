import { createHash, timingSafeEqual } from "node:crypto";
import type { EventCatalogue } from "../events/catalogue.ts";
import type { Clock } from "../core/clock.ts";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { PrismaClient } from "../db/client.ts";
import { generatePostmortem, renderHtml, renderMarkdown, toJson } from "./generate.ts";
import type { Audience } from "./models.ts";
import { loadPostmortemInput } from "./service.ts";

/**
 * GET /api/incidents/:number/postmortem[.md|.html|.json] — the draft as
 * Markdown, HTML or JSON (extension, or the Accept header). Protected by
 * API_TOKEN (Authorization: Bearer). `?audience=public` drops private text
 * (a private incident's free text, private events, user ids).
 */
export interface PostmortemApiDeps {
  prisma: PrismaClient;
  apiToken: string;
  timeZone: string;
  clock: Clock;
  /** Every event type's kind (read when handling). */
  events: () => EventCatalogue;
}

const FORMATS = { md: "text/markdown; charset=utf-8", html: "text/html; charset=utf-8", json: "application/json; charset=utf-8" } as const;
type Format = keyof typeof FORMATS;

function sameToken(header: string | undefined, token: string): boolean {
  if (!header?.toLowerCase().startsWith("bearer ")) return false;
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(header.slice(7).trim()), digest(token));
}

/** Picks the format from the extension, else from the Accept header (q-values honoured; q=0 means never). */
export function negotiate(extension: string | undefined, accept: string | undefined): Format | undefined {
  if (extension !== undefined) return Object.hasOwn(FORMATS, extension) ? (extension as Format) : undefined;
  if (!accept) return "md";
  const byType: Record<string, Format> = { "text/markdown": "md", "text/plain": "md", "text/html": "html", "application/json": "json", "text/*": "md", "*/*": "md" };
  let best: { format: Format; q: number } | undefined;
  for (const range of accept.toLowerCase().split(",")) {
    const [type = "", ...params] = range.trim().split(";");
    const qParam = params.map((param) => param.trim()).find((param) => param.startsWith("q="));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    const format = byType[type.trim()];
    if (!format || !Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { format, q };
  }
  return best?.format;
}

export function registerPostmortemApi(server: FastifyInstance, deps: PostmortemApiDeps): void {
  server.get<{ Params: { number: string; file: string }; Querystring: { audience?: string } }>("/api/incidents/:number/:file", async (request, reply) => {
    const file = /^postmortem(?:\.(\w+))?$/.exec(request.params.file);
    if (!file) return reply.status(404).send({ ok: false, error: "not found" });
    return serve(request.params.number, file[1], request.headers, request.query.audience, reply);
  });

  async function serve(
    numberParam: string,
    extension: string | undefined,
    headers: { authorization?: string | undefined; accept?: string | undefined },
    audienceParam: string | undefined,
    reply: FastifyReply,
  ) {
    if (!sameToken(headers.authorization, deps.apiToken)) {
      return reply.status(401).header("www-authenticate", 'Bearer realm="firebreak"').send({ ok: false, error: "unauthorized: send Authorization: Bearer <API_TOKEN>" });
    }
    if (!/^\d{1,9}$/.test(numberParam)) return reply.status(400).send({ ok: false, error: "the incident number must be a positive whole number" });
    const format = negotiate(extension, headers.accept);
    if (!format) return reply.status(406).send({ ok: false, error: "supported formats: .md, .html, .json (or Accept: text/markdown, text/html, application/json)" });
    if (extension === undefined) void reply.header("vary", "Accept");
    const audience: Audience | undefined = audienceParam === undefined || audienceParam === "internal" ? "internal" : audienceParam === "public" ? "public" : undefined;
    if (!audience) return reply.status(400).send({ ok: false, error: "audience must be internal or public" });
    const input = await loadPostmortemInput(deps.prisma, Number(numberParam), { audience, timeZone: deps.timeZone, now: deps.clock.now() });
    if (!input) return reply.status(404).send({ ok: false, error: `there is no INC-${numberParam}` });
    const document = generatePostmortem(input, deps.events());
    const body = format === "md" ? renderMarkdown(document) : format === "html" ? renderHtml(document) : toJson(document);
    return reply.status(200).type(FORMATS[format]).header("cache-control", "no-store").send(body);
  }
}
