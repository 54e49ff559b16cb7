import { describe, expect, it } from "vitest";
import { MAX_TEXT_LENGTH, MAX_TITLE_LENGTH } from "../../src/incident/commands.ts";
import { incidentListReply, incidentShowReply, type ListedIncident } from "../../src/incident/views.ts";
import { describeProblem, type CommandProblem } from "../../src/slack/commands.ts";
import { COMMAND_HELP_ENTRIES, USAGE, helpReply } from "../support/commands.ts";
import { escapeMrkdwn } from "../../src/slack/text.ts";
import { expectNoForeignMarkup, expectWithinSlackLimits, markupProblems, mrkdwnStrings, sectionTexts } from "./block-kit.ts";
import { HOSTILE, HOSTILE_ESCAPED, HOSTILE_FRAGMENTS, incident } from "./incident-fixtures.ts";

const NOW = new Date("2026-11-22T12:00:00Z");
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1_000);
const unix = (date: Date) => Math.floor(date.getTime() / 1_000);

function listed(number: number, overrides: Partial<ListedIncident> = {}): ListedIncident {
  return { ...incident({ number, id: `id-${number}`, title: `Incident number ${number}`, channelId: `C0CHAN${number}`, declaredAt: ago(3_600) }), visible: true, ...overrides };
}

describe("/incident list", () => {
  it("says so when there is nothing to list", () => {
    expect(incidentListReply([], { all: false, total: 0, now: NOW })).toEqual({ response_type: "ephemeral", text: ":sunny: No open incidents." });
    expect(incidentListReply([], { all: true, total: 0, now: NOW })).toEqual({ response_type: "ephemeral", text: "No incidents yet." });
  });

  it("lists each incident with severity, status, title, channel, commander and age", () => {
    const reply = incidentListReply(
      [
        listed(3, { severity: "SEV1", declaredAt: ago(45) }),
        listed(2, { status: "MONITORING", commanderId: null, declaredAt: ago(3 * 3_600) }),
        listed(1, { severity: "SEV4", status: "RESOLVED", channelId: null, declaredAt: ago(2 * 86_400 + 600) }),
      ],
      { all: true, total: 3, now: NOW },
    );
    expect(reply.response_type).toBe("ephemeral");
    expect(sectionTexts(reply)).toEqual([
      "*Incidents* (newest first, 3 in all)",
      [
        ":red_circle: *INC-3* SEV1 · Investigating · Incident number 3 <#C0CHAN3>\n      commander <@U0COMMAND> · 45 seconds old",
        ":large_orange_circle: *INC-2* SEV2 · Monitoring · Incident number 2 <#C0CHAN2>\n      commander _unassigned_ · 3 hours old",
        ":white_circle: *INC-1* SEV4 · Resolved · Incident number 1\n      commander <@U0COMMAND> · 2 days old",
      ].join("\n"),
    ]);
    expect(reply.text.startsWith("*Incidents* (newest first, 3 in all)\n:red_circle: *INC-3*")).toBe(true);
    expectWithinSlackLimits(reply, "message");
  });

  it("heads open incidents differently from all incidents", () => {
    const [heading] = sectionTexts(incidentListReply([listed(1)], { all: false, total: 1, now: NOW }));
    expect(heading).toBe("*Open incidents* (newest first, 1)");
  });

  it("hides the title and channel of a private incident the viewer may not see", () => {
    const hidden = listed(7, { private: true, visible: false, title: "Payroll data exposed" });
    const seen = listed(8, { private: true, visible: true, title: "Visible private one" });
    const reply = incidentListReply([seen, hidden], { all: false, total: 2, now: NOW });
    const json = JSON.stringify(reply);
    expect(json).not.toContain("Payroll");
    expect(json).not.toContain("C0CHAN7");
    expect(sectionTexts(reply)[1]).toContain("*INC-7* SEV2 · Investigating · _private incident_\n");
    expect(json).toContain("Visible private one <#C0CHAN8>");
  });

  it("shows the newest 20 and says so when there are more", () => {
    const many = Array.from({ length: 25 }, (_, i) => listed(25 - i));
    const reply = incidentListReply(many, { all: true, total: 25, now: NOW });
    const shown = sectionTexts(reply).join("\n");
    for (let number = 6; number <= 25; number++) expect(shown).toContain(`*INC-${number}*`);
    for (let number = 1; number <= 5; number++) expect(shown).not.toContain(`*INC-${number}*`);
    const last = reply.blocks?.at(-1);
    expect(JSON.stringify(last)).toContain("Showing the newest 20.");
    expect(reply.blocks?.length).toBeLessThanOrEqual(50);
    expectWithinSlackLimits(reply, "message");
  });

  it("does not say it is cutting when everything fits", () => {
    const twenty = Array.from({ length: 20 }, (_, i) => listed(20 - i));
    expect(JSON.stringify(incidentListReply(twenty, { all: true, total: 20, now: NOW }))).not.toContain("Showing the newest");
  });

  it("stays within limits and escapes hostile titles at full size", () => {
    const many = Array.from({ length: 20 }, (_, i) => listed(1_000_000 - i, { title: `${HOSTILE} ${"<".repeat(MAX_TITLE_LENGTH)}`.slice(0, MAX_TITLE_LENGTH) }));
    const reply = incidentListReply(many, { all: true, total: 500, now: NOW });
    expectWithinSlackLimits(reply, "message");
    for (const text of sectionTexts(reply)) {
      for (const fragment of HOSTILE_FRAGMENTS) expect(text).not.toContain(fragment);
      expect(markupProblems(text)).toEqual([]);
    }
  });

  // The fallback text is cut with a plain slice at 3000 characters: it can end inside an
  // escape entity or a mention, leaving markup half-open.
  it("cuts the fallback text without breaking an entity or a mention", () => {
    const problems: string[] = [];
    for (let shift = 0; shift < 8; shift++) {
      const many = Array.from({ length: 20 }, (_, i) => listed(1_000 + i, { title: `${"a".repeat(shift)}${"<".repeat(MAX_TITLE_LENGTH)}` }));
      const reply = incidentListReply(many, { all: true, total: 20, now: NOW });
      for (const problem of markupProblems(reply.text)) problems.push(`shift ${shift}: ${problem}`);
    }
    expect(problems).toEqual([]);
  });
});

