import type { DocumentPhase, PostmortemDocument, TimelineEntry } from "../models.ts";
import { clip } from "../text.ts";

/**
 * The post-mortem draft in Confluence's storage format: XHTML (every element
 * closed, every attribute quoted, only the five XML entities) plus
 * Confluence's `ac:` macros. Every piece of text is escaped here; the Mermaid
 * diagram goes into a `code` macro as CDATA. The output is well-formed XML
 * once wrapped in an element that declares the `ac` namespace (the fake
 * Confluence parses it so).
 */

/** Characters XML 1.0 does not allow at all (control characters, lone surrogates, U+FFFE/U+FFFF). */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

const XML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeXml(text: string): string {
  return text.replace(NOT_XML, "").replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

/** A CDATA section; "]]>" inside the text is split across two sections, as XML requires. */
export function cdata(text: string): string {
  return `<![CDATA[${text.replace(NOT_XML, "").replace(/]]>/g, "]]]]><![CDATA[>")}]]>`;
}

/** Confluence allows 255 characters in a title; the incident title is cut to fit, the reference and suffix are kept. */
export const TITLE_MAX = 255;
const TITLE_SUFFIX = " (post-mortem)";

export function storageTitle(doc: PostmortemDocument): string {
  const prefix = `${doc.header.ref}: `;
  const title = doc.header.title.replace(NOT_XML, "").replace(/\s+/g, " ").trim() || "Untitled incident";
  return `${prefix}${clip(title, TITLE_MAX - prefix.length - TITLE_SUFFIX.length)}${TITLE_SUFFIX}`;
}

function el(name: string, content: string): string {
  return `<${name}>${content}</${name}>`;
}

function text(name: string, value: string): string {
  return el(name, escapeXml(value));
}

/** Paragraphs kept, line breaks as <br/>. */
function block(value: string): string {
  return value
    .replace(/\r\n?/g, "\n")
    .trim()
    .split(/\n\s*\n/)
    .map((paragraph) => el("p", paragraph.trim().split("\n").map(escapeXml).join("<br/>")))
    .join("");
}

function macro(name: string, parameters: Readonly<Record<string, string>>, body: string): string {
  const params = Object.entries(parameters)
    .map(([key, value]) => `<ac:parameter ac:name="${escapeXml(key)}">${escapeXml(value)}</ac:parameter>`)
    .join("");
  return `<ac:structured-macro ac:name="${escapeXml(name)}">${params}${body}</ac:structured-macro>`;
}

function panel(name: "info" | "note", content: string): string {
  return macro(name, {}, el("ac:rich-text-body", content));
}

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const headRow = el("tr", head.map((cell) => text("th", cell)).join(""));
  const bodyRows = rows.map((row) => el("tr", row.map((cell) => text("td", cell)).join(""))).join("");
  return el("table", el("tbody", `${headRow}${bodyRows}`));
}

function list(items: readonly string[]): string {
  return el("ul", items.map((item) => el("li", item)).join(""));
}

const PRIORITY = { HIGH: "High", MEDIUM: "Medium", LOW: "Low" } as const;
const ACTION_STATUS = { OPEN: "Open", DONE: "Done", CANCELLED: "Cancelled" } as const;

function overview(doc: PostmortemDocument): Array<[string, string]> {
  const h = doc.header;
  const rows: Array<[string, string]> = [
    ["Incident", h.ref],
    ["Severity", h.severity],
    ["Status", h.statusLabel],
    ["Services", h.services.join(", ") || "none recorded"],
  ];
  if (h.namesWithheld) {
    rows.push(["People", `${h.participantCount} ${h.participantCount === 1 ? "participant" : "participants"} (names withheld)`]);
  } else {
    if (h.commander === null) rows.push(["Commander", "not assigned"]);
    for (const role of h.roles) rows.push([role.role, role.people.join(", ")]);
    if (h.declaredBy !== null) rows.push(["Declared by", h.declaredBy]);
    rows.push(["Participants", h.participants.length > 0 ? `${h.participants.join(", ")} (${h.participantCount})` : "none recorded"]);
  }
  for (const date of h.dates) rows.push([date.label, date.at?.display ?? "—"]);
  return rows;
}

function entry(item: TimelineEntry): string {
  const tags = [item.private ? "private" : null, item.edited ? "edited" : null, item.derived ? "from alerts" : null].filter((tag) => tag !== null);
  let html = `${escapeXml(item.at.display)} · ${text("strong", item.label)}`;
  if (item.detail !== null) html += `: ${escapeXml(item.detail)}`;
  if (item.actor !== null) html += ` · ${escapeXml(item.actor)}`;
  if (tags.length > 0) html += ` ${text("em", `(${tags.join(", ")})`)}`;
  return html;
}

function phase(section: DocumentPhase): string {
  const entries = section.entries.length === 0 ? text("p", "No entries.") : list(section.entries.map(entry));
  return `${text("h3", section.label)}${el("p", text("em", section.description))}${entries}`;
}

export interface StorageOptions {
  /**
   * The name of an (invisible) anchor macro put at the top of the page, so
   * that Firebreak can recognise a page it created when it meets the title again.
   */
  anchor?: string;
}

