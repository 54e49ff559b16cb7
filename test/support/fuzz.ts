// Building blocks for the HTTP fuzz test (test/fuzz/http.test.ts): fast-check
// arbitraries for hostile values and JSON mutations, a serializer that can escape characters as
// \uXXXX and insert raw JSON text (deep nesting without building a deep object), an iterative
// walk of parsed JSON (a 50,000-deep document must not overflow the test's own stack), and a
// transport that sends exactly the bytes a case describes (node:http for requests the HTTP
// client can express, a raw socket for the rest) with a deadline, through a bounded pool.
import type { Agent} from "node:http";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import fc from "fast-check";

// ---- requests and outcomes ----------------------------------------------------------------------

export type HeaderList = ReadonlyArray<readonly [string, string]>;

/** A request node:http can send (header values are sent as given, byte per char). */
export interface HttpRequestSpec {
  readonly kind: "http";
  readonly method: string;
  /** Path and query, sent as is in the request line. */
  readonly path: string;
  readonly headers: HeaderList;
  readonly body?: Buffer;
}

/** Bytes written on a fresh connection, for what no HTTP client sends (bad request lines, smuggling). */
export interface RawRequestSpec {
  readonly kind: "raw";
  readonly bytes: Buffer;
}

export type RequestSpec = HttpRequestSpec | RawRequestSpec;

/** What a case may be answered. `refused`: nothing may be stored for it (row counts are compared). */
export interface Expectation {
  /** "2xx", "4xx", or "2xx|4xx" when both are right (e.g. a signed but odd Slack payload). */
  readonly class: "2xx" | "4xx" | "2xx|4xx";
  /** An exact status when the contract names one (401 for bad credentials, 413 over the limit). */
  readonly status?: number;
  /** Why this answer is expected (shown with a failure). */
  readonly why: string;
}

export interface FuzzCase {
  readonly endpoint: string;
  /** Position in its endpoint's generated sample: with the seed, enough to replay it. */
  readonly index: number;
  /** What was done to the request, e.g. "signature: stale timestamp; body: delete alerts.0.labels". */
  readonly label: string;
  /** Built when sent: Slack signatures depend on the time. */
  readonly build: (nowMs: number) => RequestSpec;
  readonly expect: Expectation;
}

export interface Outcome {
  /** undefined: no answer (the connection failed or the deadline passed). */
  readonly status: number | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bodyExcerpt: string;
  readonly ms: number;
  readonly error?: string;
  readonly request: RequestSpec;
}

const EXCERPT = 300;

/** How many requests went again because the server had closed the kept-alive connection they were given. */
export const transport = { resent: 0 };

/** Sends one request and reads the whole answer, or gives up after `deadlineMs`. */
export async function send(baseUrl: string, spec: RequestSpec, agent: Agent, deadlineMs: number): Promise<Outcome> {
  if (spec.kind === "raw") return sendRaw(baseUrl, spec, deadlineMs);
  // A kept-alive connection the server closed (after a 413, say) just as it was reused: not an
  // answer to this request, which goes again (Node's documented advice for reused sockets).
  for (let attempt = 1; ; attempt += 1) {
    const outcome = await sendHttp(baseUrl, spec, agent, deadlineMs);
    if (!outcome.reusedSocketFailed || attempt === 5) return outcome;
    transport.resent += 1;
  }
}

/** Requests each kept-alive connection has carried (Node's `reusedSocket` misses queued requests). */
const socketUses = new WeakMap<object, number>();

