import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EVENT_CATALOGUE } from "../support/catalogue.ts";
import { generatePostmortem as generate, renderHtml, renderMarkdown, toJson } from "../../src/postmortem/generate.ts";
import { DIAGRAM_LIMIT } from "../../src/postmortem/timeline-section.ts";

const generatePostmortem = (input: Parameters<typeof generate>[0]) => generate(input, EVENT_CATALOGUE);
import type { PostmortemDocument, PostmortemEvent, PostmortemInput } from "../../src/postmortem/models.ts";
import { mdBlock, mdInline, mermaidLabel, slackToPlain } from "../../src/postmortem/text.ts";
import { createClock } from "../../src/postmortem/time.ts";
import { PRIVATE_STRINGS, privateIncident, quietSev4, sev1 } from "../golden/postmortem/fixtures.ts";

const GOLDEN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../golden/postmortem");

/** Compares with the golden file; UPDATE_GOLDEN=1 (re)writes it instead. */
function expectGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) throw new Error(`golden file ${name} is missing: run the tests once with UPDATE_GOLDEN=1 and review it`);
  expect(actual).toBe(readFileSync(file, "utf8"));
}

function allEntries(doc: PostmortemDocument) {
  return doc.timeline.phases.flatMap((phase) => phase.entries.map((entry) => ({ ...entry, phase: phase.phase })));
}

function event(id: string, at: string, type: string, text: string, data: Record<string, unknown>, extra: Partial<PostmortemEvent> = {}): PostmortemEvent {
  return { id, type, source: "SLACK", actorId: "U0AMY0001", text, data, occurredAt: new Date(at), private: false, hidden: false, removedAt: null, ...extra };
}

describe("post-mortem golden files", () => {
  it("renders a quiet SEV4 (no alerts, a few notes)", () => {
    const doc = generatePostmortem(quietSev4());
    expectGolden("quiet-sev4.md", renderMarkdown(doc));
    expectGolden("quiet-sev4.html", renderHtml(doc));
    expect(doc.alerts).toEqual([]);
    expect(doc.metrics.find((m) => m.key === "timeToDetect")?.human).toBe("n/a");
  });

  it("renders a SEV1 with 500 timeline events", () => {
    const input = sev1(500);
    expect(input.events).toHaveLength(500);
    const doc = generatePostmortem(input);
    expectGolden("sev1-500-events.md", renderMarkdown(doc));

    const hidden = input.events.filter((e) => e.hidden).length;
    const removed = input.events.filter((e) => !e.hidden && e.removedAt).length;
    expect(hidden).toBeGreaterThan(0);
    expect(removed).toBeGreaterThan(0);
    // Every visible event once, plus one "started firing" entry per alert name.
    expect(doc.timeline.entryCount).toBe(500 - hidden - removed + 2);
    expect(doc.timeline.removedCount).toBe(removed);
    expect(Object.fromEntries(doc.metrics.map((m) => [m.key, m.human]))).toEqual({
      timeToDetect: "8 minutes",
      timeToAcknowledge: "3 minutes",
      timeToMitigate: "1 hour 13 minutes",
      timeToResolve: "2 hours 38 minutes",
      duration: "2 hours 38 minutes",
    });
    expect(doc.timeline.phases.map((p) => p.entries.length).every((n) => n > 0)).toBe(true);
  });

  it("renders a private incident for internal readers and, without its private text, for the public", () => {
    const internal = generatePostmortem(privateIncident());
    const publicDoc = generatePostmortem(privateIncident({ audience: "public" }));
    expectGolden("private-internal.md", renderMarkdown(internal));
    expectGolden("private-public.md", renderMarkdown(publicDoc));
    expectGolden("private-public.json", toJson(publicDoc));
  });
});