describe("/incident show", () => {
  const services = [
    { key: "checkout", name: "Checkout", owners: [], actions: [] },
    { key: "payments", name: "Payments & <Billing>", owners: [], actions: [] },
  ];

  it("summarises an open incident", () => {
    const declaredAt = ago(3 * 3_600);
    const reply = incidentShowReply(incident({ declaredAt, services: ["checkout", "gone"] }), NOW, services);
    expect(sectionTexts(reply)).toEqual([
      [
        ":large_orange_circle: *INC-12: Checkout is failing*",
        "SEV2 · Investigating · commander <@U0COMMAND> · <#C0INCIDENT>",
        `Declared <!date^${unix(declaredAt)}^{date_short_pretty} at {time}|${declaredAt.toISOString()}> (3 hours ago) by <@U0DECLARE>`,
        "Services: Checkout, gone",
      ].join("\n"),
    ]);
    expect(reply.text).toBe(sectionTexts(reply)[0]);
    expectWithinSlackLimits(reply, "message");
  });

  it("adds the resolution, and leaves out what is missing", () => {
    const resolvedAt = ago(600);
    const reply = incidentShowReply(incident({ status: "RESOLVED", channelId: null, resolvedAt, summary: "Rolled back" }), NOW, services);
    const [text] = sectionTexts(reply);
    expect(text).toContain("SEV2 · Resolved · commander <@U0COMMAND>\n");
    expect(text).not.toContain("<#");
    expect(text).not.toContain("Services:");
    expect(text).toMatch(/\nResolved <!date\^\d+\^\{date_short_pretty\} at \{time\}\|[^>]+>: Rolled back$/);
    expect(incidentShowReply(incident({ resolvedAt }), NOW, services).text).toMatch(/\nResolved <!date[^>]+>$/);
  });

  it("escapes the title, summary and service names", () => {
    const reply = incidentShowReply(incident({ title: HOSTILE, summary: HOSTILE, resolvedAt: ago(60), services: ["payments"] }), NOW, services);
    expectNoForeignMarkup(reply, HOSTILE_FRAGMENTS);
    expect(reply.text).toContain(`*INC-12: ${HOSTILE_ESCAPED}*`);
    expect(reply.text).toContain(`: ${HOSTILE_ESCAPED}`);
    expect(reply.text).toContain("Services: Payments &amp; &lt;Billing&gt;");
    expectWithinSlackLimits(reply, "message");
  });

  it("stays within limits for the longest title and summary", () => {
    const reply = incidentShowReply(
      incident({ title: "<".repeat(MAX_TITLE_LENGTH), summary: "&".repeat(MAX_TEXT_LENGTH), resolvedAt: ago(60), services: Array.from({ length: 100 }, (_, i) => `service-${i}`) }),
      NOW,
      services,
    );
    expectWithinSlackLimits(reply, "message");
    expectNoForeignMarkup(reply);
  });
});

