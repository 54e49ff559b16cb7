/**
 * PagerDuty's contract as the fake enforces it: contract.json (extracted from PagerDuty's published
 * OpenAPI descriptions by extract-contract.ts) compiled with Ajv.
 *
 * How the OpenAPI 3.0 text is read (documented in README.md):
 * - `oneOf` is read as `anyOf`: PagerDuty uses `oneOf` for "a reference or the full object", and a
 *   full object also satisfies the reference schema, so a strict `oneOf` refuses valid answers.
 * - `nullable: true` on a schema without `type` (allowed by OpenAPI, refused by Ajv) means
 *   "this schema, or null".
 * - Formats: `date-time` is ISO 8601 as PagerDuty accepts it (the Events example
 *   `2015-07-17T08:42:58.315+0000` has no colon in the offset); `email`; `url` (an absolute http or
 *   https URL); `uri` (any absolute URI, e.g. webcal://); `tzinfo` (an IANA zone name the runtime
 *   knows). Other formats are not checked.
 */
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export type ApiName = "rest" | "events";

export interface ContractPatch {
  readonly api: ApiName;
  readonly pointer: string;
  readonly reason: string;
}

export interface ParameterContract {
  readonly name: string;
  readonly in: "query" | "header" | "path";
  readonly required: boolean;
  /** Query arrays (`name[]`, `explode: true`) take the parameter once per value. */
  readonly repeated: boolean;
  /** The type of one value: "string" | "integer" | "boolean" | "number". */
  readonly type: string;
  readonly enum?: readonly string[];
  readonly format?: string;
  readonly default?: Json;
}

export interface OperationContract {
  /** "GET /users/{id}" */
  readonly key: string;
  readonly api: ApiName;
  readonly method: string;
  /** The path template as in the spec ("/users/{id}", "/enqueue"). */
  readonly template: string;
  readonly parameters: readonly ParameterContract[];
  /** The statuses the operation documents (a "5XX" entry becomes 500-599). */
  readonly statuses: ReadonlySet<number>;
  readonly hasBody: boolean;
  /** Errors in the request body ("'incident.title' is required"); empty when it is valid. */
  validateBody(body: unknown): string[];
  /** Errors in an answer the fake is about to give (a non-empty list is a bug in the fake). */
  validateResponse(status: number, body: unknown): string[];
  /** The contract's own request examples. */
  readonly requestExamples: readonly unknown[];
  /** The contract's own response examples. */
  readonly responseExamples: ReadonlyArray<{ status: number; value: unknown }>;
  /** A parameter value's errors, or [] (`value` as it arrived in the query string or header). */
  checkParameter(parameter: ParameterContract, value: string): string[];
}

export interface ApiContract {
  readonly name: ApiName;
  readonly title: string;
  readonly version: string;
  /** Every operation PagerDuty documents for this API, "METHOD /template". */
  readonly knownOperations: readonly string[];
  /** The implemented operation for a concrete path ("/users/PABC123" → GET /users/{id}), with its path parameters. */
  match(method: string, path: string): { operation: OperationContract; params: Record<string, string> } | undefined;
  /** Whether PagerDuty has this operation at all (implemented by the fake or not). */
  isKnown(method: string, path: string): boolean;
  operation(key: string): OperationContract;
}

export interface PagerDutyContract {
  readonly rest: ApiContract;
  readonly events: ApiContract;
  readonly patches: readonly ContractPatch[];
  readonly source: string;
  /** Validates a value against a component schema, e.g. ("rest", "User"). */
  validateSchema(api: ApiName, schema: string, value: unknown): string[];
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: Json | undefined, fallback = ""): string {
  return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : fallback;
}

function decode(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

function encode(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
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

/** Resolves a `$ref` chain inside one document. */
function deref(doc: Json, node: Json | undefined): Json | undefined {
  let current = node;
  for (let hops = 0; hops < 20 && isObject(current) && typeof current["$ref"] === "string"; hops += 1) {
    current = at(doc, current["$ref"]);
  }
  return current;
}

/** The reading rules above, applied to a copy of the document. */
function normalize(node: Json): Json {
  if (Array.isArray(node)) return node.map(normalize);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key === "oneOf" ? "anyOf" : key] = normalize(value);
  if (out["nullable"] === true && out["type"] === undefined) {
    const { nullable: _nullable, ...rest } = out;
    return { anyOf: [rest, { enum: [null] }] };
  }
  return out;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

export function isIsoDateTime(value: string): boolean {
  return ISO_8601.test(value) && !Number.isNaN(Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, "$1:$2")));
}

