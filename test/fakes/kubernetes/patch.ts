/**
 * The patch formats the Kubernetes API server accepts for PATCH, as the fake
 * applies them: JSON Patch (RFC 6902, application/json-patch+json) and JSON
 * Merge Patch (RFC 7386, application/merge-patch+json; also used, as an
 * approximation, for application/strategic-merge-patch+json, whose lists the
 * real server merges by key). `PatchError` carries the HTTP status the API
 * server answers: 400 for a patch that does not decode, 422 for one that
 * does not apply.
 */
import { isDeepStrictEqual } from "node:util";

export class PatchError extends Error {
  constructor(
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Operation {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  from?: string;
  value?: Json;
}

const isObject = (value: unknown): value is Record<string, Json> => value !== null && typeof value === "object" && !Array.isArray(value);

/** Decodes a JSON Patch document: an array of operations, each with a known `op`, a `path`, and `value`/`from` where the op needs one. */
export function decodeJsonPatch(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw new PatchError(400, `json: cannot unmarshal ${body === null ? "null" : typeof body === "object" ? "object" : typeof body} into Go value of type jsonpatch.Patch`);
  return body.map((entry: unknown, index) => {
    if (!isObject(entry)) throw new PatchError(400, `operation ${index}: not an object`);
    const { op, path, from } = entry;
    if (op !== "add" && op !== "remove" && op !== "replace" && op !== "move" && op !== "copy" && op !== "test") throw new PatchError(400, `Unexpected kind: ${JSON.stringify(op) ?? "missing op"}`);
    if (typeof path !== "string") throw new PatchError(400, `operation ${index} (${op}): missing path`);
    if ((op === "add" || op === "replace" || op === "test") && !("value" in entry)) throw new PatchError(400, `operation ${index} (${op}): missing value`);
    if ((op === "move" || op === "copy") && typeof from !== "string") throw new PatchError(400, `operation ${index} (${op}): missing from`);
    return entry as unknown as Operation;
  });
}

function tokens(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PatchError(422, `JSON pointer ${JSON.stringify(pointer)} does not start with /`);
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** The container of the pointer's last token, and that token. */
function locate(doc: Json, pointer: string, op: string): { parent: Json; key: string } {
  const path = tokens(pointer);
  const key = path.pop();
  if (key === undefined) throw new PatchError(422, `${op} operation does not apply: the whole document cannot be the target`);
  let node: Json = doc;
  for (const token of path) {
    const next: Json | undefined = Array.isArray(node) ? node[Number(token)] : isObject(node) ? node[token] : undefined;
    if (next === undefined) throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(pointer)}: missing value`);
    node = next;
  }
  return { parent: node, key };
}

function get(doc: Json, pointer: string, op: string): Json {
  const { parent, key } = locate(doc, pointer, op);
  const value = Array.isArray(parent) ? (/^\d+$/.test(key) ? parent[Number(key)] : undefined) : isObject(parent) ? parent[key] : undefined;
  if (value === undefined) throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(pointer)}: missing value`);
  return value;
}

function add(doc: Json, pointer: string, value: Json, op: string): void {
  const { parent, key } = locate(doc, pointer, op);
  if (Array.isArray(parent)) {
    const index = key === "-" ? parent.length : /^\d+$/.test(key) ? Number(key) : NaN;
    if (!(index >= 0 && index <= parent.length)) throw new PatchError(422, `${op} operation does not apply: index ${key} out of bounds in ${JSON.stringify(pointer)}`);
    parent.splice(index, 0, value);
  } else if (isObject(parent)) {
    parent[key] = value;
  } else {
    throw new PatchError(422, `${op} operation does not apply: ${JSON.stringify(pointer)} is inside a value that is not an object or array`);
  }
}

function remove(doc: Json, pointer: string, op: string): Json {
  const value = get(doc, pointer, op);
  const { parent, key } = locate(doc, pointer, op);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else if (isObject(parent)) delete parent[key];
  return value;
}

/** Applies RFC 6902 operations to a copy of `doc`; throws PatchError (422) when one does not apply. */
export function applyJsonPatch<T>(doc: T, operations: readonly Operation[]): T {
  const root = { doc: structuredClone(doc) as Json };
  const at = (pointer: string) => `/doc${pointer}`;
  for (const operation of operations) {
    const { op, path } = operation;
    const value = structuredClone(operation.value ?? null);
    if (op === "add") add(root, at(path), value, op);
    else if (op === "remove") remove(root, at(path), op);
    else if (op === "replace") {
      remove(root, at(path), op);
      add(root, at(path), value, op);
    } else if (op === "move") add(root, at(path), remove(root, at(operation.from ?? ""), op), op);
    else if (op === "copy") add(root, at(path), structuredClone(get(root, at(operation.from ?? ""), op)), op);
    else if (!isDeepStrictEqual(get(root, at(path), op), value)) throw new PatchError(422, `testing value ${path} failed: test failed`);
  }
  return root.doc as T;
}

/** RFC 7386: objects merge, null deletes, anything else replaces. */
export function applyMergePatch<T>(target: T, patch: unknown): T {
  if (!isObject(patch)) return structuredClone(patch) as T;
  const out: Record<string, Json> = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch<Json>(out[key] ?? null, value);
  }
  return out as T;
}