function sendHttp(baseUrl: string, spec: HttpRequestSpec, agent: Agent, deadlineMs: number): Promise<Outcome & { reusedSocketFailed?: boolean }> {
  const url = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let status: number | undefined;
    let responseHeaders: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const body = Buffer.concat(chunks).toString("utf8");
      resolve({ status, headers: responseHeaders, bodyExcerpt: body.slice(0, EXCERPT), ms: performance.now() - started, ...(error ? { error } : {}), request: spec });
    };
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of spec.headers) {
      const key = name.toLowerCase();
      const existing = headers[key];
      headers[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
    // Node's client frames a GET, HEAD, DELETE or OPTIONS body with nothing at all unless told:
    // the server would read the body as the next request. The length goes with every body.
    if (spec.body !== undefined && headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) headers["content-length"] = String(spec.body.length);
    const req = httpRequest({ host: url.hostname, port: url.port, method: spec.method, path: spec.path, headers, agent, setHost: true });
    let reused = false;
    req.on("socket", (socket) => {
      const uses = socketUses.get(socket) ?? 0;
      reused = uses > 0;
      socketUses.set(socket, uses + 1);
    });
    const timer = setTimeout(() => {
      req.destroy();
      status = undefined;
      finish(`no answer within ${deadlineMs} ms`);
    }, deadlineMs);
    req.on("response", (res) => {
      status = res.statusCode;
      responseHeaders = res.headers;
      res.on("data", (chunk: Buffer) => {
        if (chunks.reduce((sum, one) => sum + one.length, 0) < 4096) chunks.push(chunk);
      });
      res.on("end", () => finish());
      res.on("error", (error) => finish(error.message));
      res.on("aborted", () => finish("answer aborted"));
    });
    // A server that answers early (413) may close before the body is written: the answer counts.
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (status === undefined && reused && (error.code === "ECONNRESET" || error.code === "EPIPE" || error.message === "socket hang up")) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: undefined, headers: {}, bodyExcerpt: "", ms: performance.now() - started, error: error.message, request: spec, reusedSocketFailed: true });
        return;
      }
      finish(`${error.message}${error.code ? ` (${error.code})` : ""}${reused ? ", on a reused connection" : ", on a new connection"}${status === undefined ? "" : `, after status ${status}`}`);
    });
    req.end(spec.body);
  });
}

function sendRaw(baseUrl: string, spec: RawRequestSpec, deadlineMs: number): Promise<Outcome> {
  const url = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const headerEnd = text.indexOf("\r\n\r\n");
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, headerEnd < 0 ? text.length : headerEnd).split("\r\n").slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({
        status: match?.[1] ? Number(match[1]) : undefined,
        headers,
        bodyExcerpt: text.slice(0, EXCERPT),
        ms: performance.now() - started,
        ...(error && !match ? { error } : {}),
        request: spec,
      });
    };
    const timer = setTimeout(() => finish(`no answer within ${deadlineMs} ms`), deadlineMs);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // The status line and headers are all a raw case looks at.
      if (Buffer.concat(chunks).includes("\r\n\r\n")) finish();
    });
    socket.on("end", () => finish(chunks.length === 0 ? "connection closed without an answer" : undefined));
    socket.on("error", (error) => finish(error.message));
    socket.on("connect", () => socket.write(spec.bytes));
  });
}

/** Runs `work` over `items`, at most `concurrency` at a time, results in order. */
export async function runPool<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** Why an outcome is wrong for its case, or undefined. */
export function judge(expect: Expectation, outcome: Outcome, deadlineMs: number): string | undefined {
  if (outcome.status === undefined) return `no answer (${outcome.error ?? "unknown"})`;
  if (outcome.ms > deadlineMs) return `answered after ${Math.round(outcome.ms)} ms (deadline ${deadlineMs} ms)`;
  const status = outcome.status;
  if (status >= 500) {
    const retryAfter = outcome.headers["retry-after"];
    return status === 503 && retryAfter !== undefined
      ? `503 with Retry-After ${String(retryAfter)} (overload/unavailable: must not happen here)`
      : `${status} (a server error)`;
  }
  const klass = status >= 200 && status < 300 ? "2xx" : status >= 400 && status < 500 ? "4xx" : `${Math.floor(status / 100)}xx`;
  if (!expect.class.split("|").includes(klass)) return `${status}, expected ${expect.class} (${expect.why})`;
  if (expect.status !== undefined && status !== expect.status) return `${status}, expected exactly ${expect.status} (${expect.why})`;
  return undefined;
}

/** A request, printable: enough to replay it by hand. */
export function describeRequest(spec: RequestSpec): string {
  if (spec.kind === "raw") {
    return `raw bytes (${spec.bytes.length}): ${JSON.stringify(spec.bytes.subarray(0, 600).toString("latin1"))}${spec.bytes.length > 600 ? "…" : ""}${spec.bytes.length <= 4096 ? `\n    base64: ${spec.bytes.toString("base64")}` : ""}`;
  }
  const body = spec.body;
  const bodyText = body === undefined ? "(no body)" : `${body.length} bytes: ${JSON.stringify(body.subarray(0, 600).toString("utf8"))}${body.length > 600 ? "…" : ""}${body.length <= 4096 ? `\n    body base64: ${body.toString("base64")}` : ""}`;
  return `${spec.method} ${spec.path.length > 300 ? `${spec.path.slice(0, 300)}… (${spec.path.length} chars)` : spec.path}\n    headers: ${JSON.stringify(spec.headers.map(([name, value]) => [name, value.length > 200 ? `${value.slice(0, 200)}… (${value.length} chars)` : value]))}\n    body: ${bodyText}`;
}

