/**
 * A conservative Block Kit validator: it only rejects what Slack documents as invalid
 * (limits, missing required fields, wrong text-object types), so valid payloads never fail.
 * Messages mimic Slack's format: "<problem> [json-pointer:/blocks/0/text/text]".
 */

export type BlockSurface = "message" | "modal" | "home";

const KNOWN_BLOCK_TYPES = new Set([
  "actions",
  "context",
  "context_actions",
  "divider",
  "file",
  "header",
  "image",
  "input",
  "markdown",
  "rich_text",
  "section",
  "table",
  "video",
  "call",
]);

export const MAX_BLOCKS: Record<BlockSurface, number> = { message: 50, modal: 100, home: 100 };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

class Collector {
  readonly errors: string[] = [];
  add(problem: string, pointer: string): void {
    this.errors.push(`${problem} [json-pointer:${pointer}]`);
  }
}

/** Validates a text object; `types` restricts plain_text / mrkdwn. */
function checkText(
  c: Collector,
  value: unknown,
  pointer: string,
  opts: { max: number; types?: readonly string[]; required?: boolean },
): void {
  if (value === undefined) {
    if (opts.required === true) {
      const cut = pointer.lastIndexOf("/");
      c.add(`missing required field: ${pointer.slice(cut + 1)}`, pointer.slice(0, cut) || "/");
    }
    return;
  }
  if (!isRecord(value)) {
    c.add("must provide an object", pointer);
    return;
  }
  const type = value["type"];
  const allowed = opts.types ?? ["plain_text", "mrkdwn"];
  if (typeof type !== "string" || !allowed.includes(type)) {
    c.add(`must be one of the following: ${allowed.join(", ")}`, `${pointer}/type`);
  }
  const text = value["text"];
  if (typeof text !== "string") {
    c.add("must provide a string", `${pointer}/text`);
  } else if (text.length === 0) {
    c.add("must be more than 0 characters", `${pointer}/text`);
  } else if (text.length > opts.max) {
    c.add(`must be less than ${opts.max + 1} characters`, `${pointer}/text`);
  }
}

function checkElements(c: Collector, value: unknown, pointer: string, max: number): void {
  if (!Array.isArray(value)) {
    c.add("must provide an array", pointer);
    return;
  }
  if (value.length === 0) c.add("must provide at least 1 item", pointer);
  if (value.length > max) c.add(`no more than ${max} items allowed`, pointer);
  value.forEach((el, i) => {
    if (!isRecord(el) || typeof el["type"] !== "string") c.add("must provide an object with a type", `${pointer}/${i}`);
  });
}

function checkBlock(c: Collector, block: unknown, pointer: string, seenIds: Set<string>): void {
  if (!isRecord(block)) {
    c.add("must provide an object", pointer);
    return;
  }
  const type = block["type"];
  if (typeof type !== "string") {
    c.add("missing required field: type", pointer);
    return;
  }
  if (!KNOWN_BLOCK_TYPES.has(type)) {
    c.add(`unsupported type: ${type}`, `${pointer}/type`);
    return;
  }
  const blockId = block["block_id"];
  if (blockId !== undefined) {
    if (typeof blockId !== "string" || blockId.length === 0) c.add("must provide a non-empty string", `${pointer}/block_id`);
    else if (blockId.length > 255) c.add("must be less than 256 characters", `${pointer}/block_id`);
    else if (seenIds.has(blockId)) c.add(`duplicate block_id: ${blockId}`, `${pointer}/block_id`);
    else seenIds.add(blockId);
  }

  switch (type) {
    case "section": {
      const text = block["text"];
      const fields = block["fields"];
      if (text === undefined && fields === undefined) {
        c.add("must provide either text or fields", pointer);
      }
      checkText(c, text, `${pointer}/text`, { max: 3000 });
      if (fields !== undefined) {
        if (!Array.isArray(fields)) c.add("must provide an array", `${pointer}/fields`);
        else {
          if (fields.length > 10) c.add("no more than 10 items allowed", `${pointer}/fields`);
          fields.forEach((f, i) => checkText(c, f, `${pointer}/fields/${i}`, { max: 2000 }));
        }
      }
      const accessory = block["accessory"];
      if (accessory !== undefined && (!isRecord(accessory) || typeof accessory["type"] !== "string")) {
        c.add("must provide an object with a type", `${pointer}/accessory`);
      }
      break;
    }
    case "header":
      checkText(c, block["text"], `${pointer}/text`, { max: 150, types: ["plain_text"], required: true });
      break;
    case "context":
      checkElements(c, block["elements"], `${pointer}/elements`, 10);
      break;
    case "actions":
      checkElements(c, block["elements"], `${pointer}/elements`, 25);
      break;
    case "rich_text":
      checkElements(c, block["elements"], `${pointer}/elements`, Number.POSITIVE_INFINITY);
      break;
    case "image": {
      if (block["image_url"] === undefined && block["slack_file"] === undefined) {
        c.add("must provide either image_url or slack_file", pointer);
      }
      const alt = block["alt_text"];
      if (typeof alt !== "string") c.add("missing required field: alt_text", pointer);
      else if (alt.length > 2000) c.add("must be less than 2001 characters", `${pointer}/alt_text`);
      if (block["title"] !== undefined) checkText(c, block["title"], `${pointer}/title`, { max: 2000, types: ["plain_text"] });
      break;
    }
    case "input": {
      checkText(c, block["label"], `${pointer}/label`, { max: 2000, types: ["plain_text"], required: true });
      const element = block["element"];
      if (!isRecord(element) || typeof element["type"] !== "string") {
        c.add("must provide an object with a type", `${pointer}/element`);
      }
      if (block["hint"] !== undefined) checkText(c, block["hint"], `${pointer}/hint`, { max: 2000, types: ["plain_text"] });
      break;
    }
    case "markdown": {
      const text = block["text"];
      if (typeof text !== "string") c.add("must provide a string", `${pointer}/text`);
      else if (text.length > 12000) c.add("must be less than 12001 characters", `${pointer}/text`);
      break;
    }
    default:
      break;
  }
}

