/**
 * What the webhook refuses before a delivery joins a batch: payloads
 * PostgreSQL's jsonb could not store (see ingest.ts for the write path); and
 * the byte order mark a delivery's text is stored without.
 */
import { FirebreakError } from "../lib/errors.ts";

/** A NUL character, or half of a UTF-16 surrogate pair on its own. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** How many steps of a path an error message names (a body may nest 60,000 levels deep). */
const MAX_PATH_STEPS = 12;

interface Visit {
  readonly value: unknown;
  /** The key or index this value has in its parent; undefined for the body itself. */
  readonly key: string | undefined;
  readonly parent: Visit | undefined;
}

/** "alerts.0.labels.x", or its first steps and the depth for a path too long to print. */
function pathText(visit: Visit, last?: string): string {
  const steps: string[] = last === undefined ? [] : [last];
  for (let at: Visit | undefined = visit; at?.key !== undefined; at = at.parent) steps.push(at.key);
  if (steps.length === 0) return "(body)";
  steps.reverse();
  return steps.length <= MAX_PATH_STEPS ? steps.join(".") : `${steps.slice(0, MAX_PATH_STEPS).join(".")}.… (${steps.length} levels deep)`;
}

/**
 * The path of the first string or key PostgreSQL's jsonb cannot store (it refuses
 * \u0000 and unpaired surrogates), or undefined. The raw delivery is kept as
 * text, but processing writes labels and annotations to jsonb columns: such a
 * payload could never be processed, so the webhook refuses it (400) up front.
 * Iterative, with each node linked to its parent (no copied paths): JSON nests as deep as
 * the body limit allows, and a recursive walk overflowed the stack (and spent its time
 * copying paths) on a body tens of thousands of levels deep.
 */
export function unstorableField(value: unknown): string | undefined {
  const stack: Visit[] = [{ value, key: undefined, parent: undefined }];
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    const node = visit.value;
    if (typeof node === "string") {
      if (UNSTORABLE.test(node)) return pathText(visit);
      continue;
    }
    if (node === null || typeof node !== "object") continue;
    const keys = Object.keys(node);
    for (const key of keys) if (UNSTORABLE.test(key)) return pathText(visit, key);
    // Reversed, so that fields are looked at in their order.
    for (let index = keys.length - 1; index >= 0; index -= 1) {
      const key = keys[index] as string;
      stack.push({ value: (node as Record<string, unknown>)[key], key, parent: visit });
    }
  }
  return undefined;
}

/**
 * The text without a leading byte order mark (U+FEFF): not JSON, but RFC 8259 lets a parser
 * ignore it, and Fastify's does (JSON.parse does not). The webhook stores deliveries without it.
 */
export function withoutByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A payload PostgreSQL would refuse: refused up front (400), never batched. */
export class UnstorablePayloadError extends FirebreakError {
  constructor(readonly field: string) {
    super("payload_unstorable", `${field}: contains a NUL character or an unpaired surrogate, which cannot be stored`);
    this.name = "UnstorablePayloadError";
  }
}

/** The value of an ASCII hex digit's code, or -1. */
function hexValue(code: number | undefined): number {
  if (code === undefined) return -1;
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Whether JSON text has a `\u` escape whose code unit passes `test`. A search for "\u" and a
 * look at the four digits after each: Alertmanager (Go's encoder) escapes every <, > and & (most
 * generator URLs have a \u0026), so "has an escape" alone would send nearly every real delivery
 * down the slow paths. Errs towards yes: an escaped backslash before a "u" counts, and so does a
 * malformed escape.
 */
export function hasUnicodeEscape(json: Buffer | string, test: (codeUnit: number) => boolean): boolean {
  const at = typeof json === "string" ? (index: number) => json.charCodeAt(index) : (index: number) => json[index];
  for (let found = json.indexOf("\\u"); found !== -1; found = json.indexOf("\\u", found + 2)) {
    let code = 0;
    for (let digit = 2; digit < 6; digit += 1) {
      const value = hexValue(at(found + digit));
      if (value < 0) return true;
      code = code * 16 + value;
    }
    if (test(code)) return true;
  }
  return false;
}

const unstorableCodeUnit = (code: number): boolean => code === 0 || (code >= 0xd800 && code <= 0xdfff);

/**
 * Checks the payload and its JSON text before they join a batch. JSON can only carry either
 * kind of unstorable character as a \u escape (a raw NUL is not valid JSON, and bytes that are
 * not UTF-8 decode to U+FFFD), so text without a \u0000 or surrogate escape needs no walk.
 */
export function assertStorable(payload: unknown, json: Buffer | string): void {
  if (!hasUnicodeEscape(json, unstorableCodeUnit)) return;
  const field = unstorableField(payload);
  if (field !== undefined) throw new UnstorablePayloadError(field);
}
