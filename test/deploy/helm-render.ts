// A small renderer for the subset of Helm's Go templates that deploy/helm/firebreak uses, for
// machines without a `helm` binary (test/deploy/chart.test.ts compares it with the real `helm
// template` whenever one is found: test/deploy/helm-binary.ts).
//
// Supported, with Go's semantics:
//   text/template: {{ pipeline }}, trim markers {{- and -}}, comments {{/* */}}, if / else if /
//   else / end, range (lists in order, maps by sorted key; `$v :=` and `$k, $v :=`), define,
//   variables (`$x := pipeline`, `$`, `$x.Field`), field chains (.Values.a.b), parentheses,
//   pipelines (`a | f b` calls f(b, a)), string ("..." and `...`), number, true/false/nil literals;
//   the builtins and, or, not, eq, printf.
//   Helm: include, required, fail, toYaml, and Sprig's default, quote, nindent, trunc, trimSuffix,
//   contains, regexMatch, sha256sum; .Values (values.yaml deep-merged with overrides, a null
//   override deleting a key), .Release, .Chart.
// Anything else (with, template, block, other functions, printing a map) is an error, never a
// silent approximation. toYaml's formatting differs from Helm's (the `yaml` package, sorted keys)
// but parses to the same data.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parse, stringify } from "yaml";

// ---------------------------------------------------------------------------------------------
// Lexing: text and actions.

interface TextSegment {
  kind: "text";
  text: string;
}
interface ActionSegment {
  kind: "action";
  body: string;
  /** 1-based line of the `{{`. */
  line: number;
}
type Segment = TextSegment | ActionSegment;

export class TemplateError extends Error {}

function lex(source: string, name: string): Segment[] {
  const segments: Segment[] = [];
  let pos = 0;
  let trimNext = false;
  const lineAt = (index: number) => source.slice(0, index).split("\n").length;
  while (pos < source.length) {
    const open = source.indexOf("{{", pos);
    let text = open === -1 ? source.slice(pos) : source.slice(pos, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, "");
    trimNext = false;
    if (open === -1) {
      segments.push({ kind: "text", text });
      break;
    }
    let start = open + 2;
    if (/^-[ \t\r\n]/.test(source.slice(start, start + 2))) {
      text = text.replace(/[ \t\r\n]+$/, "");
      start += 1;
    }
    segments.push({ kind: "text", text });
    // Find the closing }} outside string literals and comments.
    let i = start;
    let close = -1;
    while (i < source.length) {
      const c = source[i];
      if (c === '"') {
        i++;
        while (i < source.length && source[i] !== '"') i += source[i] === "\\" ? 2 : 1;
        i++;
      } else if (c === "`") {
        const end = source.indexOf("`", i + 1);
        if (end === -1) break;
        i = end + 1;
      } else if (source.startsWith("/*", i)) {
        const end = source.indexOf("*/", i + 2);
        if (end === -1) break;
        i = end + 2;
      } else if (source.startsWith("}}", i)) {
        close = i;
        break;
      } else {
        i++;
      }
    }
    if (close === -1) throw new TemplateError(`${name}:${lineAt(open)}: unclosed action`);
    let body = source.slice(start, close);
    if (/[ \t\r\n]-$/.test(body)) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    body = body.trim();
    if (!(body.startsWith("/*") && body.endsWith("*/"))) segments.push({ kind: "action", body, line: lineAt(open) });
    pos = close + 2;
  }
  return segments;
}

// ---------------------------------------------------------------------------------------------
// Expressions: tokens, pipelines.

type Token =
  | { t: "str"; v: string }
  | { t: "num"; v: number }
  | { t: "ident"; v: string }
  | { t: "field"; v: string[] } // .A.B (empty list: the dot itself)
  | { t: "var"; v: string; fields: string[] } // $x.A.B ("" for $)
  | { t: "(" }
  | { t: ")" }
  | { t: "|" }
  | { t: ":=" }
  | { t: "," };

