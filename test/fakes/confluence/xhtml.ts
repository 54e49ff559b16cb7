/**
 * A strict XML parser for Confluence storage format (the fake's check that a
 * page body is well-formed XHTML), and the storage-format rules on top of it:
 * known XHTML elements and `ac:`/`ri:` elements only, void elements empty,
 * macros named, the code macro's body a CDATA section.
 */

export interface XmlText {
  kind: "text" | "cdata";
  value: string;
}

export interface XmlElement {
  kind: "element";
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
}

export type XmlNode = XmlElement | XmlText;

const NAME = /[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?/y;
const INVALID_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const PREDEFINED: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export class XmlError extends Error {}

/** Resolves entity and character references; throws on anything XML does not define. */
function decode(raw: string, at: number): string {
  return raw.replace(/&([^;&\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(";")) throw new XmlError(`"&" not starting a reference near offset ${at}`);
    if (name in PREDEFINED) return PREDEFINED[name] ?? "";
    const numeric = /^#(?:x([0-9a-fA-F]+)|(\d+))$/.exec(name);
    if (!numeric) throw new XmlError(`undefined entity &${name}; near offset ${at} (XML knows only amp, lt, gt, quot, apos)`);
    const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]);
    const char = code <= 0x10ffff ? String.fromCodePoint(code) : "\u0000";
    if (INVALID_CHAR.test(char)) throw new XmlError(`character reference &${name}; is not an XML character`);
    return char;
  });
}

/** Parses a document with exactly one root element. */
export function parseXml(text: string): XmlElement {
  const bad = INVALID_CHAR.exec(text);
  if (bad) throw new XmlError(`character U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")} is not allowed in XML (offset ${bad.index})`);
  const top: XmlElement = { kind: "element", name: "#document", attributes: {}, children: [] };
  const stack: XmlElement[] = [top];
  let i = 0;
  const current = (): XmlElement => stack[stack.length - 1] ?? top;
  const name = (): string => {
    NAME.lastIndex = i;
    const match = NAME.exec(text);
    if (!match) throw new XmlError(`expected a name at offset ${i}`);
    i += match[0].length;
    return match[0];
  };
  const spaces = (): boolean => {
    const start = i;
    while (i < text.length && /\s/.test(text[i] ?? "")) i += 1;
    return i > start;
  };
  while (i < text.length) {
    if (text.startsWith("<![CDATA[", i)) {
      const end = text.indexOf("]]>", i + 9);
      if (end < 0) throw new XmlError(`unterminated CDATA section at offset ${i}`);
      if (stack.length === 1) throw new XmlError("CDATA outside the root element");
      current().children.push({ kind: "cdata", value: text.slice(i + 9, end) });
      i = end + 3;
    } else if (text.startsWith("<!--", i)) {
      const end = text.indexOf("-->", i + 4);
      if (end < 0 || text.slice(i + 4, end).includes("--")) throw new XmlError(`malformed comment at offset ${i}`);
      i = end + 3;
    } else if (text.startsWith("<?", i) || text.startsWith("<!", i)) {
      throw new XmlError(`declarations and processing instructions are not allowed (offset ${i})`);
    } else if (text.startsWith("</", i)) {
      i += 2;
      const closing = name();
      spaces();
      if (text[i] !== ">") throw new XmlError(`expected ">" after </${closing} at offset ${i}`);
      i += 1;
      const open = stack.pop();
      if (!open || open === top || open.name !== closing) throw new XmlError(`</${closing}> does not close ${open && open !== top ? `<${open.name}>` : "anything"}`);
    } else if (text[i] === "<") {
      i += 1;
      const element: XmlElement = { kind: "element", name: name(), attributes: {}, children: [] };
      for (;;) {
        const spaced = spaces();
        if (text.startsWith("/>", i) || text[i] === ">") break;
        if (!spaced) throw new XmlError(`expected whitespace before an attribute of <${element.name}> at offset ${i}`);
        const attribute = name();
        spaces();
        if (text[i] !== "=") throw new XmlError(`attribute ${attribute} of <${element.name}> has no value`);
        i += 1;
        spaces();
        const quote = text[i];
        if (quote !== '"' && quote !== "'") throw new XmlError(`attribute ${attribute} of <${element.name}> is not quoted`);
        const end = text.indexOf(quote, i + 1);
        if (end < 0) throw new XmlError(`unterminated attribute ${attribute}`);
        const raw = text.slice(i + 1, end);
        if (raw.includes("<")) throw new XmlError(`"<" inside attribute ${attribute} of <${element.name}>`);
        if (attribute in element.attributes) throw new XmlError(`duplicate attribute ${attribute} on <${element.name}>`);
        element.attributes[attribute] = decode(raw, i);
        i = end + 1;
      }
      if (stack.length === 1 && top.children.some((child) => child.kind === "element")) throw new XmlError("more than one root element");
      current().children.push(element);
      if (text.startsWith("/>", i)) i += 2;
      else {
        i += 1;
        stack.push(element);
      }
    } else {
      const end = text.indexOf("<", i);
      const raw = text.slice(i, end < 0 ? text.length : end);
      if (raw.includes("]]>")) throw new XmlError(`"]]>" in text at offset ${i}`);
      const value = decode(raw, i);
      if (stack.length === 1) {
        if (value.trim() !== "") throw new XmlError(`text outside the root element at offset ${i}`);
      } else current().children.push({ kind: "text", value });
      i += raw.length;
    }
  }
  if (stack.length > 1) throw new XmlError(`<${current().name}> is never closed`);
  const root = top.children.find((child): child is XmlElement => child.kind === "element");
  if (!root) throw new XmlError("no root element");
  return root;
}

