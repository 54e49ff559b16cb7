/**
 * Test helpers for Block Kit JSON built by the views: a small recursive walker
 * that reports every place Slack's documented limits are exceeded, and
 * collectors for the strings Slack parses as mrkdwn or renders as plain text.
 *
 * The walker returns a list of violations (empty when everything fits) so that
 * its own tests (block-kit.test.ts) can prove it catches each limit.
 */
import { expect } from "vitest";

export type Surface = "message" | "modal";

/** Slack's limits (https://api.slack.com/reference/block-kit). */
export const LIMITS = {
  blocks: { message: 50, modal: 100 },
  fallbackText: 40_000,
  sectionText: 3_000,
  sectionFields: 10,
  sectionFieldText: 2_000,
  headerText: 150,
  contextElements: 10,
  contextText: 3_000,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2_000,
  optionText: 75,
  optionValue: 150,
  selectOptions: 100,
  checkboxOptions: 10,
  placeholder: 150,
  inputLabel: 2_000,
  inputMaxLength: 3_000,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3_000,
  id: 255,
} as const;

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

class Violations {
  readonly list: string[] = [];
  add(path: string, problem: string): void {
    this.list.push(`${path}: ${problem}`);
  }
  max(path: string, value: unknown, max: number, what: string): void {
    if (typeof value === "string" && value.length > max) this.add(path, `${what} is ${value.length} characters (max ${max})`);
    if (Array.isArray(value) && value.length > max) this.add(path, `${what} has ${value.length} items (max ${max})`);
  }
  text(path: string, value: unknown, max: number, what: string, type?: "plain_text" | "mrkdwn"): void {
    if (!isRecord(value)) {
      this.add(path, `${what} must be a text object`);
      return;
    }
    if (type !== undefined && value.type !== type) this.add(`${path}.type`, `${what} must be ${type}, not ${String(value.type)}`);
    if (typeof value.text !== "string" || value.text.length === 0) this.add(`${path}.text`, `${what} must be a non-empty string`);
    else this.max(`${path}.text`, value.text, max, what);
  }
}

function checkOption(v: Violations, path: string, option: unknown): void {
  if (!isRecord(option)) {
    v.add(path, "option must be an object");
    return;
  }
  v.text(`${path}.text`, option.text, LIMITS.optionText, "option text");
  if (typeof option.value !== "string" || option.value.length === 0) v.add(`${path}.value`, "option value must be a non-empty string");
  else v.max(`${path}.value`, option.value, LIMITS.optionValue, "option value");
}

function checkElement(v: Violations, path: string, element: unknown): void {
  if (!isRecord(element)) {
    v.add(path, "element must be an object");
    return;
  }
  v.max(`${path}.action_id`, element.action_id, LIMITS.id, "action_id");
  if (element.placeholder !== undefined) v.text(`${path}.placeholder`, element.placeholder, LIMITS.placeholder, "placeholder", "plain_text");
  switch (element.type) {
    case "button":
      v.text(`${path}.text`, element.text, LIMITS.buttonText, "button text", "plain_text");
      v.max(`${path}.value`, element.value, LIMITS.buttonValue, "button value");
      break;
    case "static_select":
    case "checkboxes": {
      const max = element.type === "checkboxes" ? LIMITS.checkboxOptions : LIMITS.selectOptions;
      if (!Array.isArray(element.options) || element.options.length === 0) v.add(`${path}.options`, "options must be a non-empty array");
      else {
        v.max(`${path}.options`, element.options, max, `${element.type} options`);
        element.options.forEach((option, i) => checkOption(v, `${path}.options[${i}]`, option));
      }
      if (element.initial_option !== undefined) {
        checkOption(v, `${path}.initial_option`, element.initial_option);
        const options: unknown[] = Array.isArray(element.options) ? element.options : [];
        const initial = JSON.stringify(element.initial_option);
        if (!options.some((option) => JSON.stringify(option) === initial)) v.add(`${path}.initial_option`, "initial_option must be one of the options");
      }
      break;
    }
    case "plain_text_input":
      if (typeof element.max_length === "number" && element.max_length > LIMITS.inputMaxLength) v.add(`${path}.max_length`, `max_length ${element.max_length} exceeds ${LIMITS.inputMaxLength}`);
      break;
    default:
      v.add(`${path}.type`, `unexpected element type ${String(element.type)}`);
  }
}

