/**
 * Extracts the Slack Web API contract for the methods our fake Slack implements
 * (test/fakes/slack) from Slack's published OpenAPI v2 description
 * (slackapi/slack-api-specs, MIT) into test/fakes/slack/contract.json.
 *
 * Usage:
 *   npx tsx scripts/extract-slack-contract.ts [--spec <openapi.json>] [--out <contract.json>] [--check]
 *
 * --spec   defaults to $SLACK_OPENAPI_SPEC or /work/shared/contracts/slack-web-api.openapi-v2.json
 *          (the spec is not vendored in this repo; only the extracted contract.json is committed).
 * --check  does not write; exits 1 when the committed contract.json differs from a fresh extraction.
 *
 * The spec is from 2021 and is incomplete in places (many conversations.* arguments are not
 * flagged as required, views.* have no error list, bookmarks.* and apps.connections.open are absent, some errors Slack
 * returns today such as `invalid_blocks` are missing). Everything added by hand is listed
 * per method under `handWritten`, so the provenance of each rule stays visible.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------------------------------------
// Output shape (mirrored by test/fakes/slack/contract.ts, which validates it at load time)
// ---------------------------------------------------------------------------------------------

interface RequireOneOf {
  args: string[];
  error: string;
}

interface HandWritten {
  note: string;
  required?: string[];
  optional?: string[];
  errors?: string[];
}

interface MethodContract {
  source: "openapi" | "hand-written";
  docs: string;
  required: string[];
  optional: string[];
  errors: string[];
  /** Scopes as listed in the spec's `security` (legacy names in places, e.g. chat:write:bot). */
  scopes: string[];
  /** Granular bot-token scopes that grant the method today (hand-written from Slack's docs). */
  botScopes: string[];
  /** Arguments that carry JSON (sent as JSON-encoded strings in form posts). */
  jsonArgs: string[];
  /** "At least one of these arguments" groups, with the error Slack returns when none is given. */
  requireOneOf: RequireOneOf[];
  /** Dedicated error codes Slack returns for a missing argument instead of `invalid_arguments`. */
  missingArgErrors: Record<string, string>;
  handWritten?: HandWritten;
}

interface Contract {
  _source: string;
  _license: string;
  spec: { title: string; version: string; file: string; repository: string };
  commonErrors: string[];
  knownMethods: string[];
  methods: Record<string, MethodContract>;
}

// ---------------------------------------------------------------------------------------------
// What we fake, plus hand-written knowledge from Slack's method docs
// ---------------------------------------------------------------------------------------------

const FAKED_METHODS = [
  "auth.test",
  "conversations.create",
  "conversations.info",
  "conversations.invite",
  "conversations.join",
  "conversations.setTopic",
  "conversations.setPurpose",
  "conversations.members",
  "conversations.list",
  "conversations.history",
  "conversations.replies",
  "chat.postMessage",
  "chat.update",
  "chat.postEphemeral",
  "chat.getPermalink",
  "pins.add",
  "pins.remove",
  "reactions.add",
  "users.info",
  "users.lookupByEmail",
  "usergroups.users.list",
  "views.open",
  "views.update",
  "views.publish",
  "bookmarks.add",
  "bookmarks.edit",
  "bookmarks.list",
  "files.getUploadURLExternal",
  "files.completeUploadExternal",
  "apps.connections.open",
] as const;

/**
 * Errors any Web API method can return (Slack's docs list these "common errors" on every
 * method page; the 2021 spec lists most of them per method but not `invalid_arguments`,
 * `ratelimited`, `internal_error`, `service_unavailable`, ...).
 */
const COMMON_ERRORS = [
  "access_denied",
  "accesslimited",
  "account_inactive",
  "deprecated_endpoint",
  "ekm_access_denied",
  "enterprise_is_restricted",
  "fatal_error",
  "internal_error",
  "invalid_arg_name",
  "invalid_arguments",
  "invalid_array_arg",
  "invalid_auth",
  "invalid_charset",
  "invalid_form_data",
  "invalid_json",
  "invalid_post_type",
  "json_not_object",
  "method_deprecated",
  "missing_post_type",
  "missing_scope",
  "no_permission",
  "not_allowed_token_type",
  "not_authed",
  "org_login_required",
  "ratelimited",
  "request_timeout",
  "service_unavailable",
  "team_access_not_granted",
  "team_added_to_org",
  "token_expired",
  "token_revoked",
  "two_factor_setup_required",
  "upgrade_required",
];