export function parseIsoDateTime(value: string): number {
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, "$1:$2"));
}

export function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export function isEmail(value: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

export function isAbsoluteUri(value: string): boolean {
  try {
    return new URL(value).protocol.length > 1;
  } catch {
    return false;
  }
}

function createAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false });
  ajv.addFormat("date-time", { type: "string", validate: isIsoDateTime });
  ajv.addFormat("email", { type: "string", validate: isEmail });
  ajv.addFormat("url", { type: "string", validate: isHttpUrl });
  ajv.addFormat("uri", { type: "string", validate: isAbsoluteUri });
  ajv.addFormat("tzinfo", { type: "string", validate: isTimeZone });
  for (const unchecked of ["uuid", "int32", "int64", "float", "double", "byte", "binary", "password", "date", "duration", "hostname", "ipv4", "ipv6"]) {
    ajv.addFormat(unchecked, true);
  }
  return ajv;
}

/** "/incident/service/id" → "incident.service.id" */
function dotted(instancePath: string, extra?: string): string {
  const parts = instancePath
    .split("/")
    .slice(1)
    .map(decode);
  if (extra !== undefined) parts.push(extra);
  return parts.reduce((out, part) => (/^\d+$/.test(part) ? `${out}[${part}]` : out === "" ? part : `${out}.${part}`), "");
}

