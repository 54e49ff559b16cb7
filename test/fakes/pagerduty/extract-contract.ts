/**
 * Extracts the PagerDuty contract for what the fake PagerDuty (test/fakes/pagerduty) serves from
 * PagerDuty's published OpenAPI v3 descriptions (PagerDuty/api-schema: reference/REST/openapiv3.json
 * and reference/events-v2/openapiv3.json) into test/fakes/pagerduty/contract.json: the operations
 * the fake implements, every component they reference (transitively), and the list of every
 * operation PagerDuty has (so the fake can tell "not implemented by the fake" from "no such
 * endpoint").
 *
 * Usage:
 *   npx tsx test/fakes/pagerduty/extract-contract.ts [--rest <spec.json>] [--events <spec.json>] [--out <contract.json>] [--check]
 *
 * --rest    defaults to $PAGERDUTY_REST_OPENAPI_SPEC or /work/shared/contracts/pagerduty-rest.openapi-v3.json
 * --events  defaults to $PAGERDUTY_EVENTS_OPENAPI_SPEC or /work/shared/contracts/pagerduty-events-v2.openapi-v3.json
 *           (the specs are not vendored in this repo; only the extracted contract.json is committed).
 * --check   does not write; exits 1 when the committed contract.json differs from a fresh extraction.
 *
 * Where the published description contradicts its own examples or PagerDuty's documented
 * behaviour, a patch below changes it; every patch is listed in contract.json under `patches`
 * with its reason, so the provenance of each rule stays visible.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The operations the fake implements ("METHOD path" as in the spec's `paths`). */
export const IMPLEMENTED = {
  rest: ["GET /oncalls", "GET /users/{id}", "GET /users", "POST /incidents"],
  events: ["POST /enqueue"],
} as const;

interface Patch {
  api: "rest" | "events";
  /** JSON pointer into the extracted document. */
  pointer: string;
  reason: string;
  apply(target: JsonObject): void;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function decode(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

function at(doc: Json, pointer: string): Json | undefined {
  let node: Json | undefined = doc;
  for (const raw of pointer.replace(/^#?\//, "").split("/")) {
    const key = decode(raw);
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObject(node)) node = node[key];
    else return undefined;
  }
  return node;
}

function objectAt(doc: Json, pointer: string): JsonObject {
  const node = at(doc, pointer);
  if (!isObject(node)) throw new Error(`extract-contract: ${pointer} is not an object in the spec`);
  return node;
}

const PATCHES: Patch[] = [
  {
    api: "rest",
    pointer: "/components/schemas/IncidentBody",
    reason:
      "The schema says `details` is an object and requires a `type` it does not declare; the contract's own POST /incidents example (and PagerDuty's API) sends `{ type: \"incident_body\", details: \"<text>\" }`. Read: `type` is \"incident_body\", `details` is a string.",
    apply(schema) {
      schema["properties"] = {
        type: { type: "string", enum: ["incident_body"] },
        details: { type: "string", description: "Additional incident details." },
      };
    },
  },
  {
    api: "rest",
    pointer: "/components/schemas/Oncall",
    reason:
      "The descriptions of `start` and `end` say \"If `null`, the on-call is a permanent user on-call\" (and `schedule` is null for those, PagerDuty's direct user escalation targets), but the schemas are not marked nullable.",
    apply(schema) {
      const properties = schema["properties"];
      if (!isObject(properties)) throw new Error("Oncall.properties missing");
      for (const key of ["start", "end", "schedule"]) {
        const property = properties[key];
        if (!isObject(property)) throw new Error(`Oncall.properties.${key} missing`);
        property["nullable"] = true;
      }
    },
  },
  {
    api: "rest",
    pointer: "/components/schemas/Incident",
    reason:
      "`resolved_at` is null until the incident is resolved (the contract's own 201 example has `\"resolved_at\": null`), but the schema is not marked nullable.",
    apply(schema) {
      const allOf = schema["allOf"];
      const own = Array.isArray(allOf) ? allOf[1] : undefined;
      const properties = isObject(own) ? own["properties"] : undefined;
      const resolvedAt = isObject(properties) ? properties["resolved_at"] : undefined;
      if (!isObject(resolvedAt)) throw new Error("Incident.resolved_at missing");
      resolvedAt["nullable"] = true;
    },
  },
];

/** Keys copied from an operation (descriptions kept short: the first paragraph). */
function trimOperation(operation: JsonObject): JsonObject {
  const copy = structuredClone(operation);
  const description = copy["description"];
  if (typeof description === "string") copy["description"] = description.split("\n\n")[0] ?? description;
  return copy;
}

/** Drops schema examples inside components (operation examples are kept: the fake's tests replay them). */
function stripExamples(node: Json, path: string[] = []): Json {
  if (Array.isArray(node)) return node.map((item, index) => stripExamples(item, [...path, String(index)]));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    // `example`/`x-examples` are annotations of a schema; a property *named* example stays.
    if ((key === "example" || key === "x-examples") && path.at(-1) !== "properties") continue;
    out[key] = stripExamples(value, [...path, key]);
  }
  return out;
}

function collectRefs(node: Json, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, into);
    return;
  }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (key === "$ref" && typeof value === "string") {
      if (!value.startsWith("#/components/")) throw new Error(`extract-contract: external $ref ${value}`);
      // The component itself (#/components/<kind>/<name>); refs may point inside it.
      into.add(value.split("/").slice(0, 4).join("/"));
    } else {
      collectRefs(value, into);
    }
  }
}