/**
 * Validates a blocks array (already JSON-parsed). Returns Slack-style error strings;
 * an empty array means valid.
 */
export function validateBlocks(blocks: unknown, surface: BlockSurface, pointer = "/blocks"): string[] {
  const c = new Collector();
  if (!Array.isArray(blocks)) {
    c.add("must provide an array", pointer);
    return c.errors;
  }
  const max = MAX_BLOCKS[surface];
  if (blocks.length > max) c.add(`no more than ${max} items allowed`, pointer);
  const seen = new Set<string>();
  blocks.forEach((b, i) => checkBlock(c, b, `${pointer}/${i}`, seen));
  return c.errors;
}

/** Validates a view payload for views.open / views.update / views.publish. */
export function validateView(view: unknown, expectedType: "modal" | "home" | "modal|home"): string[] {
  const c = new Collector();
  if (!isRecord(view)) {
    c.add("must provide an object", "/view");
    return c.errors;
  }
  const type = view["type"];
  const allowed = expectedType.split("|");
  if (typeof type !== "string" || !allowed.includes(type)) {
    c.add(`must be one of the following: ${allowed.join(", ")}`, "/view/type");
    return c.errors;
  }
  if (type === "modal") {
    checkText(c, view["title"], "/view/title", { max: 24, types: ["plain_text"], required: true });
    if (view["close"] !== undefined && view["close"] !== null) {
      checkText(c, view["close"], "/view/close", { max: 24, types: ["plain_text"] });
    }
    if (view["submit"] !== undefined && view["submit"] !== null) {
      checkText(c, view["submit"], "/view/submit", { max: 24, types: ["plain_text"] });
    }
  }
  const blocks = view["blocks"];
  if (blocks === undefined) c.add("missing required field: blocks", "/view");
  else {
    c.errors.push(...validateBlocks(blocks, type === "home" ? "home" : "modal", "/view/blocks"));
    if (
      type === "modal" &&
      Array.isArray(blocks) &&
      blocks.some((b) => isRecord(b) && b["type"] === "input") &&
      (view["submit"] === undefined || view["submit"] === null)
    ) {
      c.add("must provide submit when the view contains input blocks", "/view/submit");
    }
  }
  for (const [field, max] of [
    ["callback_id", 255],
    ["external_id", 255],
    ["private_metadata", 3000],
  ] as const) {
    const v = view[field];
    if (v === undefined) continue;
    if (typeof v !== "string") c.add("must provide a string", `/view/${field}`);
    else if (v.length > max) c.add(`must be less than ${max + 1} characters`, `/view/${field}`);
  }
  return c.errors;
}