/** Ajv's errors in PagerDuty's wording, one line per problem; anyOf noise folded into its branches' errors. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, root = "body"): string[] {
  const lines: string[] = [];
  for (const error of errors ?? []) {
    const where = dotted(error.instancePath) || root;
    switch (error.keyword) {
      case "required": {
        const missing = (error.params as { missingProperty: string }).missingProperty;
        lines.push(`'${dotted(error.instancePath, missing)}' is required`);
        break;
      }
      case "enum":
        lines.push(`'${where}' must be one of: ${((error.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String).join(", ")}`);
        break;
      case "type":
        lines.push(`'${where}' must be ${(error.params as { type: string }).type === "object" ? "an object" : `a ${String((error.params as { type: string }).type)}`}`);
        break;
      case "format":
        lines.push(`'${where}' is not a valid ${(error.params as { format: string }).format}`);
        break;
      case "maxLength":
      case "minLength":
        lines.push(`'${where}' ${error.message ?? "has the wrong length"}`);
        break;
      case "anyOf":
        // Each branch's own errors are listed too; this line only says which value they belong to.
        lines.push(`'${where}' matches none of the allowed shapes`);
        break;
      default:
        lines.push(`'${where}' ${error.message ?? "is invalid"}`);
    }
  }
  return [...new Set(lines)];
}

interface Compiled {
  get(pointer: string): ValidateFunction;
}

function compiler(ajv: Ajv, id: string): Compiled {
  const cache = new Map<string, ValidateFunction>();
  return {
    get(pointer) {
      let validate = cache.get(pointer);
      if (!validate) {
        validate = ajv.compile({ $ref: `${id}#${pointer}` });
        cache.set(pointer, validate);
      }
      return validate;
    },
  };
}

function statusesOf(responses: JsonObject): Set<number> {
  const statuses = new Set<number>();
  for (const key of Object.keys(responses)) {
    if (/^\dXX$/i.test(key)) for (let status = Number(key[0]) * 100; status < Number(key[0]) * 100 + 100; status += 1) statuses.add(status);
    else if (/^\d{3}$/.test(key)) statuses.add(Number(key));
  }
  return statuses;
}

function templateRegExp(template: string): { regexp: RegExp; names: string[] } {
  const names: string[] = [];
  const source = template
    .split("/")
    .map((segment) => {
      const param = /^\{([^}]+)\}$/.exec(segment);
      if (param) {
        names.push(param[1] ?? "");
        return "([^/]+)";
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { regexp: new RegExp(`^${source}$`), names };
}

function buildApi(name: ApiName, raw: JsonObject, ajv: Ajv, basePath: string): ApiContract {
  const doc = normalize(raw) as JsonObject;
  const id = `pagerduty-${name}`;
  ajv.addSchema(doc, id);
  const compiled = compiler(ajv, id);
  const paths = isObject(doc["paths"]) ? doc["paths"] : {};
  const operations = new Map<string, OperationContract>();
  const matchers: Array<{ regexp: RegExp; names: string[]; method: string; key: string }> = [];

  for (const [template, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const [method, rawOperation] of Object.entries(item)) {
      if (!isObject(rawOperation)) continue;
      const key = `${method.toUpperCase()} ${template}`;
      const opPointer = `/paths/${encode(template)}/${method}`;
      const parameters: ParameterContract[] = [];
      for (const rawParameter of Array.isArray(rawOperation["parameters"]) ? rawOperation["parameters"] : []) {
        const parameter = deref(doc, rawParameter);
        if (!isObject(parameter)) continue;
        const schema = deref(doc, parameter["schema"]);
        const schemaObject = isObject(schema) ? schema : {};
        const isArray = schemaObject["type"] === "array";
        const itemSchema = isArray ? deref(doc, schemaObject["items"]) : schemaObject;
        const item = isObject(itemSchema) ? itemSchema : {};
        const enumValues = Array.isArray(item["enum"]) ? item["enum"].map(String) : undefined;
        const parameterName = text(parameter["name"]);
        parameters.push({
          name: parameterName,
          in: parameter["in"] as ParameterContract["in"],
          required: parameter["required"] === true,
          repeated: isArray || parameter["explode"] === true || parameterName.endsWith("[]"),
          type: typeof item["type"] === "string" ? item["type"] : "string",
          ...(enumValues ? { enum: enumValues } : {}),
          ...(typeof item["format"] === "string" ? { format: item["format"] } : {}),
          ...(item["default"] !== undefined ? { default: item["default"] } : {}),
        });
      }
      const responses = isObject(rawOperation["responses"]) ? rawOperation["responses"] : {};
      const requestBody = deref(doc, rawOperation["requestBody"]);
      const requestMedia = isObject(requestBody) ? at(requestBody, "/content/application~1json") : undefined;
      const requestExamples = isObject(requestMedia) && isObject(requestMedia["examples"]) ? Object.values(requestMedia["examples"]).map((example) => (isObject(example) ? example["value"] : undefined)) : [];
      const responseExamples: Array<{ status: number; value: unknown }> = [];
      for (const [status, response] of Object.entries(responses)) {
        const resolved = deref(doc, response);
        const media = isObject(resolved) ? at(resolved, "/content/application~1json") : undefined;
        if (isObject(media) && isObject(media["examples"]) && /^\d{3}$/.test(status)) {
          for (const example of Object.values(media["examples"])) if (isObject(example)) responseExamples.push({ status: Number(status), value: example["value"] });
        }
      }

      const responseSchemaPointer = (status: number): string | undefined => {
        const keys = [String(status), `${String(status)[0]}XX`, `${String(status)[0]}xx`, "default"];
        for (const statusKey of keys) {
          const response = responses[statusKey];
          if (response === undefined) continue;
          // Follow $refs to the response object, keeping a pointer Ajv can compile.
          let pointer = `${opPointer}/responses/${statusKey}`;
          let node: Json | undefined = response;
          for (let hops = 0; hops < 20 && isObject(node) && typeof node["$ref"] === "string"; hops += 1) {
            pointer = node["$ref"].replace(/^#/, "");
            node = at(doc, node["$ref"]);
          }
          if (isObject(node) && isObject(at(node, "/content/application~1json/schema"))) return `${pointer}/content/application~1json/schema`;
          return undefined;
        }
        return undefined;
      };

      const operation: OperationContract = {
        key,
        api: name,
        method: method.toUpperCase(),
        template,
        parameters,
        statuses: statusesOf(responses),
        hasBody: requestMedia !== undefined,
        requestExamples,
        responseExamples,
        validateBody(body) {
          if (requestMedia === undefined) return [];
          const validate = compiled.get(`${opPointer}/requestBody/content/application~1json/schema`);
          return validate(body) ? [] : describeErrors(validate.errors);
        },
        validateResponse(status, body) {
          if (!operation.statuses.has(status)) return [`status ${status} is not documented for ${key} (documented: ${[...operation.statuses].filter((s) => s < 500 || s === 500).join(", ")})`];
          const pointer = responseSchemaPointer(status);
          if (pointer === undefined) return [];
          const validate = compiled.get(pointer);
          return validate(body) ? [] : describeErrors(validate.errors, "answer");
        },
        checkParameter(parameter, value) {
          const label = parameter.in === "header" ? `header '${parameter.name}'` : `'${parameter.name}'`;
          if (parameter.type === "integer" && !/^-?\d+$/.test(value)) return [`${label} must be an integer`];
          if (parameter.type === "number" && !Number.isFinite(Number(value))) return [`${label} must be a number`];
          if (parameter.type === "boolean" && value !== "true" && value !== "false") return [`${label} must be true or false`];
          if (parameter.enum && !parameter.enum.includes(value)) return [`${label} must be one of: ${parameter.enum.join(", ")} (got '${value}')`];
          if (parameter.format === "date-time" && !isIsoDateTime(value)) return [`${label} is not a valid date-time`];
          if (parameter.format === "email" && !isEmail(value)) return [`${label} is not a valid email`];
          if (parameter.format === "tzinfo" && !isTimeZone(value)) return [`${label} is not a valid time zone`];
          return [];
        },
      };
      operations.set(key, operation);
      matchers.push({ ...templateRegExp(`${basePath}${template}`), method: method.toUpperCase(), key });
    }
  }
  // Literal segments before parameters: "/users/me" style templates win over "/users/{id}".
  matchers.sort((a, b) => a.names.length - b.names.length);

  const known = Array.isArray(doc["knownOperations"]) ? doc["knownOperations"].map(String) : [];
  const knownMatchers = known.map((entry) => {
    const [method = "", template = ""] = entry.split(" ");
    return { method, ...templateRegExp(`${basePath}${template}`) };
  });
  const info = isObject(doc["info"]) ? doc["info"] : {};

  return {
    name,
    title: text(info["title"], name),
    version: text(info["version"]),
    knownOperations: known,
    match(method, path) {
      for (const matcher of matchers) {
        if (matcher.method !== method.toUpperCase()) continue;
        const found = matcher.regexp.exec(path);
        if (!found) continue;
        const params: Record<string, string> = {};
        matcher.names.forEach((paramName, index) => {
          params[paramName] = decodeURIComponent(found[index + 1] ?? "");
        });
        const operation = operations.get(matcher.key);
        if (operation) return { operation, params };
      }
      return undefined;
    },
    isKnown(method, path) {
      return knownMatchers.some((matcher) => matcher.method === method.toUpperCase() && matcher.regexp.test(path));
    },
    operation(key) {
      const operation = operations.get(key);
      if (!operation) throw new Error(`contract: no operation ${key} in the ${name} contract`);
      return operation;
    },
  };
}

export function parseContract(raw: unknown): PagerDutyContract {
  if (!isObject(raw) || !isObject(raw["rest"]) || !isObject(raw["events"]) || !Array.isArray(raw["patches"])) {
    throw new Error("contract.json: expected { rest, events, patches }");
  }
  const ajv = createAjv();
  const rest = buildApi("rest", raw["rest"], ajv, "");
  const events = buildApi("events", raw["events"], ajv, "/v2");
  const schemaCache = new Map<string, ValidateFunction>();
  return {
    rest,
    events,
    source: text(raw["_source"]),
    patches: raw["patches"].map((patch) => {
      if (!isObject(patch)) throw new Error("contract.json: a patch must be an object");
      return { api: patch["api"] as ApiName, pointer: text(patch["pointer"]), reason: text(patch["reason"]) };
    }),
    validateSchema(api, schema, value) {
      const key = `${api}:${schema}`;
      let validate = schemaCache.get(key);
      if (!validate) {
        validate = ajv.compile({ $ref: `pagerduty-${api}#/components/schemas/${encode(schema)}` });
        schemaCache.set(key, validate);
      }
      return validate(value) ? [] : describeErrors(validate.errors, schema);
    },
  };
}

let cached: PagerDutyContract | undefined;

/** The contract shipped next to this file (parsed and compiled once per process). */
export function loadPagerDutyContract(): PagerDutyContract {
  cached ??= parseContract(JSON.parse(readFileSync(new URL("./contract.json", import.meta.url), "utf8")));
  return cached;
}