describe("help", () => {
  const problems: CommandProblem[] = [
    { type: "unknown_command", subcommand: "frobnicate" },
    { type: "missing_title" },
    { type: "title_too_long", length: 201, max: 200 },
    { type: "text_too_long", length: 2_901, max: 2_900 },
    { type: "usage", usage: USAGE.role },
  ];

  it("lists every USAGE entry and the help command", () => {
    const text = sectionTexts(helpReply()).join("\n");
    for (const usage of [...Object.values(USAGE), "/incident help"]) {
      expect(text.includes(`\`${usage}\``) || text.includes(`\`${escapeMrkdwn(usage)}\``), usage).toBe(true);
    }
    expect(COMMAND_HELP_ENTRIES.map((entry) => entry.usage).sort()).toEqual([...Object.values(USAGE), "/incident help"].sort());
  });

  it("keeps every section within limits, with and without a problem", () => {
    for (const problem of [undefined, ...problems]) {
      const reply = helpReply(problem);
      expect(reply.response_type).toBe("ephemeral");
      for (const text of sectionTexts(reply)) expect(text.length).toBeLessThanOrEqual(3_000);
      expectWithinSlackLimits(reply, "message");
    }
  });

  it("starts with the problem when there is one", () => {
    for (const problem of problems) {
      const reply = helpReply(problem);
      expect(sectionTexts(reply)[0]).toBe(describeProblem(problem));
      expect(reply.text.startsWith(`${describeProblem(problem)}\n\n*Firebreak commands*`)).toBe(true);
    }
    expect(sectionTexts(helpReply())[0]?.startsWith("*Firebreak commands*\n")).toBe(true);
  });

  it("describes each problem", () => {
    expect(describeProblem({ type: "unknown_command", subcommand: "frobnicate" })).toBe(":thinking_face: I don't know the command `frobnicate`.");
    expect(describeProblem({ type: "missing_title" })).toContain("needs a title");
    expect(describeProblem({ type: "title_too_long", length: 201, max: 200 })).toBe(":scissors: That title is 201 characters long; keep it to 200 or fewer.");
    expect(describeProblem({ type: "text_too_long", length: 2_901, max: 2_900 })).toBe(":scissors: That text is 2901 characters long; keep it to 2900 or fewer.");
    expect(describeProblem({ type: "usage", usage: USAGE.show })).toContain("Usage: `/incident show ");
  });

  it("escapes and shortens an unknown subcommand", () => {
    const described = describeProblem({ type: "unknown_command", subcommand: `<!channel>${"x".repeat(100)}` });
    expect(described).toContain("&lt;!channel&gt;");
    expect(described).not.toContain("<!channel>");
    expect(described.length).toBeLessThan(100);
  });

  // Usages such as `/incident show <number>` and `<investigating|identified|...>` are written into
  // mrkdwn raw; Slack parses <...> even inside backticks, so they render as links or broken mentions.
  it("writes the usages as text, not as Slack markup", () => {
    for (const problem of [undefined, ...problems]) {
      const reply = helpReply(problem);
      for (const text of mrkdwnStrings(reply)) expect(markupProblems(text), text.slice(0, 80)).toEqual([]);
    }
    expect(describeProblem({ type: "usage", usage: USAGE.status })).toBe(`:information_source: Usage: \`${escapeMrkdwn(USAGE.status)}\``);
  });
});