function tokenize(body: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fieldChain = (): string[] => {
    const fields: string[] = [];
    while (body[i] === ".") {
      const match = /^\.([A-Za-z_][A-Za-z0-9_]*)?/.exec(body.slice(i));
      if (!match) break;
      i += match[0].length;
      if (match[1] === undefined) break;
      fields.push(match[1]);
    }
    return fields;
  };
  while (i < body.length) {
    const c = body[i] ?? "";
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < body.length && body[j] !== '"') j += body[j] === "\\" ? 2 : 1;
      tokens.push({ t: "str", v: JSON.parse(body.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === "`") {
      const j = body.indexOf("`", i + 1);
      tokens.push({ t: "str", v: body.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "(" || c === ")" || c === "|" || c === ",") {
      tokens.push({ t: c });
      i++;
    } else if (body.startsWith(":=", i)) {
      tokens.push({ t: ":=" });
      i += 2;
    } else if (c === "$") {
      const match = /^\$([A-Za-z_][A-Za-z0-9_]*)?/.exec(body.slice(i)) ?? ["$", undefined];
      i += match[0].length;
      tokens.push({ t: "var", v: match[1] ?? "", fields: fieldChain() });
    } else if (c === ".") {
      tokens.push({ t: "field", v: fieldChain() });
    } else if (/[-0-9]/.test(c)) {
      const match = /^-?[0-9]+(\.[0-9]+)?/.exec(body.slice(i));
      if (!match) throw new TemplateError(`${where}: unexpected ${JSON.stringify(body.slice(i))}`);
      tokens.push({ t: "num", v: Number(match[0]) });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i)) ?? [""];
      tokens.push({ t: "ident", v: match[0] });
      i += match[0].length;
    } else {
      throw new TemplateError(`${where}: unsupported syntax at ${JSON.stringify(body.slice(i))}`);
    }
  }
  return tokens;
}

type Operand =
  | { kind: "literal"; value: unknown }
  | { kind: "field"; fields: string[] }
  | { kind: "var"; name: string; fields: string[] }
  | { kind: "ident"; name: string }
  | { kind: "pipe"; pipe: Pipeline };
type Command = Operand[];
type Pipeline = Command[];

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let pos = 0;
  const pipeline = (): Pipeline => {
    const commands: Pipeline = [];
    let command: Command = [];
    while (pos < tokens.length) {
      const token = tokens[pos] as Token;
      if (token.t === ")") break;
      pos++;
      if (token.t === "|") {
        if (command.length === 0) throw new TemplateError(`${where}: empty command in pipeline`);
        commands.push(command);
        command = [];
      } else if (token.t === "(") {
        const inner = pipeline();
        if (tokens[pos]?.t !== ")") throw new TemplateError(`${where}: unclosed parenthesis`);
        pos++;
        command.push({ kind: "pipe", pipe: inner });
      } else if (token.t === "str" || token.t === "num") {
        command.push({ kind: "literal", value: token.v });
      } else if (token.t === "ident") {
        if (token.v === "true" || token.v === "false") command.push({ kind: "literal", value: token.v === "true" });
        else if (token.v === "nil") command.push({ kind: "literal", value: null });
        else command.push({ kind: "ident", name: token.v });
      } else if (token.t === "field") {
        command.push({ kind: "field", fields: token.v });
      } else if (token.t === "var") {
        command.push({ kind: "var", name: token.v, fields: token.fields });
      } else {
        throw new TemplateError(`${where}: unexpected ${token.t}`);
      }
    }
    if (command.length === 0) throw new TemplateError(`${where}: empty pipeline`);
    commands.push(command);
    return commands;
  };
  const result = pipeline();
  if (pos !== tokens.length) throw new TemplateError(`${where}: unexpected )`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Parsing: the node tree.

type Node =
  | { kind: "text"; text: string }
  | { kind: "output"; pipe: Pipeline; where: string }
  | { kind: "declare"; name: string; pipe: Pipeline; where: string }
  | { kind: "if"; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[]; where: string }
  | { kind: "range"; pipe: Pipeline; keyVar: string | undefined; valueVar: string | undefined; body: Node[]; where: string };

interface Parsed {
  nodes: Node[];
  defines: Map<string, Node[]>;
}

function parseTemplate(source: string, name: string): Parsed {
  const segments = lex(source, name);
  const defines = new Map<string, Node[]>();
  let pos = 0;

  /** Parses until `end` or `else` (returned, not consumed past) at this level. */
  const block = (): { nodes: Node[]; stop: ActionSegment | undefined } => {
    const nodes: Node[] = [];
    while (pos < segments.length) {
      const segment = segments[pos] as Segment;
      pos++;
      if (segment.kind === "text") {
        if (segment.text !== "") nodes.push({ kind: "text", text: segment.text });
        continue;
      }
      const where = `${name}:${segment.line}`;
      const keyword = /^[a-z]+/.exec(segment.body)?.[0] ?? "";
      const rest = segment.body.slice(keyword.length).trim();
      if (keyword === "end" || keyword === "else") return { nodes, stop: segment };
      if (keyword === "if") {
        const branches = [{ cond: parsePipeline(tokenize(rest, where), where), body: [] as Node[] }];
        let otherwise: Node[] = [];
        for (;;) {
          const inner = block();
          const stop = inner.stop;
          if (!stop) throw new TemplateError(`${where}: if without end`);
          if (stop.body === "end") {
            (branches[branches.length - 1] as { body: Node[] }).body = inner.nodes;
            break;
          }
          const elseRest = stop.body.slice(4).trim();
          (branches[branches.length - 1] as { body: Node[] }).body = inner.nodes;
          if (elseRest.startsWith("if ")) {
            branches.push({ cond: parsePipeline(tokenize(elseRest.slice(3), where), where), body: [] });
            continue;
          }
          if (elseRest !== "") throw new TemplateError(`${where}: unsupported else ${elseRest}`);
          const last = block();
          if (last.stop?.body !== "end") throw new TemplateError(`${where}: else without end`);
          otherwise = last.nodes;
          break;
        }
        nodes.push({ kind: "if", branches, otherwise, where });
      } else if (keyword === "range") {
        const match = /^(\$[A-Za-z_][A-Za-z0-9_]*)\s*(?:,\s*(\$[A-Za-z_][A-Za-z0-9_]*)\s*)?:=\s*(.*)$/s.exec(rest);
        const keyVar = match?.[2] ? match[1]?.slice(1) : undefined;
        const valueVar = match ? (match[2] ?? match[1])?.slice(1) : undefined;
        const pipe = parsePipeline(tokenize(match ? (match[3] ?? "") : rest, where), where);
        const inner = block();
        if (inner.stop?.body !== "end") throw new TemplateError(`${where}: range without end (range/else is not supported)`);
        nodes.push({ kind: "range", pipe, keyVar, valueVar, body: inner.nodes, where });
      } else if (keyword === "define") {
        const defineName = JSON.parse(rest) as string;
        const inner = block();
        if (inner.stop?.body !== "end") throw new TemplateError(`${where}: define without end`);
        defines.set(defineName, inner.nodes);
      } else if (["with", "template", "block", "break", "continue"].includes(keyword)) {
        throw new TemplateError(`${where}: "${keyword}" is outside the supported subset`);
      } else {
        const declaration = /^\$([A-Za-z_][A-Za-z0-9_]*)\s*:=\s*(.*)$/s.exec(segment.body);
        if (declaration) {
          nodes.push({ kind: "declare", name: declaration[1] ?? "", pipe: parsePipeline(tokenize(declaration[2] ?? "", where), where), where });
        } else {
          nodes.push({ kind: "output", pipe: parsePipeline(tokenize(segment.body, where), where), where });
        }
      }
    }
    return { nodes, stop: undefined };
  };
  const top = block();
  if (top.stop) throw new TemplateError(`${name}: unexpected {{ ${top.stop.body} }}`);
  return { nodes: top.nodes, defines };
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

class Scope {
  private readonly vars = new Map<string, unknown>();
  constructor(private readonly parent: Scope | undefined) {}
  declare(name: string, value: unknown): void {
    this.vars.set(name, value);
  }
  lookup(name: string, where: string): unknown {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.lookup(name, where);
    throw new TemplateError(`${where}: undefined variable $${name}`);
  }
}

interface Context {
  dot: unknown;
  scope: Scope;
  engine: Engine;
}

/** Go's notion of a value's truth (if, and, or, not). */
export function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object") return Object.keys(value).length > 0;
  return true;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(value: unknown, fields: string[], where: string): unknown {
  let current = value;
  let walked = "";
  for (const name of fields) {
    if (current === null || current === undefined) throw new TemplateError(`${where}: nil pointer evaluating ${walked || "."}.${name}`);
    if (!isMap(current)) throw new TemplateError(`${where}: can't evaluate field ${name} in a ${Array.isArray(current) ? "list" : typeof current}`);
    current = current[name];
    walked += `.${name}`;
  }
  return current;
}

/**
 * How Go prints a float64 (every number of a values file is one): %v is %g with the shortest
 * precision, which switches to an exponent from 1e+06 on (Helm prints 1000000 as 1e+06).
 */
export function goFloat(value: number): string {
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN";
  if (value === 0) return "0";
  const [mantissa, power] = value.toExponential().split("e") as [string, string];
  const exponent = Number(power);
  if (exponent < -4 || exponent >= 6) return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  return String(value);
}

/** How Go prints a value with {{ }} (Helm prints a missing value as nothing). */
function print(value: unknown, where: string): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number") return goFloat(value);
  if (typeof value === "boolean") return String(value);
  throw new TemplateError(`${where}: printing a ${Array.isArray(value) ? "list" : "map"} (use toYaml)`);
}

function toYaml(value: unknown): string {
  if (value === undefined) return "null";
  return stringify(value, { sortMapEntries: true, lineWidth: 0, indentSeq: false }).replace(/\n$/, "");
}

function indentLines(text: string, spaces: number): string {
  const pad = " ".repeat(spaces);
  return text
    .split("\n")
    .map((line) => pad + line)
    .join("\n");
}

function goFormat(format: string, args: unknown[], where: string): string {
  let index = 0;
  return format.replace(/%([%sdvq])/g, (_match, verb: string) => {
    if (verb === "%") return "%";
    const value = args[index++];
    if (verb === "q") return JSON.stringify(print(value, where));
    return print(value, where);
  });
}

type Fn = (ctx: Context, args: unknown[], where: string) => unknown;

const FUNCTIONS: Record<string, Fn> = {
  and: (_ctx, args) => args.find((arg) => !truthy(arg)) ?? args[args.length - 1],
  or: (_ctx, args) => args.find((arg) => truthy(arg)) ?? args[args.length - 1],
  not: (_ctx, [value]) => !truthy(value),
  eq: (_ctx, [first, ...rest]) => rest.some((other) => other === first),
  printf: (_ctx, [format, ...args], where) => goFormat(String(format), args, where),
  include: (ctx, [name, data], where) => ctx.engine.include(String(name), data, where),
  required: (_ctx, [message, value]) => {
    if (value === null || value === undefined || value === "") throw new TemplateError(String(message));
    return value;
  },
  fail: (_ctx, [message]) => {
    throw new TemplateError(String(message));
  },
  toYaml: (_ctx, [value]) => toYaml(value),
  default: (_ctx, [fallback, value]) => (truthy(value) ? value : fallback),
  quote: (_ctx, args, where) =>
    args
      .filter((arg) => arg !== null && arg !== undefined)
      .map((arg) => JSON.stringify(print(arg, where)))
      .join(" "),
  nindent: (_ctx, [spaces, text], where) => `\n${indentLines(print(text, where), Number(spaces))}`,
  trunc: (_ctx, [length, text], where) => print(text, where).slice(0, Number(length)),
  trimSuffix: (_ctx, [suffix, text], where) => {
    const value = print(text, where);
    return value.endsWith(String(suffix)) ? value.slice(0, value.length - String(suffix).length) : value;
  },
  contains: (_ctx, [needle, haystack], where) => print(haystack, where).includes(print(needle, where)),
  regexMatch: (_ctx, [regex, text], where) => new RegExp(String(regex)).test(print(text, where)),
  sha256sum: (_ctx, [text], where) => createHash("sha256").update(print(text, where)).digest("hex"),
};

class Engine {
  private readonly defines = new Map<string, Node[]>();
  private depth = 0;

  addDefines(defines: Map<string, Node[]>): void {
    for (const [name, nodes] of defines) this.defines.set(name, nodes);
  }

  include(name: string, data: unknown, where: string): string {
    const nodes = this.defines.get(name);
    if (!nodes) throw new TemplateError(`${where}: no template "${name}"`);
    if (++this.depth > 50) throw new TemplateError(`${where}: include nested too deeply`);
    try {
      const scope = new Scope(undefined);
      scope.declare("", data);
      return this.run(nodes, { dot: data, scope, engine: this });
    } finally {
      this.depth--;
    }
  }

  execute(parsed: Parsed, data: unknown): string {
    const scope = new Scope(undefined);
    scope.declare("", data);
    return this.run(parsed.nodes, { dot: data, scope, engine: this });
  }

  private run(nodes: Node[], ctx: Context): string {
    let out = "";
    for (const node of nodes) {
      switch (node.kind) {
        case "text":
          out += node.text;
          break;
        case "output":
          out += print(this.pipeline(node.pipe, ctx, node.where), node.where);
          break;
        case "declare":
          ctx.scope.declare(node.name, this.pipeline(node.pipe, ctx, node.where));
          break;
        case "if": {
          const branch = node.branches.find((candidate) => truthy(this.pipeline(candidate.cond, ctx, node.where)));
          out += this.run(branch ? branch.body : node.otherwise, { ...ctx, scope: new Scope(ctx.scope) });
          break;
        }
        case "range": {
          const value = this.pipeline(node.pipe, ctx, node.where);
          if (value === null || value === undefined) break;
          let entries: [unknown, unknown][];
          if (Array.isArray(value)) entries = value.map((item, index) => [index, item]);
          else if (isMap(value)) entries = Object.keys(value).sort().map((key) => [key, value[key]]);
          else throw new TemplateError(`${node.where}: range can't iterate over ${JSON.stringify(value)}`);
          for (const [key, item] of entries) {
            const scope = new Scope(ctx.scope);
            if (node.keyVar) scope.declare(node.keyVar, key);
            if (node.valueVar) scope.declare(node.valueVar, item);
            out += this.run(node.body, { ...ctx, dot: item, scope });
          }
          break;
        }
      }
    }
    return out;
  }

  private operand(operand: Operand, ctx: Context, where: string): unknown {
    switch (operand.kind) {
      case "literal":
        return operand.value;
      case "field":
        return field(ctx.dot, operand.fields, where);
      case "var":
        return field(ctx.scope.lookup(operand.name, where), operand.fields, where);
      case "pipe":
        return this.pipeline(operand.pipe, ctx, where);
      case "ident": {
        const fn = FUNCTIONS[operand.name];
        if (!fn) throw new TemplateError(`${where}: function "${operand.name}" is outside the supported subset`);
        return fn(ctx, [], where);
      }
    }
  }

  private pipeline(pipe: Pipeline, ctx: Context, where: string): unknown {
    let piped: unknown[] = [];
    for (const command of pipe) {
      const [head, ...rest] = command as [Operand, ...Operand[]];
      let result: unknown;
      if (head.kind === "ident") {
        const fn = FUNCTIONS[head.name];
        if (!fn) throw new TemplateError(`${where}: function "${head.name}" is outside the supported subset`);
        result = fn(ctx, [...rest.map((arg) => this.operand(arg, ctx, where)), ...piped], where);
      } else {
        if (rest.length > 0 || piped.length > 0) throw new TemplateError(`${where}: can't give arguments to a non-function`);
        result = this.operand(head, ctx, where);
      }
      piped = [result];
    }
    return piped[0];
  }
}

// ---------------------------------------------------------------------------------------------
// Charts.

/** A chart's files by path relative to its directory (mutable copies, for mutation tests). */
export type ChartFiles = Map<string, string>;

export function readChart(dir: string): ChartFiles {
  const files: ChartFiles = new Map();
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(dir, relative))) {
      const child = relative ? `${relative}/${entry}` : entry;
      if (statSync(path.join(dir, child)).isDirectory()) walk(child);
      else files.set(child, readFileSync(path.join(dir, child), "utf8"));
    }
  };
  walk("");
  return files;
}