const CONV_READ = ["channels:read", "groups:read", "im:read", "mpim:read"];
const CONV_MANAGE = ["channels:manage", "groups:write", "im:write", "mpim:write"];
const CONV_HISTORY = ["channels:history", "groups:history", "im:history", "mpim:history"];
const BLOCK_ERRORS = ["invalid_blocks", "invalid_blocks_format"];

interface Override {
  botScopes: string[];
  required?: string[];
  optional?: string[];
  errors?: string[];
  jsonArgs?: string[];
  requireOneOf?: RequireOneOf[];
  missingArgErrors?: Record<string, string>;
  note?: string;
}

const OVERRIDES: Record<(typeof FAKED_METHODS)[number], Override> = {
  "auth.test": { botScopes: [] },
  "conversations.create": {
    botScopes: CONV_MANAGE,
    required: ["name"],
    missingArgErrors: { name: "invalid_name_required" },
    note: "Spec does not flag `name` as required; docs do. A missing name answers the spec's dedicated invalid_name_required.",
  },
  "conversations.info": {
    botScopes: CONV_READ,
    required: ["channel"],
    note: "Spec does not flag `channel` as required; docs do.",
  },
  "conversations.invite": {
    botScopes: CONV_MANAGE,
    required: ["channel", "users"],
    optional: ["force"],
    missingArgErrors: { users: "no_user" },
    note: "Spec flags neither `channel` nor `users` as required; docs do. `force` was added to the API in 2023 (after the spec).",
  },
  "conversations.join": {
    botScopes: ["channels:join"],
    required: ["channel"],
    note: "Spec does not flag `channel` as required; docs do.",
  },
  "conversations.setTopic": {
    botScopes: CONV_MANAGE,
    required: ["channel", "topic"],
    note: "Spec flags neither `channel` nor `topic` as required; docs do.",
  },
  "conversations.setPurpose": {
    botScopes: CONV_MANAGE,
    required: ["channel", "purpose"],
    note: "Spec flags neither `channel` nor `purpose` as required; docs do.",
  },
  "conversations.members": {
    botScopes: CONV_READ,
    required: ["channel"],
    note: "Spec does not flag `channel` as required; docs do.",
  },
  "conversations.list": {
    botScopes: CONV_READ,
    errors: ["invalid_types", "invalid_limit", "invalid_cursor"],
    note: "Spec's error list lacks the pagination/type errors the docs list.",
  },
  "chat.postMessage": {
    botScopes: ["chat:write"],
    optional: ["metadata"],
    errors: BLOCK_ERRORS,
    jsonArgs: ["blocks", "attachments", "metadata"],
    requireOneOf: [{ args: ["text", "blocks", "attachments"], error: "no_text" }],
    note: "Block Kit errors (invalid_blocks, invalid_blocks_format) and `metadata` post-date the spec. chat:write.public additionally lets a bot post to public channels it is not a member of.",
  },
  "chat.update": {
    botScopes: ["chat:write"],
    optional: ["metadata"],
    errors: BLOCK_ERRORS,
    jsonArgs: ["blocks", "attachments", "metadata"],
    requireOneOf: [{ args: ["text", "blocks", "attachments"], error: "no_text" }],
    note: "Block Kit errors and `metadata` post-date the spec.",
  },
  "chat.postEphemeral": {
    botScopes: ["chat:write"],
    errors: BLOCK_ERRORS,
    jsonArgs: ["blocks", "attachments"],
    requireOneOf: [{ args: ["text", "blocks", "attachments"], error: "no_text" }],
    note: "Block Kit errors post-date the spec.",
  },
  "chat.getPermalink": { botScopes: [] },
  "pins.add": {
    botScopes: ["pins:write"],
    errors: ["not_in_channel", "restricted_action", "too_many_pins"],
    note:
      "`timestamp` is optional in the spec (file pins were once possible); without it Slack answers no_item_specified. " +
      "not_in_channel (the bot must be a member of the conversation), too_many_pins (a conversation holds at most 100 pins) " +
      "and restricted_action (pinning restricted by admins) are listed in Slack's current method docs, not in the spec.",
  },
  "pins.remove": { botScopes: ["pins:write"] },
  "reactions.add": { botScopes: ["reactions:write"] },
  "users.info": {
    botScopes: ["users:read"],
    required: ["user"],
    note: "Spec does not flag `user` as required; docs do.",
  },
  "users.lookupByEmail": { botScopes: ["users:read.email"] },
  "usergroups.users.list": {
    botScopes: ["usergroups:read"],
    optional: ["team_id"],
    errors: ["no_such_subteam", "plan_upgrade_required"],
    note:
      "Spec's error list lacks no_such_subteam (unknown user group ID) and plan_upgrade_required (user groups need a paid plan), " +
      "both in Slack's method docs. `team_id` (org-level tokens) post-dates the spec. Without include_disabled, the fake answers " +
      "a disabled group like an unknown one (no_such_subteam).",
  },
  "views.open": {
    botScopes: [],
    jsonArgs: ["view"],
    errors: [
      "duplicate_external_id",
      "exchanged_trigger_id",
      "expired_trigger_id",
      "invalid_trigger_id",
      "view_too_large",
    ],
    note: "Spec has no error list for views.*; errors are from Slack's method docs.",
  },
  "views.update": {
    botScopes: [],
    required: ["view"],
    jsonArgs: ["view"],
    requireOneOf: [{ args: ["view_id", "external_id"], error: "invalid_arguments" }],
    errors: ["duplicate_external_id", "hash_conflict", "not_found", "view_too_large"],
    note: "Spec does not flag `view` as required; docs do. Either view_id or external_id is required. Errors are from Slack's method docs.",
  },
  "views.publish": {
    botScopes: [],
    jsonArgs: ["view"],
    errors: ["duplicate_external_id", "hash_conflict", "not_enabled", "view_too_large"],
    note: "Spec has no error list for views.*; errors are from Slack's method docs.",
  },
  "bookmarks.add": { botScopes: ["bookmarks:write"] },
  "bookmarks.edit": { botScopes: ["bookmarks:write"] },
  "bookmarks.list": { botScopes: ["bookmarks:read"] },
  // Supplement from https://docs.slack.dev/reference/methods/conversations.history (the spec has the method
  // but flags nothing as required and lacks the newer errors).
  "conversations.history": {
    botScopes: CONV_HISTORY,
    required: ["channel"],
    optional: ["include_all_metadata"],
    errors: ["channel_is_limited_access", "invalid_cursor", "invalid_metadata_filter_keys", "not_in_channel"],
    note:
      "Spec does not flag `channel` as required; docs do. invalid_cursor, not_in_channel (a bot token reading a public " +
      "channel it has not joined), channel_is_limited_access and invalid_metadata_filter_keys are in the docs, not the spec. " +
      "The scope needed depends on the conversation type (channels:history public, groups:history private, im:history DMs): " +
      "the fake checks it per channel and answers missing_scope naming the one needed. limit: default 100, at most 999.",
  },
  "conversations.replies": {
    botScopes: CONV_HISTORY,
    required: ["channel", "ts"],
    optional: ["include_all_metadata"],
    errors: [
      "invalid_cursor",
      "invalid_metadata_filter_keys",
      "invalid_ts_latest",
      "invalid_ts_oldest",
      "method_not_supported_for_channel_type",
      "not_in_channel",
    ],
    note:
      "Spec flags neither `channel` nor `ts` as required; docs do (`ts` must be an existing message: a thread parent or a reply, " +
      "else thread_not_found). Pagination and latest/oldest errors are from the docs. not_in_channel is not on the method page: " +
      "the fake answers it for a public channel the bot has not joined, as conversations.history does. " +
      "Scopes per conversation type, as for conversations.history. limit: default 1000.",
  },
  "files.getUploadURLExternal": {
    botScopes: ["files:write"],
    note:
      "length 0 answers missing_argument (the docs: 'Typically only occurs when the length provided is 0'); a non-integer " +
      "length answers invalid_arguments. The answer's upload_url is served by the fake itself (POST raw bytes or " +
      "multipart/form-data; the byte count must equal `length`).",
  },
  "files.completeUploadExternal": {
    botScopes: ["files:write"],
    jsonArgs: ["files", "blocks"],
    note:
      "A file whose bytes never reached its upload URL, an unknown id, or one already completed answers file_not_found. " +
      "With channel_id the bot must be a member (not_in_channel); an invisible channel answers channel_not_found, an archived " +
      "one invalid_channel. Without channel_id the file stays private (thread_ts then needs channel_id).",
  },
  // Socket Mode: called with the app-level token (xapp-, scope connections:write), which no bot scope
  // grants; the fake lets an app-level token call this method and nothing else (socket-mode.ts).
  "apps.connections.open": { botScopes: [] },
};