// ---- header values ------------------------------------------------------------------------------

/**
 * A string as an HTTP header value node:http will send: its UTF-8 bytes, one char per byte
 * (node writes header strings as latin1), without CR, LF or NUL (those go in raw cases).
 */
export function headerValue(value: string): string {
  // eslint-disable-next-line no-control-regex -- exactly the characters a header value cannot carry
  return Buffer.from(value, "utf8").toString("latin1").replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, "");
}

// ---- JSON with special leaves -------------------------------------------------------------------

/** Inserted verbatim by `serialize`: deep nesting, bad literals, duplicate keys. */
export class RawJson {
  constructor(readonly text: string) {}
}

export type JsonLike = null | boolean | number | string | RawJson | JsonLike[] | { [key: string]: JsonLike };

/** Sets a key as an own property, even "__proto__" (plain assignment would change the prototype). */
export function setOwn(target: Record<string, JsonLike>, key: string, value: JsonLike): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function clone(value: JsonLike): JsonLike {
  if (value === null || typeof value !== "object" || value instanceof RawJson) return value;
  if (Array.isArray(value)) return value.map(clone);
  const out: Record<string, JsonLike> = {};
  for (const key of Object.keys(value)) setOwn(out, key, clone(value[key] as JsonLike));
  return out;
}

/** Which characters of strings and keys `serialize` writes as \uXXXX escapes. */
export type EscapeMode = "none" | "keys" | "letters" | "underscores" | "every-third" | "non-ascii";

function escapeChar(code: number): string {
  return `\\u${code.toString(16).padStart(4, "0")}`;
}

function serializeString(value: string, mode: EscapeMode): string {
  let out = '"';
  for (let index = 0; index < value.length; index += 1) {
    const code = value.charCodeAt(index);
    const char = value[index] as string;
    const forced =
      mode === "letters" ? /[A-Za-z]/.test(char)
      : mode === "underscores" ? char === "_"
      : mode === "every-third" ? index % 3 === 0
      : mode === "non-ascii" ? code > 0x7e
      : mode === "keys";
    if (forced || code < 0x20 || char === '"' || char === "\\" || (code >= 0xd800 && code <= 0xdfff && !isPairAt(value, index))) {
      out += char === '"' && !forced ? '\\"' : char === "\\" && !forced ? "\\\\" : escapeChar(code);
    } else {
      out += char;
    }
  }
  return `${out}"`;
}

function isPairAt(value: string, index: number): boolean {
  const code = value.charCodeAt(index);
  if (code >= 0xd800 && code <= 0xdbff) {
    const next = value.charCodeAt(index + 1);
    return next >= 0xdc00 && next <= 0xdfff;
  }
  if (code >= 0xdc00 && code <= 0xdfff) {
    const previous = value.charCodeAt(index - 1);
    return previous >= 0xd800 && previous <= 0xdbff;
  }
  return false;
}

/** Punctuation queued by `serialize` (a class of its own, so no JSON object is mistaken for it). */
class Punctuation {
  constructor(readonly text: string) {}
}

/** JSON text of a value, escaping as `mode` says (keys only for "keys"); RawJson leaves verbatim. */
export function serialize(value: JsonLike, mode: EscapeMode = "none"): string {
  const parts: string[] = [];
  const stringMode = mode === "keys" ? "none" : mode;
  // Iterative, like everything that walks fuzzed JSON.
  const stack: Array<JsonLike | Punctuation> = [value];
  while (stack.length > 0) {
    const node = stack.pop() as JsonLike | Punctuation;
    if (node instanceof Punctuation || node instanceof RawJson) parts.push(node.text);
    else if (node === null) parts.push("null");
    else if (typeof node === "boolean") parts.push(String(node));
    else if (typeof node === "number") parts.push(Number.isFinite(node) ? JSON.stringify(node) : "null");
    else if (typeof node === "string") parts.push(serializeString(node, stringMode));
    else if (Array.isArray(node)) {
      parts.push("[");
      stack.push(new Punctuation("]"));
      for (let index = node.length - 1; index >= 0; index -= 1) {
        stack.push(node[index] as JsonLike);
        if (index > 0) stack.push(new Punctuation(","));
      }
    } else {
      parts.push("{");
      stack.push(new Punctuation("}"));
      const keys = Object.keys(node);
      for (let index = keys.length - 1; index >= 0; index -= 1) {
        const key = keys[index] as string;
        stack.push(node[key] as JsonLike);
        stack.push(new Punctuation(`${index > 0 ? "," : ""}${serializeString(key, mode)}:`));
      }
    }
  }
  return parts.join("");
}