describe("audiences and private text", () => {
  it("keeps every private string out of every public export of a private incident", () => {
    const internal = generatePostmortem(privateIncident());
    const internalText = [renderMarkdown(internal), renderHtml(internal), toJson(internal)].join("\n");
    // The strings are really in the incident: the check below can fail.
    for (const secret of PRIVATE_STRINGS) expect(internalText, secret).toContain(secret);
    expect(internalText).not.toContain("U0INGRID1"); // internal drafts show names, not ids

    const doc = generatePostmortem(privateIncident({ audience: "public" }));
    expect(doc.redacted).toBe(true);
    expect(doc.header.title).toBe("Private incident");
    for (const [format, output] of [
      ["markdown", renderMarkdown(doc)],
      ["html", renderHtml(doc)],
      ["json", toJson(doc)],
    ] as const) {
      for (const secret of PRIVATE_STRINGS) expect(output, `${format} leaks "${secret}"`).not.toContain(secret);
      expect(output, `${format} leaks a user id`).not.toMatch(/\bU0[A-Z0-9]{6,}\b/);
    }
    // What remains is structure: phases, metrics, counts.
    expect(doc.timeline.entryCount).toBeGreaterThan(5);
    expect(allEntries(doc).every((e) => e.detail === null && e.actor === null)).toBe(true);
    expect(doc.actionItems[0]?.title).toBeNull();
  });

  it("drops private, hidden and removed entries from a public export and names no one", () => {
    const input = quietSev4();
    input.events = [
      ...input.events,
      event("90", "2026-03-03T14:10:00Z", "note.added", "Note: PRIVATE-NOTE-7f3", { text: "PRIVATE-NOTE-7f3" }, { private: true }),
      event("91", "2026-03-03T14:11:00Z", "note.added", "Note: HIDDEN-NOTE-2c1", { text: "HIDDEN-NOTE-2c1" }, { hidden: true }),
      event("92", "2026-03-03T14:12:00Z", "note.added", "Note: REMOVED-NOTE-9d4", { text: "REMOVED-NOTE-9d4" }, { removedAt: new Date("2026-03-03T14:20:00Z") }),
      event("93", "2026-03-03T14:13:00Z", "note.added", "Note: <@U0RAJ0002> restarted the crawler block", { text: "<@U0RAJ0002> restarted the crawler block, ask U0AMY0001" }),
    ];
    const internal = renderMarkdown(generatePostmortem(input));
    expect(internal).toContain("PRIVATE-NOTE-7f3");
    expect(internal).toMatch(/PRIVATE-NOTE-7f3 · Amy Ortiz _\(private\)_/);
    expect(internal).toContain("@Raj Patel restarted the crawler block");
    expect(internal).toContain("1 timeline entry was removed");
    expect(internal).not.toContain("HIDDEN-NOTE-2c1");
    expect(internal).not.toContain("REMOVED-NOTE-9d4");

    input.options = { ...input.options, audience: "public" };
    const doc = generatePostmortem(input);
    const outputs = [renderMarkdown(doc), renderHtml(doc), toJson(doc)];
    for (const output of outputs) {
      for (const hidden of ["PRIVATE-NOTE-7f3", "HIDDEN-NOTE-2c1", "REMOVED-NOTE-9d4", "Amy", "Ortiz", "Raj", "Patel", "U0AMY0001", "U0RAJ0002"]) {
        expect(output).not.toContain(hidden);
      }
    }
    // A non-private incident keeps its text in public; mentions become roles.
    expect(outputs[0]).toContain("a responder restarted the crawler block, ask a responder");
    expect(outputs[0]).toContain("Elevated 404s on the docs site");
    expect(doc.header.participants).toEqual([]);
    expect(doc.header.commander).toBeNull();
  });
});