/**
 * SUPPLEMENT: methods absent from the 2021 spec, hand-written from Slack's method docs
 * (https://docs.slack.dev/reference/methods/<method>: arguments, errors table, scopes). Every such
 * method is marked `"source": "hand-written"` in contract.json and carries its note; the scopes
 * live in OVERRIDES like every other method's.
 */
const HAND_METHODS: Record<string, { required: string[]; optional: string[]; errors: string[]; note: string }> = {
  "bookmarks.add": {
    required: ["channel_id", "title", "type"],
    optional: ["link", "emoji", "entity_id", "access_level", "parent_id"],
    errors: [
      "channel_not_found",
      "file_not_found",
      "invalid_bookmark_type",
      "invalid_child_type",
      "invalid_emoji",
      "invalid_entity_id",
      "invalid_link",
      "invalid_parent_type",
      "invalid_shortcut_type",
      "is_bot",
      "not_implemented",
      "parent_bookmark_disabled",
      "parent_with_link",
      "permission_denied",
      "too_many_bookmarks",
    ],
    note: "Not in the 2021 spec. From Slack's docs: channel_id, title and type (only `link` is supported) are required; a link bookmark needs `link` (http:// or https://). Channels hold at most 100 bookmarks.",
  },
  "bookmarks.edit": {
    required: ["bookmark_id", "channel_id"],
    optional: ["title", "link", "emoji"],
    errors: [
      "channel_not_found",
      "invalid_bookmark_type",
      "invalid_emoji",
      "invalid_link",
      "is_bot",
      "not_found",
      "not_implemented",
      "parent_with_link",
      "permission_denied",
      "restricted_action",
    ],
    note: "Not in the 2021 spec. From Slack's docs / the official SDK types: bookmark_id and channel_id are required.",
  },
  "bookmarks.list": {
    required: ["channel_id"],
    optional: [],
    errors: ["channel_not_found", "is_bot", "not_implemented"],
    note: "Not in the 2021 spec. From Slack's docs.",
  },
  "files.getUploadURLExternal": {
    required: ["filename", "length"],
    optional: ["alt_txt", "snippet_type"],
    errors: [
      "alt_txt_too_large",
      "file_type_not_allowed",
      "file_upload_size_restricted",
      "file_uploads_disabled",
      "file_uploads_except_images_disabled",
      "missing_argument",
      "snippet_too_large",
      "storage_limit_reached",
      "unknown_snippet_type",
      "unknown_subtype",
    ],
    note:
      "Not in the 2021 spec (the two-step upload replaced files.upload in 2024). From Slack's docs: filename and length " +
      "(bytes) are required; answers upload_url and file_id. Scope files:write.",
  },
  "files.completeUploadExternal": {
    required: ["files"],
    optional: ["blocks", "channel_id", "channels", "icon_emoji", "icon_url", "initial_comment", "thread_ts", "username"],
    errors: [
      "channel_not_found",
      "channels_limit_exceeded",
      "file_not_found",
      "file_type_not_allowed",
      "file_update_failed",
      "file_uploads_except_images_disabled",
      "invalid_blocks",
      "invalid_channel",
      "not_in_channel",
      "posting_to_channel_denied",
      "user_is_external_guest",
    ],
    note:
      "Not in the 2021 spec. From Slack's docs: files (a JSON array of {id, title?}) is required; channel_id shares the files " +
      "in a channel (with initial_comment, or blocks when there is no initial_comment, as the message; thread_ts to reply). " +
      "Scope files:write.",
  },
  "apps.connections.open": {
    required: [],
    optional: [],
    errors: ["forbidden_team", "insecure_request", "invalid_auth", "missing_args", "socket_mode_not_enabled"],
    note:
      "Not in the 2021 spec (Socket Mode came later). From Slack's docs: no arguments; the app-level token (xapp-, scope " +
      "connections:write) goes in the Authorization header; answers a single-use `url` (wss://…/link/?ticket=…&app_id=…). " +
      "Tier 1. socket_mode_not_enabled is the fake's own name for 'Socket Mode is off in the app's settings', for which " +
      "Slack documents no error code (see test/fakes/slack/socket-mode.ts).",
  },
};