/** Helm's coalescing of user values over the chart's: maps merge, null deletes, the rest replaces. */
export function mergeValues(base: unknown, override: unknown): unknown {
  if (!isMap(base) || !isMap(override)) return override === undefined ? base : override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else merged[key] = key in base ? mergeValues(base[key], value) : value;
  }
  return merged;
}

export interface RenderOptions {
  releaseName: string;
  namespace: string;
  values?: Record<string, unknown>;
}

/**
 * `helm template` of a chart's files: every templates/ file but partials (_*) and NOTES.txt,
 * in path order, each a stream of YAML documents; returns them concatenated.
 */
export function renderChart(files: ChartFiles, options: RenderOptions): string {
  const chart = parse(files.get("Chart.yaml") ?? "") as Record<string, unknown>;
  const values = mergeValues(parse(files.get("values.yaml") ?? "") ?? {}, options.values ?? {});
  const data = {
    Values: values,
    Release: { Name: options.releaseName, Namespace: options.namespace, Service: "Helm", IsInstall: true, IsUpgrade: false, Revision: 1 },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion, Description: chart.description, Type: chart.type },
  };
  const engine = new Engine();
  const templates = [...files.keys()].filter((file) => file.startsWith("templates/")).sort();
  const parsed = new Map<string, Parsed>();
  for (const file of templates) {
    if (!/\.(ya?ml|tpl|txt)$/.test(file)) continue;
    const result = parseTemplate(files.get(file) ?? "", file);
    engine.addDefines(result.defines);
    parsed.set(file, result);
  }
  const outputs: string[] = [];
  for (const [file, result] of parsed) {
    const base = path.posix.basename(file);
    if (base.startsWith("_") || base === "NOTES.txt") continue;
    outputs.push(`---\n# Source: ${file}\n${engine.execute(result, data)}`);
  }
  return outputs.join("\n");
}