describe("captured Slack messages", () => {
  it("show who wrote them internally, and only the words in public; removed ones are counted, not shown", () => {
    const input = quietSev4();
    const captured = (id: string, at: string, text: string, extra: Partial<PostmortemEvent> = {}) =>
      event(id, at, "message.captured", text, { channelId: "C0INC", ts: "1772546400.000100", threadTs: null, authorId: "U0RAJ0002", text, permalink: "https://x.slack.com/archives/C0INC/p1", via: ["pin"] }, extra);
    input.events = [
      ...input.events,
      captured("95", "2026-03-03T14:05:00Z", "Crawler traffic is 10x normal"),
      captured("96", "2026-03-03T14:06:00Z", "REMOVED-CAPTURE-1a2", { removedAt: new Date("2026-03-03T14:30:00Z") }),
    ];
    const internal = renderMarkdown(generatePostmortem(input));
    expect(internal).toContain("Message from Raj Patel");
    expect(internal).toContain("Crawler traffic is 10x normal");
    expect(internal).not.toContain("REMOVED-CAPTURE-1a2");
    expect(internal).toContain("1 timeline entry was removed");

    input.options = { ...input.options, audience: "public" };
    const shared = renderMarkdown(generatePostmortem(input));
    expect(shared).toContain("Message from the incident channel");
    expect(shared).toContain("Crawler traffic is 10x normal");
    expect(shared).not.toContain("Raj");
  });
});