const XHTML = new Set(
  "p br hr h1 h2 h3 h4 h5 h6 strong em b i u s del ins sub sup code pre blockquote ul ol li table thead tbody tfoot tr th td colgroup col a span div time small big cite abbr dl dt dd".split(" "),
);
const VOID = new Set(["br", "hr", "col"]);
const CONFLUENCE = new Set(["ac:structured-macro", "ac:parameter", "ac:plain-text-body", "ac:rich-text-body", "ac:link", "ac:link-body", "ac:plain-text-link-body", "ac:emoticon", "ac:image", "ac:task-list", "ac:task", "ac:task-id", "ac:task-status", "ac:task-body", "ri:page", "ri:url", "ri:user", "ri:attachment", "ri:space"]);
export const KNOWN_MACROS = new Set(["code", "info", "note", "warning", "tip", "panel", "anchor", "toc", "expand", "status", "noformat"]);

/** Every element in document order. */
export function elements(node: XmlElement): XmlElement[] {
  return [node, ...node.children.flatMap((child) => (child.kind === "element" ? elements(child) : []))];
}

/** The text of an element and its descendants (CDATA included). */
export function textOf(node: XmlNode): string {
  return node.kind === "element" ? node.children.map(textOf).join("") : node.value;
}

/**
 * Checks a page body in storage format. Returns the problems found (empty when
 * the body is acceptable); the fake answers 400 with the first one.
 */
export function storageFormatProblems(value: string): string[] {
  let root: XmlElement;
  try {
    root = parseXml(`<fake-root xmlns:ac="http://atlassian.com/content" xmlns:ri="http://atlassian.com/resource/identifier">${value}</fake-root>`);
  } catch (error) {
    return [`Error parsing xhtml: ${error instanceof Error ? error.message : String(error)}`];
  }
  const problems: string[] = [];
  for (const element of elements(root).slice(1)) {
    const { name } = element;
    if (!XHTML.has(name) && !CONFLUENCE.has(name)) problems.push(`unknown element <${name}>`);
    if (VOID.has(name) && element.children.length > 0) problems.push(`<${name}> must be empty`);
    const children = element.children.filter((child): child is XmlElement => child.kind === "element");
    if (name === "ac:structured-macro") {
      const macro = element.attributes["ac:name"];
      if (!macro) problems.push("<ac:structured-macro> without ac:name");
      else if (!KNOWN_MACROS.has(macro)) problems.push(`unknown macro "${macro}"`);
      if (children.some((child) => !["ac:parameter", "ac:plain-text-body", "ac:rich-text-body"].includes(child.name))) problems.push(`macro "${macro ?? "?"}" has an element other than parameters and a body`);
      if (macro === "code" && !children.some((child) => child.name === "ac:plain-text-body")) problems.push('the "code" macro needs an <ac:plain-text-body>');
    }
    if (name === "ac:parameter") {
      if (element.attributes["ac:name"] === undefined) problems.push("<ac:parameter> without ac:name");
      if (children.length > 0) problems.push("<ac:parameter> holds text only");
    }
    if (name === "ac:plain-text-body" && element.children.some((child) => child.kind !== "cdata")) problems.push("<ac:plain-text-body> must hold one CDATA section");
    if (["ac:parameter", "ac:plain-text-body", "ac:rich-text-body"].includes(name) && !elementsParentIsMacro(root, element)) problems.push(`<${name}> outside a macro`);
  }
  return problems;
}

function elementsParentIsMacro(root: XmlElement, target: XmlElement): boolean {
  for (const element of elements(root)) if (element.children.includes(target)) return element.name === "ac:structured-macro";
  return false;
}