// ---- walking parsed JSON ------------------------------------------------------------------------

export type Path = ReadonlyArray<string | number>;

/** Every node of a JSON-like value with its path, iteratively (RawJson leaves are leaves). */
export function nodesOf(value: JsonLike): Array<{ path: Path; value: JsonLike }> {
  const out: Array<{ path: Path; value: JsonLike }> = [];
  const stack: Array<{ path: Path; value: JsonLike }> = [{ path: [], value }];
  while (stack.length > 0) {
    const item = stack.pop() as { path: Path; value: JsonLike };
    out.push(item);
    const node = item.value;
    if (node === null || typeof node !== "object" || node instanceof RawJson) continue;
    if (Array.isArray(node)) node.forEach((inner, index) => stack.push({ path: [...item.path, index], value: inner }));
    else for (const key of Object.keys(node)) stack.push({ path: [...item.path, key], value: node[key] as JsonLike });
  }
  return out;
}

/**
 * Calls `visit` for every key and string of a parsed JSON value (own keys, iteratively) with the
 * first three steps of its path and its depth; stops when it returns true. (Only a prefix of the
 * path is kept: copying whole paths would be quadratic in a 60,000-deep document.)
 */
export function someKeyOrString(value: unknown, visit: (text: string, path: Path, depth: number, isKey: boolean, parent: unknown) => boolean): boolean {
  const stack: Array<{ value: unknown; path: Path; depth: number }> = [{ value, path: [], depth: 0 }];
  const step = (path: Path, next: string | number): Path => (path.length < 3 ? [...path, next] : path);
  while (stack.length > 0) {
    const item = stack.pop() as { value: unknown; path: Path; depth: number };
    const node = item.value;
    if (typeof node === "string") {
      if (visit(node, item.path, item.depth, false, undefined)) return true;
      continue;
    }
    if (node === null || typeof node !== "object") continue;
    if (Array.isArray(node)) {
      node.forEach((inner, index) => stack.push({ value: inner, path: step(item.path, index), depth: item.depth + 1 }));
      continue;
    }
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const path = step(item.path, key);
      if (visit(key, path, item.depth + 1, true, record)) return true;
      stack.push({ value: record[key], path, depth: item.depth + 1 });
    }
  }
  return false;
}

/**
 * Prototype poisoning as Fastify's JSON parser (secure-json-parse, "error" for both) refuses it:
 * a "__proto__" key anywhere, or a "constructor" key whose value has a "prototype" key.
 */
export function hasPoisonKey(value: unknown): boolean {
  return someKeyOrString(value, (text, _path, _depth, isKey, parent) => {
    if (!isKey) return false;
    if (text === "__proto__") return true;
    if (text !== "constructor") return false;
    const inner = (parent as Record<string, unknown>)[text];
    return inner !== null && typeof inner === "object" && Object.hasOwn(inner, "prototype");
  });
}

/** PostgreSQL cannot store these in text or jsonb: NUL, and half of a surrogate pair. */
// eslint-disable-next-line no-control-regex -- NUL is one of the characters looked for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isUnstorable(text: string): boolean {
  return UNSTORABLE.test(text);
}

export type Decoded = { ok: true; value: unknown; wellFormedUtf8: boolean } | { ok: false; wellFormedUtf8: boolean };

