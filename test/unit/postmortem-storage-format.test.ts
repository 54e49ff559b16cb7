import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderStorageFormat, storageTitle, TITLE_MAX } from "../../src/postmortem/export/storage-format.ts";
import { EVENT_CATALOGUE } from "../support/catalogue.ts";
import { generatePostmortem as generate } from "../../src/postmortem/generate.ts";

const generatePostmortem = (input: Parameters<typeof generate>[0]) => generate(input, EVENT_CATALOGUE);
import type { PostmortemInput } from "../../src/postmortem/models.ts";
import { elements, parseXml, storageFormatProblems, textOf, type XmlElement } from "../fakes/confluence/index.ts";
import { PRIVATE_STRINGS, privateIncident, quietSev4, sev1 } from "../golden/postmortem/fixtures.ts";

/**
 * The Confluence storage-format renderer: golden files, well-formedness
 * (checked by the fake Confluence's XML parser), escaping of hostile text,
 * the Mermaid diagram as a code macro, and no private text in the public
 * version of a private incident.
 */
const GOLDEN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../golden/postmortem");

/** A vitest file snapshot in test/golden/postmortem/ (`vitest run -u` rewrites it after an intended change). */
async function expectGolden(name: string, actual: string): Promise<void> {
  await expect(actual).toMatchFileSnapshot(path.join(GOLDEN_DIR, name));
}

function storage(input: PostmortemInput, anchor?: string): string {
  return renderStorageFormat(generatePostmortem(input), anchor ? { anchor } : {});
}

/** The body as the fake Confluence parses it. */
function parsed(value: string): XmlElement {
  return parseXml(`<root xmlns:ac="a" xmlns:ri="r">${value}</root>`);
}

function macros(root: XmlElement, name: string): XmlElement[] {
  return elements(root).filter((element) => element.name === "ac:structured-macro" && element.attributes["ac:name"] === name);
}

describe("storage-format golden files", () => {
  it("renders a quiet SEV4", async () => {
    await expectGolden("quiet-sev4.storage.xml", `${storage(quietSev4(), "firebreak-incident-golden")}\n`);
  });

  it("renders the public version of a private incident", async () => {
    await expectGolden("private-public.storage.xml", `${storage(privateIncident({ audience: "public" }))}\n`);
  });
});

describe("well-formed storage format", () => {
  it.each([
    ["a quiet SEV4", quietSev4()],
    ["a SEV1 with 500 events", sev1(500)],
    ["a private incident (internal)", privateIncident()],
    ["a private incident (public)", privateIncident({ audience: "public" })],
  ])("%s passes the fake Confluence's storage checks", (_name, input) => {
    expect(storageFormatProblems(storage(input, "firebreak-incident-x"))).toEqual([]);
  });

  it("puts the Mermaid diagram, unchanged, in a code macro's CDATA body", () => {
    const doc = generatePostmortem(sev1(500));
    const root = parsed(renderStorageFormat(doc));
    const [code] = macros(root, "code");
    expect(code).toBeDefined();
    const body = code!.children.find((child): child is XmlElement => child.kind === "element" && child.name === "ac:plain-text-body");
    expect(body?.children.map((child) => child.kind)).toEqual(["cdata"]);
    expect(textOf(body!)).toBe(doc.timeline.mermaid);
    expect(doc.timeline.mermaid.startsWith("timeline\n")).toBe(true);
  });

  it("keeps hostile text literal: markup, entities, ]]>, control characters and lone surrogates", () => {
    const input = quietSev4();
    const hostile = `<script>alert(1)</script> & &nbsp; ]]> <ac:structured-macro ac:name="html"> "q" 'a'`;
    input.incident.title = hostile;
    input.incident.summary = `line one\u0007\nline two \ud800 ]]> <![CDATA[x]]>`;
    const mutated: PostmortemInput = {
      ...input,
      events: input.events.map((event) => (event.type === "note.added" ? { ...event, data: { text: `${hostile} <br> &amp;` } } : event)),
    };
    const value = storage(mutated, "firebreak-incident-x");
    expect(storageFormatProblems(value)).toEqual([]);
    expect(value).not.toMatch(/<script/i);
    expect(value).not.toContain('<ac:structured-macro ac:name="html"');
    const text = textOf(parsed(value));
    // The reader sees exactly what was typed (minus characters XML cannot carry).
    expect(text).toContain(hostile);
    // Notes are Slack text: Slack's own "&amp;" means "&".
    expect(text).toContain(`${hostile} <br> &`);
    expect(text).toContain("line one");
    expect(text).not.toContain("\u0007");
    expect(macros(parsed(value), "html")).toEqual([]);
  });

  it("marks the page with an invisible anchor macro naming the incident", () => {
    const root = parsed(storage(quietSev4(), "firebreak-incident-1234"));
    const [anchor] = macros(root, "anchor");
    expect(anchor && textOf(anchor)).toBe("firebreak-incident-1234");
  });
});

describe("page title", () => {
  it("is the reference, the title and (post-mortem), within Confluence's 255 characters", () => {
    expect(storageTitle(generatePostmortem(quietSev4()))).toBe("INC-101: Elevated 404s on the docs site (post-mortem)");
    const input = quietSev4();
    input.incident.title = `Very long ${"x".repeat(1_000)}`;
    const title = storageTitle(generatePostmortem(input));
    expect(title.length).toBeLessThanOrEqual(TITLE_MAX);
    expect(title.startsWith("INC-101: Very long x")).toBe(true);
    expect(title.endsWith("… (post-mortem)")).toBe(true);
  });

  it("is 'Private incident' for the public version of a private incident", () => {
    expect(storageTitle(generatePostmortem(privateIncident({ audience: "public" })))).toMatch(/^INC-\d+: Private incident \(post-mortem\)$/);
  });
});

describe("private incidents", () => {
  it("the public storage format carries no private string and no user id; the internal one does (so the check can fail)", () => {
    const internal = storage(privateIncident());
    for (const secret of PRIVATE_STRINGS) expect(internal, secret).toContain(secret.replace(/&/g, "&amp;").replace(/'/g, "&#39;"));
    const publicBody = storage(privateIncident({ audience: "public" }), "firebreak-incident-x");
    const publicText = textOf(parsed(publicBody));
    for (const secret of PRIVATE_STRINGS) {
      expect(publicBody, `leaks "${secret}"`).not.toContain(secret);
      expect(publicText, `leaks "${secret}"`).not.toContain(secret);
    }
    expect(publicBody).not.toMatch(/\bU0[A-Z0-9]{6,}\b/);
    expect(publicText).toContain("Public version of a private incident");
  });
});