function checkBlock(v: Violations, path: string, block: unknown): void {
  if (!isRecord(block)) {
    v.add(path, "block must be an object");
    return;
  }
  v.max(`${path}.block_id`, block.block_id, LIMITS.id, "block_id");
  switch (block.type) {
    case "section": {
      if (block.text === undefined && block.fields === undefined) v.add(path, "section needs text or fields");
      if (block.text !== undefined) v.text(`${path}.text`, block.text, LIMITS.sectionText, "section text");
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields)) v.add(`${path}.fields`, "fields must be an array");
        else {
          v.max(`${path}.fields`, block.fields, LIMITS.sectionFields, "section fields");
          block.fields.forEach((field, i) => v.text(`${path}.fields[${i}]`, field, LIMITS.sectionFieldText, "section field"));
        }
      }
      break;
    }
    case "header":
      v.text(`${path}.text`, block.text, LIMITS.headerText, "header text", "plain_text");
      break;
    case "context":
      if (!Array.isArray(block.elements) || block.elements.length === 0) v.add(`${path}.elements`, "context needs elements");
      else {
        v.max(`${path}.elements`, block.elements, LIMITS.contextElements, "context elements");
        block.elements.forEach((element, i) => v.text(`${path}.elements[${i}]`, element, LIMITS.contextText, "context text"));
      }
      break;
    case "actions":
      if (!Array.isArray(block.elements) || block.elements.length === 0) v.add(`${path}.elements`, "actions needs elements");
      else {
        v.max(`${path}.elements`, block.elements, LIMITS.actionsElements, "actions elements");
        block.elements.forEach((element, i) => checkElement(v, `${path}.elements[${i}]`, element));
      }
      break;
    case "input":
      v.text(`${path}.label`, block.label, LIMITS.inputLabel, "input label", "plain_text");
      checkElement(v, `${path}.element`, block.element);
      break;
    case "divider":
      break;
    default:
      v.add(`${path}.type`, `unexpected block type ${String(block.type)}`);
  }
}

/** Strings anywhere in the payload must be well-formed UTF-16 (a lone surrogate is not valid UTF-8). */
function checkStrings(v: Violations, path: string, value: unknown): void {
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) v.add(path, "contains a lone surrogate");
  } else if (Array.isArray(value)) value.forEach((item, i) => checkStrings(v, `${path}[${i}]`, item));
  else if (isRecord(value)) for (const [key, inner] of Object.entries(value)) checkStrings(v, `${path}.${key}`, inner);
}

/**
 * Every way `payload` breaks Slack's limits. `payload` is a message
 * (`{ text, blocks }`, ephemeral or not) or a modal view (`{ type: "modal", ... }`).
 */