/** The body as a JSON receiver sees it: decoded as UTF-8 (bad bytes become U+FFFD) and parsed. */
export function decodeJson(body: Buffer): Decoded {
  let wellFormedUtf8 = true;
  try {
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    wellFormedUtf8 = false;
  }
  try {
    return { ok: true, value: JSON.parse(body.toString("utf8")) as unknown, wellFormedUtf8 };
  } catch {
    return { ok: false, wellFormedUtf8 };
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// ---- hostile values (fast-check) ----------------------------------------------------------------

/** Strings that have broken parsers, databases, templates and prototype lookups before. */
export const HOSTILE_STRINGS: readonly string[] = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udc00",
  "\ud83d\ude00\ud83d",
  "\u202eevil\u202c",
  "\ufeffbom",
  "💥🔥🧯",
  "e\u0301\u0301\u0301",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "${jndi:ldap://127.0.0.1/x}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  "<!-- -->&amp;&lt;",
  "'; DROP TABLE incidents; --",
  "\\",
  '"',
  "../../../../etc/passwd",
  "%00",
  "%zz",
  "\\u0000",
  "\r\nX-Injected: 1",
  "null",
  "true",
  "1e309",
  "-0",
  "NaN",
  "<@U0DECLARER>",
  "<!channel>",
  "*bold* _it_ ~s~ `code`",
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

/** A long string (10 KB to 120 KB of one character, some of them multi-byte or escaped). */
export const hugeString: fc.Arbitrary<string> = fc
  .record({ size: fc.integer({ min: 10_000, max: 120_000 }), char: fc.constantFrom("x", "é", "💥", "\\", '"', "\u0000", " ") })
  .map(({ size, char }) => char.repeat(Math.ceil(size / char.length)));

/** Deeply nested JSON text (64 to 60,000 levels), as a RawJson leaf. */
export const deepJson: fc.Arbitrary<RawJson> = fc
  .record({ depth: fc.integer({ min: 64, max: 60_000 }), kind: fc.constantFrom("array", "object", "mixed") })
  .map(({ depth, kind }) => {
    if (kind === "array") return new RawJson(`${"[".repeat(depth)}${"]".repeat(depth)}`);
    if (kind === "object") return new RawJson(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`);
    return new RawJson(`${'[{"a":'.repeat(depth)}null${"}]".repeat(depth)}`);
  });

/** A value of some other JSON type (and a few numbers JSON parsers disagree about). */
export const typeSwap: fc.Arbitrary<JsonLike> = fc.oneof(
  fc.constantFrom<JsonLike>(null, true, false, 0, -1, 1.5, 1e308, "", "4", [], {}, [null], { a: "b" }, ["firing"]),
  fc.constantFrom(new RawJson("1e999"), new RawJson("-0"), new RawJson("123456789012345678901234567890"), new RawJson("0.0000000000000000000001")),
  fc.jsonValue({ maxDepth: 2 }).map((value) => value as JsonLike),
);

/** One change to a JSON value; `at` picks a node (modulo the node count). */
export type Mutation =
  | { readonly op: "delete"; readonly at: number }
  | { readonly op: "replace"; readonly at: number; readonly value: JsonLike; readonly what: string }
  | { readonly op: "add"; readonly at: number; readonly key: string; readonly value: JsonLike; readonly what: string };

const proto = (): JsonLike => {
  const value: Record<string, JsonLike> = {};
  setOwn(value, "polluted", true);
  return value;
};

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("delete" as const), at: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("replace" as const), at: fc.nat(), value: typeSwap, what: fc.constant("type swap") }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("replace" as const), at: fc.nat(), value: hostileString, what: fc.constant("hostile string") }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("replace" as const), at: fc.nat(), value: hugeString, what: fc.constant("huge string") }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("replace" as const), at: fc.nat(), value: deepJson, what: fc.constant("deep nesting") }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("add" as const), at: fc.nat(), key: fc.constant("extra"), value: deepJson, what: fc.constant("deeply nested extra field") }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("add" as const), at: fc.nat(), key: fc.constant("__proto__"), value: fc.constant(proto()), what: fc.constant("__proto__ key") }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("add" as const),
      at: fc.nat(),
      key: fc.constant("constructor"),
      value: fc.constantFrom<JsonLike>({ prototype: proto() }, "x", { name: "y" }),
      what: fc.constant("constructor key"),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("add" as const), at: fc.nat(), key: hostileString, value: hostileString, what: fc.constant("hostile key") }) },
);

function pathText(path: Path): string {
  return path.length === 0 ? "(root)" : path.join(".");
}

/** Applies a mutation to a copy of `value`; returns the copy and a description. */
export function applyMutation(value: JsonLike, change: Mutation): { value: JsonLike; label: string } {
  const copy = clone(value);
  const nodes = nodesOf(copy);
  const target = nodes[change.at % nodes.length] as { path: Path; value: JsonLike };
  const parentOf = (path: Path): JsonLike => {
    let node: JsonLike = copy;
    for (const step of path.slice(0, -1)) node = (node as Record<string | number, JsonLike>)[step] as JsonLike;
    return node;
  };
  if (change.op === "add") {
    // The target if it is an object, else the nearest object above it.
    let path = target.path;
    for (;;) {
      const node = path.length === 0 ? copy : (parentOf(path) as Record<string | number, JsonLike>)[path[path.length - 1] as string | number];
      if (isRecord(node) && !(node instanceof RawJson)) {
        setOwn(node, change.key, clone(change.value));
        return { value: copy, label: `${change.what} ${JSON.stringify(change.key.slice(0, 20))} in ${pathText(path)}` };
      }
      if (path.length === 0) return { value: copy, label: `${change.what}: no object to add to` };
      path = path.slice(0, -1);
    }
  }
  if (target.path.length === 0) {
    return change.op === "delete" ? { value: new RawJson(""), label: "delete the whole body" } : { value: clone(change.value), label: `${change.what} as the whole body` };
  }
  const parent = parentOf(target.path) as Record<string | number, JsonLike> | JsonLike[];
  const last = target.path[target.path.length - 1] as string | number;
  if (change.op === "delete") {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete (parent as Record<string, JsonLike>)[last as string];
    return { value: copy, label: `delete ${pathText(target.path)}` };
  }
  if (Array.isArray(parent)) parent[last as number] = clone(change.value);
  else setOwn(parent, last as string, clone(change.value));
  return { value: copy, label: `${change.what} at ${pathText(target.path)}` };
}

/** Changes to the bytes of a serialized body: most leave invalid JSON or invalid UTF-8. */
export type ByteMutation =
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: readonly number[]; readonly what: string }
  | { readonly op: "prepend" | "append"; readonly text: string };

const INVALID_UTF8: ReadonlyArray<readonly number[]> = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80]];

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ op: fc.constant("truncate" as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ op: fc.constant("insert" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.constantFrom(...INVALID_UTF8), what: fc.constant("invalid UTF-8") }),
  fc.record({ op: fc.constant("insert" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }), what: fc.constant("random bytes") }),
  fc.record({ op: fc.constantFrom("prepend" as const, "append" as const), text: fc.constantFrom("\ufeff", " \n\t", ",", "}", "]", "{}", "garbage", "\u0000", "//c", "NaN", "\u2028") }),
);

export function applyByteMutation(body: Buffer, change: ByteMutation): { body: Buffer; label: string } {
  if (change.op === "truncate") {
    const at = Math.floor(body.length * change.at);
    return { body: body.subarray(0, at), label: `truncated at byte ${at}` };
  }
  if (change.op === "insert") {
    const at = Math.floor(body.length * change.at);
    return { body: Buffer.concat([body.subarray(0, at), Buffer.from(change.bytes), body.subarray(at)]), label: `${change.what} [${change.bytes.map((byte) => byte.toString(16)).join(" ")}] at byte ${at}` };
  }
  const extra = Buffer.from(change.text, "utf8");
  return { body: change.op === "prepend" ? Buffer.concat([extra, body]) : Buffer.concat([body, extra]), label: `${change.op}ed ${JSON.stringify(change.text)}` };
}

export const escapeMode: fc.Arbitrary<EscapeMode> = fc.oneof(
  { weight: 12, arbitrary: fc.constant("none" as const) },
  { weight: 1, arbitrary: fc.constantFrom("keys" as const, "letters" as const, "underscores" as const, "every-third" as const, "non-ascii" as const) },
);

// ---- database -----------------------------------------------------------------------------------

/** The tables a refused request must leave alone. */
export const WATCHED_TABLES = [
  "incidents",
  "participants",
  "participant_roles",
  "timeline_events",
  "alert_deliveries",
  "alert_groups",
  "alerts",
  "pages",
  "remediation_executions",
  "action_items",
  "jobs",
  "idempotency_keys",
] as const;

export type RowCounts = Record<(typeof WATCHED_TABLES)[number], number>;

export async function rowCounts(query: (sql: string) => Promise<unknown>): Promise<RowCounts> {
  const rows = (await query(`select ${WATCHED_TABLES.map((table) => `(select count(*) from ${table})::int as ${table}`).join(", ")}`)) as RowCounts[];
  return rows[0] as RowCounts;
}