interface ExtractedApi {
  openapi: Json;
  info: { title: Json; version: Json };
  servers: Json;
  security: Json;
  securitySchemes: Json;
  paths: JsonObject;
  components: JsonObject;
  knownOperations: string[];
}

function extractApi(spec: JsonObject, implemented: readonly string[]): ExtractedApi {
  const paths = objectAt(spec, "/paths");
  const knownOperations: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of Object.keys(item)) {
      if (["get", "put", "post", "patch", "delete"].includes(method)) knownOperations.push(`${method.toUpperCase()} ${path}`);
    }
  }
  knownOperations.sort();

  const outPaths: JsonObject = {};
  const refs = new Set<string>();
  for (const operationKey of implemented) {
    const [method = "", path = ""] = operationKey.split(" ");
    const operation = objectAt(paths, `/${path.replace(/~/g, "~0").replace(/\//g, "~1")}/${method.toLowerCase()}`);
    const trimmed = trimOperation(operation);
    collectRefs(trimmed, refs);
    const item = outPaths[path];
    outPaths[path] = { ...(isObject(item) ? item : {}), [method.toLowerCase()]: trimmed };
  }

  const components: JsonObject = {};
  const queue = [...refs];
  const done = new Set<string>();
  while (queue.length > 0) {
    const ref = queue.shift() ?? "";
    if (done.has(ref)) continue;
    done.add(ref);
    const [, , kind = "", name = ""] = ref.split("/");
    const component = stripExamples(objectAt(spec, ref));
    const group = components[kind];
    components[kind] = { ...(isObject(group) ? group : {}), [decode(name)]: component };
    const more = new Set<string>();
    collectRefs(component, more);
    for (const next of more) if (!done.has(next)) queue.push(next);
  }
  // Stable order for a readable diff.
  for (const [kind, group] of Object.entries(components)) {
    if (isObject(group)) components[kind] = Object.fromEntries(Object.entries(group).sort(([a], [b]) => a.localeCompare(b)));
  }

  const info = objectAt(spec, "/info");
  return {
    openapi: spec["openapi"] ?? null,
    info: { title: info["title"] ?? null, version: info["version"] ?? null },
    servers: spec["servers"] ?? null,
    security: spec["security"] ?? null,
    securitySchemes: at(spec, "/components/securitySchemes") ?? null,
    paths: outPaths,
    components: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
    knownOperations,
  };
}

function applyPatches(apis: { rest: ExtractedApi; events: ExtractedApi }): Array<{ api: string; pointer: string; reason: string }> {
  return PATCHES.map((patch) => {
    const doc = apis[patch.api] as unknown as JsonObject;
    patch.apply(objectAt(doc, patch.pointer));
    return { api: patch.api, pointer: patch.pointer, reason: patch.reason };
  });
}

export function extract(restSpec: JsonObject, eventsSpec: JsonObject, files: { rest: string; events: string }): JsonObject {
  const apis = { rest: extractApi(restSpec, IMPLEMENTED.rest), events: extractApi(eventsSpec, IMPLEMENTED.events) };
  const patches = applyPatches(apis);
  return {
    _source:
      "Extracted by test/fakes/pagerduty/extract-contract.ts from PagerDuty's published OpenAPI descriptions (github.com/PagerDuty/api-schema: reference/REST/openapiv3.json, reference/events-v2/openapiv3.json). Do not edit by hand: change the extractor (or its patches) and re-run it.",
    specs: {
      rest: { title: apis.rest.info.title, version: apis.rest.info.version, file: files.rest, repository: "PagerDuty/api-schema", path: "reference/REST/openapiv3.json" },
      events: { title: apis.events.info.title, version: apis.events.info.version, file: files.events, repository: "PagerDuty/api-schema", path: "reference/events-v2/openapiv3.json" },
    },
    patches,
    rest: apis.rest as unknown as JsonObject,
    events: apis.events as unknown as JsonObject,
  };
}

function argument(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

function main(args: string[]): number {
  const here = dirname(fileURLToPath(import.meta.url));
  const restFile = resolve(argument(args, "--rest") ?? process.env["PAGERDUTY_REST_OPENAPI_SPEC"] ?? "/work/shared/contracts/pagerduty-rest.openapi-v3.json");
  const eventsFile = resolve(argument(args, "--events") ?? process.env["PAGERDUTY_EVENTS_OPENAPI_SPEC"] ?? "/work/shared/contracts/pagerduty-events-v2.openapi-v3.json");
  const out = resolve(argument(args, "--out") ?? resolve(here, "contract.json"));
  for (const file of [restFile, eventsFile]) {
    if (!existsSync(file)) {
      console.error(`extract-contract: ${file} not found (pass --rest/--events or set PAGERDUTY_REST_OPENAPI_SPEC/PAGERDUTY_EVENTS_OPENAPI_SPEC)`);
      return 2;
    }
  }
  const rest = JSON.parse(readFileSync(restFile, "utf8")) as JsonObject;
  const events = JSON.parse(readFileSync(eventsFile, "utf8")) as JsonObject;
  const text = `${JSON.stringify(extract(rest, events, { rest: "pagerduty-rest.openapi-v3.json", events: "pagerduty-events-v2.openapi-v3.json" }), null, 2)}\n`;
  if (args.includes("--check")) {
    const current = existsSync(out) ? readFileSync(out, "utf8") : "";
    if (current !== text) {
      console.error(`extract-contract: ${out} is stale; re-run without --check`);
      return 1;
    }
    console.log(`extract-contract: ${out} is up to date`);
    return 0;
  }
  writeFileSync(out, text);
  console.log(`extract-contract: wrote ${out} (${text.length} bytes)`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