export function slackLimitViolations(payload: unknown, surface: Surface): string[] {
  const v = new Violations();
  if (!isRecord(payload)) {
    v.add("$", "payload must be an object");
    return v.list;
  }
  checkStrings(v, "$", payload);
  if (surface === "modal") {
    if (payload.type !== "modal") v.add("$.type", "a modal view must have type modal");
    v.text("$.title", payload.title, LIMITS.modalTitle, "modal title", "plain_text");
    if (payload.submit !== undefined) v.text("$.submit", payload.submit, LIMITS.modalButton, "modal submit", "plain_text");
    if (payload.close !== undefined) v.text("$.close", payload.close, LIMITS.modalButton, "modal close", "plain_text");
    v.max("$.private_metadata", payload.private_metadata, LIMITS.privateMetadata, "private_metadata");
    v.max("$.callback_id", payload.callback_id, LIMITS.id, "callback_id");
  } else {
    if (typeof payload.text !== "string" || payload.text.length === 0) v.add("$.text", "a message needs non-empty fallback text");
    else v.max("$.text", payload.text, LIMITS.fallbackText, "fallback text");
  }
  if (payload.blocks === undefined) {
    if (surface === "modal") v.add("$.blocks", "a modal needs blocks");
    return v.list;
  }
  if (!Array.isArray(payload.blocks)) {
    v.add("$.blocks", "blocks must be an array");
    return v.list;
  }
  v.max("$.blocks", payload.blocks, LIMITS.blocks[surface], `${surface} blocks`);
  const ids = new Set<string>();
  payload.blocks.forEach((block, i) => {
    checkBlock(v, `$.blocks[${i}]`, block);
    if (isRecord(block) && typeof block.block_id === "string") {
      if (ids.has(block.block_id)) v.add(`$.blocks[${i}].block_id`, `duplicate block_id ${block.block_id}`);
      ids.add(block.block_id);
    }
  });
  return v.list;
}

export function expectWithinSlackLimits(payload: unknown, surface: Surface): void {
  expect(slackLimitViolations(payload, surface)).toEqual([]);
}

/** Every string Slack parses as mrkdwn: top-level fallback `text` and every mrkdwn text object. */
export function mrkdwnStrings(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) mrkdwnStrings(item, out);
  else if (isRecord(value)) {
    if (value.type === "mrkdwn" && typeof value.text === "string") out.push(value.text);
    for (const [key, inner] of Object.entries(value)) {
      if (key === "text" && typeof inner === "string" && value.type === undefined) out.push(inner);
      else mrkdwnStrings(inner, out);
    }
  }
  return out;
}

/** plain_text objects: Slack renders them literally (no mentions, no links). */
export function plainStrings(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) plainStrings(item, out);
  else if (isRecord(value)) {
    if (value.type === "plain_text" && typeof value.text === "string") out.push(value.text);
    for (const inner of Object.values(value)) plainStrings(inner, out);
  }
  return out;
}

/** Section texts of a message (or of a modal's blocks). */
export function sectionTexts(payload: { blocks?: unknown[] }): string[] {
  return (payload.blocks ?? []).flatMap((block) => (isRecord(block) && block.type === "section" && isRecord(block.text) && typeof block.text.text === "string" ? [block.text.text] : []));
}

/** The control sequences the app itself writes: user and channel mentions, and dates. */
const OWN_CONTROL = /^<(?:@[UW][A-Z0-9]{2,}|#[CG][A-Z0-9]{2,}|!date\^\d+\^[^|<>]+\|[^<>]+)>$/;

/**
 * Problems with one mrkdwn string: a `<` that does not open one of the app's
 * own control sequences (it would be parsed as a link, mention or broadcast),
 * a `>` outside a control sequence that does not start a block quote, and an
 * `&` that does not start &amp; &lt; or &gt;.
 */
export function markupProblems(text: string): string[] {
  const problems: string[] = [];
  const sequences = /<[^<>]*>?/g;
  for (const match of text.matchAll(sequences)) {
    if (!OWN_CONTROL.test(match[0])) problems.push(`unexpected markup ${JSON.stringify(match[0])}`);
  }
  const outside = text.replace(/<[^<>]*>/g, "").replace(/^>/gm, "");
  if (outside.includes(">")) problems.push("unescaped >");
  for (const match of text.matchAll(/&(?!amp;|lt;|gt;)/g)) problems.push(`bare & at ${match.index}`);
  return problems;
}

/**
 * Asserts that every mrkdwn string in `payload` contains none of `fragments`
 * raw, and no markup the app did not write itself.
 */
export function expectNoForeignMarkup(payload: unknown, fragments: readonly string[] = []): void {
  const strings = mrkdwnStrings(payload);
  expect(strings.length).toBeGreaterThan(0);
  for (const text of strings) {
    for (const fragment of fragments) expect(text).not.toContain(fragment);
    expect(markupProblems(text), text).toEqual([]);
  }
}