export function renderStorageFormat(doc: PostmortemDocument, options: StorageOptions = {}): string {
  const out: string[] = [];
  const preface = [
    `Post-mortem draft generated by Firebreak on ${doc.generatedAt.display}, from the incident's record. Regenerating it replaces this page's content (earlier versions stay in the page history).`,
    doc.timeZone === "UTC" || doc.generatedAt.local === null ? "Times are in UTC." : `Times are in UTC, with local time in ${doc.timeZone} in parentheses.`,
  ];
  if (doc.audience === "public") {
    preface.push(
      doc.redacted
        ? "Public version of a private incident: its title, descriptions, notes and updates are withheld; names and user ids are left out."
        : "Public version: private timeline entries, names and user ids are left out.",
    );
  }
  const anchor = options.anchor ? macro("anchor", { "": options.anchor }, "") : "";
  out.push(panel("info", preface.map((line, index) => el("p", `${index === 0 ? anchor : ""}${escapeXml(line)}`)).join("")));
  for (const note of doc.notes) out.push(panel("note", text("p", note)));

  out.push(text("h2", "Overview"), table(["Field", "Value"], overview(doc)));

  const s = doc.summary;
  out.push(text("h2", "Summary and impact"));
  if (s.resolveSummary !== null) out.push(el("p", text("strong", "Resolution summary:")), block(s.resolveSummary));
  else out.push(el("p", `${text("strong", "Resolution summary:")} ${text("em", doc.redacted ? "withheld" : "not written yet (resolve with a summary, or write it here)")}`));
  if (s.description !== null) out.push(el("p", text("strong", "Description:")), block(s.description));
  out.push(el("p", `${text("strong", "Affected services:")} ${escapeXml(s.services.join(", ") || "none recorded")}`));
  const alerts =
    s.alertCount === 0
      ? "none linked to this incident"
      : `${s.alertCount} ${s.alertCount === 1 ? "alert" : "alerts"}: ${s.alertNames.map((a) => `${a.alertname} (${a.count}${a.firing > 0 ? `, ${a.firing} still firing` : ""})`).join(", ")}`;
  out.push(el("p", `${text("strong", "Alerts:")} ${escapeXml(alerts)}`));

  out.push(text("h2", "Key metrics"), table(["Metric", "Duration", "From", "To"], doc.metrics.map((m) => [m.label, m.human, m.from, m.to])));

  const t = doc.timeline;
  out.push(text("h2", "Timeline"));
  out.push(
    text("p", `${t.entryCount} ${t.entryCount === 1 ? "entry" : "entries"}, grouped by phase.${t.diagramOmitted > 0 ? ` The diagram shows ${t.diagramShown} of ${t.diagramShown + t.diagramOmitted} key moments.` : ""}`),
  );
  out.push(macro("code", { title: "Timeline (Mermaid)", language: "text" }, el("ac:plain-text-body", cdata(t.mermaid))));
  for (const section of t.phases) out.push(phase(section));

  out.push(text("h2", "Remediation actions"));
  out.push(
    doc.remediations.length === 0
      ? text("p", "No remediation actions were run through Firebreak.")
      : table(
          ["Action", "Kind", "Status", "Requested", "Finished", "Result"],
          doc.remediations.map((r) => [
            r.requestedBy !== null ? `${r.actionKey} (by ${r.requestedBy})` : r.actionKey,
            r.kind,
            r.statusLabel,
            r.requestedAt.display,
            r.finishedAt ? `${r.finishedAt.display}${r.duration ? `, after ${r.duration}` : ""}` : "—",
            r.result ?? "—",
          ]),
        ),
  );

  out.push(text("h2", "Alerts that fired"));
  out.push(
    doc.alerts.length === 0
      ? text("p", "No alerts were linked to this incident.")
      : table(
          ["Alert", "Severity", "Status", "Started", "Ended", "Summary"],
          doc.alerts.map((a) => [`${a.alertname} (${a.fingerprint})`, a.severity ?? "—", a.status === "FIRING" ? "firing" : "resolved", a.startsAt.display, a.endsAt?.display ?? "—", a.summary ?? "—"]),
        ),
  );

  for (const prompt of doc.prompts) {
    out.push(text("h2", prompt.title), text("p", "Guiding questions:"), list(prompt.questions.map((q) => text("em", q))));
    if (prompt.content !== null) out.push(block(prompt.content));
    else if (prompt.id !== "action-items") out.push(el("p", text("em", doc.redacted ? "Withheld in the public version." : "To be written by the review.")));
    if (prompt.id !== "action-items") continue;
    out.push(
      doc.actionItems.length === 0
        ? el("p", `No follow-up action items recorded yet (${text("code", "/incident followup <text>")}).`)
        : table(
            ["Action item", "Owner", "Due", "Priority", "Status"],
            doc.actionItems.map((item) => [
              `${item.title ?? "(withheld)"}${item.externalUrl ? ` (${item.externalUrl})` : ""}`,
              item.owner ?? (doc.header.namesWithheld ? "—" : "unassigned"),
              item.dueDate ? `${item.dueDate}${item.overdue ? " (overdue)" : ""}` : "no due date",
              PRIORITY[item.priority],
              ACTION_STATUS[item.status],
            ]),
          ),
    );
  }

  out.push(text("h2", "Blameless-language review"));
  const { findings, checked } = doc.review;
  if (findings.length === 0) {
    out.push(text("p", checked === 0 ? "This version contains no free text to check." : `No wording that assigns blame to a person was found in ${checked} free-text ${checked === 1 ? "part" : "parts"}.`));
  } else {
    out.push(text("p", `${findings.length} ${findings.length === 1 ? "passage" : "passages"} may assign blame to a person. Nothing above was changed: the authors decide whether and how to rephrase.`));
    out.push(list(findings.map((f) => `${text("strong", f.where)}: “${escapeXml(f.excerpt)}” ${escapeXml(f.explanation)} ${text("em", "Try:")} ${escapeXml(f.suggestion)}`)));
  }
  return out.join("\n");
}