// ---------------------------------------------------------------------------------------------
// Narrowing helpers (the spec is read as `unknown`)
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function record(value: unknown, where: string): Json {
  if (!isRecord(value)) throw new Error(`Unexpected spec shape at ${where}: expected an object`);
  return value;
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

// ---------------------------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------------------------

interface SpecMethod {
  required: string[];
  optional: string[];
  errors: string[];
  scopes: string[];
  docs: string;
}

function readSpecMethod(paths: Json, method: string): SpecMethod | undefined {
  const pathItem = paths[`/${method}`];
  if (pathItem === undefined) return undefined;
  const item = record(pathItem, `paths./${method}`);
  const verb = ["post", "get"].find((v) => isRecord(item[v]));
  if (verb === undefined) throw new Error(`No get/post operation for ${method}`);
  const op = record(item[verb], `paths./${method}.${verb}`);

  const required: string[] = [];
  const optional: string[] = [];
  for (const raw of Array.isArray(op["parameters"]) ? op["parameters"] : []) {
    const param = record(raw, `${method} parameter`);
    const name = param["name"];
    if (typeof name !== "string" || name === "token") continue;
    (param["required"] === true ? required : optional).push(name);
  }

  const errors: string[] = [];
  const responses = isRecord(op["responses"]) ? op["responses"] : {};
  const failure = responses["default"];
  if (isRecord(failure) && isRecord(failure["schema"])) {
    const props = failure["schema"]["properties"];
    if (isRecord(props) && isRecord(props["error"])) errors.push(...stringArray(props["error"]["enum"]));
  }

  const scopes: string[] = [];
  for (const sec of Array.isArray(op["security"]) ? op["security"] : []) {
    if (isRecord(sec)) scopes.push(...stringArray(sec["slackAuth"]).filter((s) => s !== "none"));
  }

  const ext = op["externalDocs"];
  const docs =
    isRecord(ext) && typeof ext["url"] === "string" ? ext["url"] : `https://api.slack.com/methods/${method}`;

  return { required, optional, errors, scopes, docs };
}

function extract(spec: Json, specFile: string, licenseText: string): Contract {
  const info = record(spec["info"], "info");
  const paths = record(spec["paths"], "paths");
  const methods: Record<string, MethodContract> = {};

  for (const method of FAKED_METHODS) {
    const override = OVERRIDES[method];
    const fromSpec = readSpecMethod(paths, method);
    const hand = HAND_METHODS[method];

    let base: SpecMethod;
    let handWritten: HandWritten | undefined;
    if (fromSpec !== undefined) {
      base = fromSpec;
      const addedRequired = (override.required ?? []).filter((a) => !fromSpec.required.includes(a));
      const addedOptional = (override.optional ?? []).filter(
        (a) => !fromSpec.optional.includes(a) && !fromSpec.required.includes(a),
      );
      const addedErrors = (override.errors ?? []).filter((e) => !fromSpec.errors.includes(e));
      if (override.note !== undefined || addedRequired.length + addedOptional.length + addedErrors.length > 0) {
        handWritten = { note: override.note ?? "Additions from Slack's method docs." };
        if (addedRequired.length > 0) handWritten.required = addedRequired;
        if (addedOptional.length > 0) handWritten.optional = addedOptional;
        if (addedErrors.length > 0) handWritten.errors = addedErrors;
      }
    } else if (hand !== undefined) {
      base = { ...hand, scopes: [], docs: `https://api.slack.com/methods/${method}` };
      handWritten = { note: override.note === undefined ? hand.note : `${hand.note} ${override.note}` };
    } else {
      throw new Error(`${method} is neither in the spec nor hand-written`);
    }

    const required = sortedUnique([...base.required, ...(override.required ?? [])]);
    const optional = sortedUnique([...base.optional, ...(override.optional ?? [])]).filter(
      (a) => !required.includes(a),
    );
    methods[method] = {
      source: fromSpec !== undefined ? "openapi" : "hand-written",
      docs: base.docs,
      required,
      optional,
      errors: sortedUnique([...base.errors, ...(override.errors ?? [])]),
      scopes: sortedUnique(base.scopes),
      botScopes: sortedUnique(override.botScopes),
      jsonArgs: sortedUnique(override.jsonArgs ?? []),
      requireOneOf: override.requireOneOf ?? [],
      missingArgErrors: override.missingArgErrors ?? {},
      ...(handWritten !== undefined ? { handWritten } : {}),
    };
  }

  const knownMethods = sortedUnique([
    ...Object.keys(paths)
      .filter((p) => p.startsWith("/"))
      .map((p) => p.slice(1)),
    ...Object.keys(HAND_METHODS),
    "bookmarks.remove",
  ]);

  const title = typeof info["title"] === "string" ? info["title"] : "Slack Web API";
  const version = typeof info["version"] === "string" ? info["version"] : "unknown";
  return {
    _source:
      `Generated by scripts/extract-slack-contract.ts from the Slack Web API OpenAPI v2 description ` +
      `(${title} ${version}) published in https://github.com/slackapi/slack-api-specs ` +
      `(web-api/slack_web_openapi_v2.json), MIT License, Copyright (c) 2017 SlackAPI. ` +
      `Entries with "handWritten" carry additions from Slack's method documentation ` +
      `(https://api.slack.com/methods). Do not edit by hand; re-run the script.`,
    _license: licenseText,
    spec: { title, version, file: specFile.split("/").pop() ?? specFile, repository: "slackapi/slack-api-specs" },
    commonErrors: sortedUnique(COMMON_ERRORS),
    knownMethods,
    methods,
  };
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

const MIT_FALLBACK =
  "MIT License. Copyright (c) 2017 SlackAPI. See https://github.com/slackapi/slack-api-specs/blob/master/LICENSE";

function main(argv: string[]): number {
  const here = dirname(fileURLToPath(import.meta.url));
  let specPath =
    process.env["SLACK_OPENAPI_SPEC"] ?? "/work/shared/contracts/slack-web-api.openapi-v2.json";
  let outPath = resolve(here, "../test/fakes/slack/contract.json");
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--spec") specPath = argv[++i] ?? specPath;
    else if (arg === "--out") outPath = argv[++i] ?? outPath;
    else if (arg === "--check") check = true;
    else {
      console.error(`Unknown argument: ${String(arg)}`);
      return 2;
    }
  }

  const spec: unknown = JSON.parse(readFileSync(specPath, "utf8"));
  const licensePath = resolve(dirname(specPath), "slack-web-api.LICENSE");
  const license = existsSync(licensePath) ? readFileSync(licensePath, "utf8").trim() : MIT_FALLBACK;
  const contract = extract(record(spec, "spec root"), specPath, license);
  const text = `${JSON.stringify(contract, null, 2)}\n`;

  if (check) {
    const current = existsSync(outPath) ? readFileSync(outPath, "utf8") : "";
    if (current !== text) {
      console.error(`${outPath} is out of date; run: npx tsx scripts/extract-slack-contract.ts`);
      return 1;
    }
    console.log(`${outPath} is up to date`);
    return 0;
  }
  writeFileSync(outPath, text);
  console.log(`Wrote ${Object.keys(contract.methods).length} methods to ${outPath}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