describe("hostile text", () => {
  const HOSTILE_TITLE = '<script>alert(1)</script> [click](javascript:alert(1)) ![x](https://evil.example/x.png) <img src=x onerror=alert(1)> | `code` *bold* &amp; "q"';

  function hostileDoc(): PostmortemDocument {
    const input = quietSev4();
    input.incident = { ...input.incident, title: HOSTILE_TITLE, summary: "# not a heading\n- not a list\n1. not a list either\n<b>bold</b>" };
    input.events = [
      ...input.events,
      event("95", "2026-03-03T14:30:00Z", "note.added", "Note", { text: "<!channel> see <https://evil.example|the docs> & ```js\nalert(1)``` </li></ul><script>x</script>" }),
      event("96", "2026-03-03T14:31:00Z", "status.changed", "Status", { from: "INVESTIGATING", to: "IDENTIFIED", message: "a: b # c ; %% d" }),
    ];
    input.participants = [{ userId: "U0AMY0001", displayName: "<img src=x onerror=alert(2)>", roles: ["COMMANDER"] }];
    return generatePostmortem(input);
  }

  it("escapes everything in HTML", () => {
    const html = renderHtml(hostileDoc());
    expect(html).not.toMatch(/<script|<img|<b>|<\/li><\/ul><script/i);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("&lt;img src=x onerror=alert(2)&gt;");
    expect(html).toContain("&quot;q&quot;");
    // Only the page's own tags remain.
    const allowed = new Set(["!doctype", "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "br", "em", "strong", "span", "code", "time", "pre", "ul", "li", "table", "thead", "tbody", "tr", "th", "td"]);
    const tags = new Set([...html.matchAll(/<\/?(!?[a-z0-9]+)/gi)].map((m) => (m[1] ?? "").toLowerCase()));
    expect([...tags].filter((tag) => !allowed.has(tag))).toEqual([]);
  });

  it("neutralises Markdown: no raw HTML, links, images, headings or lists from people's text", () => {
    const md = renderMarkdown(hostileDoc());
    const withoutMermaid = md.replace(/```mermaid[\s\S]*?```/, "");
    // Every "<" and "[" that reached the Markdown is escaped.
    expect(withoutMermaid).not.toMatch(/(?<!\\)</);
    expect(withoutMermaid).not.toMatch(/(?<!\\)\[/);
    expect(md).toContain("\\<script\\>alert(1)\\</script\\>");
    expect(md).toContain("\\[click\\](javascript:alert(1))");
    // Slack's &amp; is decoded to "&", which is then escaped.
    expect(md).toContain("\\`code\\` \\*bold\\* \\& \"q\"");
    expect(md).toContain("\\# not a heading\\\n\\- not a list\\\n1\\. not a list either");
    // Code fences typed by a person cannot open a block.
    expect(md).not.toMatch(/^```js/m);
    expect(md).toContain("@channel see the docs (https://evil.example)");
  });

  it("keeps Mermaid labels to plain characters", () => {
    const doc = hostileDoc();
    const lines = doc.timeline.mermaid.split("\n").slice(2);
    for (const line of lines) {
      if (line.trim().startsWith("section")) continue;
      // "period : event : event": no other colons, no comments, no markup.
      expect(line).not.toMatch(/[<>#;%&"`]/);
    }
    expect(doc.timeline.mermaid).toContain("title INC-101 script alert(1) /script click (javascript alert(1))");
  });
});

describe("timeline phases and the diagram", () => {
  const base = quietSev4();

  function withEvents(events: PostmortemEvent[], patch: Partial<PostmortemInput["incident"]> = {}): PostmortemDocument {
    return generatePostmortem({ ...base, incident: { ...base.incident, ...patch }, events });
  }

  it("groups by detect, respond, mitigate and resolve, reopen cycles included", () => {
    const doc = withEvents(
      [
        event("1", "2026-03-03T13:58:00Z", "alert.firing", "Firing: X", { alertname: "X", fingerprint: "f", groupKey: "g" }, { source: "ALERTMANAGER" }),
        event("2", "2026-03-03T14:00:00Z", "incident.declared", "Declared", { title: "t", severity: "SEV4", private: false }),
        event("3", "2026-03-03T14:05:00Z", "note.added", "Note", { text: "looking" }),
        event("4", "2026-03-03T14:34:00Z", "status.changed", "Status", { from: "INVESTIGATING", to: "MONITORING", message: null }),
        event("5", "2026-03-03T14:40:00Z", "note.added", "Note", { text: "watching" }),
        event("6", "2026-03-03T15:02:00Z", "incident.resolved", "Resolved", { summary: null }),
        event("7", "2026-03-03T15:10:00Z", "incident.reopened", "Reopened", { previousResolvedAt: null }),
        event("8", "2026-03-03T15:20:00Z", "note.added", "Note", { text: "again" }),
      ],
      { resolvedAt: new Date("2026-03-03T15:30:00Z") },
    );
    expect(allEntries(doc).map((e) => `${e.id}:${e.phase}`)).toEqual(["1:detect", "2:detect", "3:respond", "4:mitigate", "5:mitigate", "6:resolve", "7:resolve", "8:resolve"]);
  });

  it("keeps the diagram readable: at most DIAGRAM_LIMIT moments, lifecycle first, and says how many are left out", () => {
    const events: PostmortemEvent[] = [event("1", "2026-03-03T14:00:00Z", "incident.declared", "Declared", { title: "t", severity: "SEV4", private: false })];
    for (let i = 0; i < 100; i++) {
      const at = new Date(Date.UTC(2026, 2, 3, 14, 1 + i)).toISOString();
      events.push(event(String(i + 2), at, "severity.changed", "Severity", { from: "SEV4", to: "SEV3" }));
    }
    events.push(event("200", "2026-03-03T16:00:00Z", "incident.resolved", "Resolved", { summary: null }));
    const doc = withEvents(events, { resolvedAt: new Date("2026-03-03T16:00:00Z") });
    expect(doc.timeline.diagramShown).toBe(DIAGRAM_LIMIT);
    expect(doc.timeline.diagramOmitted).toBe(62);
    const lines = doc.timeline.mermaid.split("\n");
    expect(lines.filter((l) => / : /.test(l)).length).toBeLessThanOrEqual(DIAGRAM_LIMIT + 1);
    expect(lines.at(-1)).toBe("        … : 62 more key moments in the full timeline");
    // Lifecycle moments survive the cut.
    expect(doc.timeline.mermaid).toContain("Declared SEV4");
    expect(doc.timeline.mermaid).toContain("16.00 : Resolved");
    expect(lines[0]).toBe("timeline");
  });
});

describe("times", () => {
  it("shows UTC and the configured zone, with the local date when it differs", () => {
    const paris = createClock("Europe/Paris");
    expect(paris.stamp(new Date("2026-11-22T10:05:00Z")).display).toBe("2026-11-22 10:05 UTC (11:05 CET)");
    expect(paris.stamp(new Date("2026-07-01T10:05:00Z")).display).toBe("2026-07-01 10:05 UTC (12:05 CEST)");
    expect(createClock("America/New_York").stamp(new Date("2026-07-01T02:30:00Z")).display).toBe("2026-07-01 02:30 UTC (2026-06-30 22:30 EDT)");
    expect(createClock("Asia/Kolkata").stamp(new Date("2026-11-22T20:00:00Z")).display).toBe("2026-11-22 20:00 UTC (2026-11-23 01:30 UTC+05:30)");
    expect(createClock("UTC").stamp(new Date("2026-11-22T10:05:59Z")).display).toBe("2026-11-22 10:05 UTC");
  });

  it("keeps each stamp's exact instant despite the per-minute cache", () => {
    const clock = createClock("Europe/Paris");
    expect(clock.stamp(new Date("2026-11-22T10:05:01Z")).iso).toBe("2026-11-22T10:05:01.000Z");
    expect(clock.stamp(new Date("2026-11-22T10:05:59Z")).iso).toBe("2026-11-22T10:05:59.000Z");
  });

  it("refuses an unknown time zone", () => {
    expect(() => generatePostmortem(quietSev4({ timeZone: "Mars/Olympus" }))).toThrow(RangeError);
  });
});

describe("text helpers", () => {
  it("turns Slack markup into plain text", () => {
    const names = (id: string, label: string | null) => `@${label ?? id.toLowerCase()}`;
    expect(slackToPlain("<@U1> and <@U2|bob> in <#C1|general> <!here> <!subteam^S1|@oncall> <https://x.example/a?b=1&amp;c=2|docs> &lt;tag&gt;", names)).toBe(
      "@u1 and @bob in #general @here @oncall docs (https://x.example/a?b=1&c=2) <tag>",
    );
  });

  it("escapes Markdown inline and block text", () => {
    expect(mdInline("a_b *c* [d](e) <f> | g ~h~ `i` \\ &")).toBe("a\\_b \\*c\\* \\[d\\](e) \\<f\\> \\| g \\~h\\~ \\`i\\` \\\\ \\&");
    expect(mdBlock("# h\n> q\n- l\n+ p\n2) n\n===\n\n\n  para two  ")).toBe("\\# h\\\n\\> q\\\n\\- l\\\n\\+ p\\\n2\\) n\\\n\\===\n\npara two");
  });

  it("reduces Mermaid labels to safe characters and cuts them", () => {
    expect(mermaidLabel("a: b # c; <d> %% e", 60)).toBe("a b c d e");
    expect(mermaidLabel("x".repeat(100), 10)).toBe(`${"x".repeat(9)}…`);
    expect(mermaidLabel(":::", 10)).toBe("-");
  });
});

describe("generator properties", () => {
  it("is deterministic and leaves its input untouched", () => {
    const input = sev1(500);
    const before = JSON.stringify(input);
    const first = toJson(generatePostmortem(input));
    expect(toJson(generatePostmortem(input))).toBe(first);
    expect(JSON.stringify(input)).toBe(before);
  });

  it("produces JSON that round-trips to the same document", () => {
    const doc = generatePostmortem(privateIncident());
    expect(JSON.parse(toJson(doc))).toEqual(doc);
  });

  it("measures an open incident up to now and says so", () => {
    const input = quietSev4();
    input.incident = { ...input.incident, status: "IDENTIFIED", mitigatedAt: null, resolvedAt: null };
    input.events = input.events.filter((e) => e.type !== "incident.resolved" && e.type !== "status.changed");
    const doc = generatePostmortem(input);
    const duration = doc.metrics.find((m) => m.key === "duration");
    expect(duration?.label).toBe("Total duration (still open)");
    expect(duration?.human).toBe("1 hour 30 minutes");
    expect(duration?.to).toBe("Draft generated, 2026-03-03 15:30 UTC (10:30 EST)");
    expect(doc.metrics.find((m) => m.key === "timeToResolve")?.human).toBe("n/a");
  });

  it("generates and renders 5,000 events well under a second", () => {
    const input = sev1(5000, {}, { distinctNotes: true });
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      const doc = generatePostmortem(input);
      renderMarkdown(doc);
      renderHtml(doc);
      toJson(doc);
      best = Math.min(best, performance.now() - started);
    }
    expect(best).toBeLessThan(1000);
  });
});
