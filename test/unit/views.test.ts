import { describe, expect, it } from "vitest";
import { SEVERITIES, STATUS_LABEL, type IncidentStatus } from "../../src/incident/models.ts";
import { ACTIONS, announcementMessage, bookmarkTitle, channelTopic, declaredReply, incidentHeader, type SlackMessage } from "../../src/incident/views.ts";
import { SLACK_LIMITS } from "../../src/slack/text.ts";
import { helpReply } from "../support/commands.ts";
import { apologyFor } from "../../src/slack/views.ts";
import { expectNoForeignMarkup, expectWithinSlackLimits, mrkdwnStrings, plainStrings, sectionTexts } from "./block-kit.ts";
import { HOSTILE, HOSTILE_ESCAPED, HOSTILE_FRAGMENTS, incident } from "./incident-fixtures.ts";

const STATUSES: readonly IncidentStatus[] = ["INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED"];

type Json = Record<string, unknown>;

function blocksOfType(message: SlackMessage, type: string): Json[] {
  return (message.blocks as Json[]).filter((block) => block.type === type);
}

function actionIds(message: SlackMessage): string[] {
  return blocksOfType(message, "actions").flatMap((block) => (block.elements as Json[]).map((element) => String(element.action_id)));
}

function fieldTexts(message: SlackMessage): string[] {
  const withFields = (message.blocks as Json[]).find((block) => Array.isArray(block.fields));
  return ((withFields?.fields ?? []) as Array<{ text: string }>).map((field) => field.text);
}

function allText(value: unknown): string {
  return JSON.stringify(value);
}

describe("incident header", () => {
  it("shows number, title, severity, status, commander and declarer", () => {
    const message = incidentHeader(incident());
    expect(plainStrings(message.blocks[0])).toEqual(["INC-12: Checkout is failing"]);
    expect(fieldTexts(message)).toEqual([
      "*Severity*\n:large_orange_circle: SEV2 (major: significant impact)",
      "*Status*\nInvestigating",
      "*Commander*\n<@U0COMMAND>",
      "*Declared by*\n<@U0DECLARE>",
    ]);
    expect(message.text).toBe("INC-12 SEV2 Investigating: Checkout is failing");
    expectWithinSlackLimits(message, "message");
  });

  it.each(STATUSES.filter((status) => status !== "RESOLVED"))("offers the four actions while %s", (status) => {
    const message = incidentHeader(incident({ status }));
    expect(actionIds(message)).toEqual([ACTIONS.takeCommand, ACTIONS.setSeverity, ACTIONS.postUpdate, ACTIONS.resolve]);
    const [actions] = blocksOfType(message, "actions");
    const elements = (actions?.elements ?? []) as Json[];
    for (const element of elements.filter((element) => element.type === "button")) expect(element.value).toBe(incident().id);
    const select = elements.find((element) => element.action_id === ACTIONS.setSeverity);
    expect((select?.options as Json[]).map((option) => option.value)).toEqual([...SEVERITIES]);
    expect((select?.initial_option as Json).value).toBe("SEV2");
    expectWithinSlackLimits(message, "message");
  });

  it("asks someone to acknowledge when there is no commander yet", () => {
    const message = incidentHeader(incident({ commanderId: null }));
    expect(fieldTexts(message)).toContain("*Commander*\n_unassigned_");
    expect(plainStrings(blocksOfType(message, "actions"))).toContain("Acknowledge / take command");
    expect(plainStrings(blocksOfType(incidentHeader(incident()), "actions"))).toContain("Take command");
  });

  it("drops every action once resolved and shows the resolution", () => {
    const resolvedAt = new Date("2026-11-22T11:30:00Z");
    const message = incidentHeader(incident({ status: "RESOLVED", resolvedAt, summary: "Rolled back the cart deploy" }));
    expect(blocksOfType(message, "actions")).toEqual([]);
    for (const id of Object.values(ACTIONS)) expect(allText(message)).not.toContain(id);
    expect(sectionTexts(message)).toContain("*Resolution*\nRolled back the cart deploy");
    const [context] = blocksOfType(message, "context");
    expect(allText(context)).toContain(`resolved <!date^${resolvedAt.getTime() / 1000}^`);
    expectWithinSlackLimits(message, "message");
  });

  it("does not show a summary while the incident is open", () => {
    const message = incidentHeader(incident({ status: "MONITORING", summary: "premature" }));
    expect(allText(message)).not.toContain("premature");
    expect(allText(message)).not.toContain("*Resolution*");
  });

  it("adds scribe and comms fields only when they are set", () => {
    expect(fieldTexts(incidentHeader(incident()))).toHaveLength(4);
    const fields = fieldTexts(incidentHeader(incident({ scribeId: "U0SCRIBE", commsId: "U0COMMS" })));
    expect(fields).toHaveLength(6);
    expect(fields).toContain("*Scribe*\n<@U0SCRIBE>");
    expect(fields).toContain("*Comms*\n<@U0COMMS>");
    const scribeOnly = fieldTexts(incidentHeader(incident({ scribeId: "U0SCRIBE" })));
    expect(scribeOnly).toContain("*Scribe*\n<@U0SCRIBE>");
    expect(scribeOnly.some((text) => text.startsWith("*Comms*"))).toBe(false);
  });

  it("shows the description and marks private incidents", () => {
    const message = incidentHeader(incident({ description: "EU customers get 502s", private: true }));
    expect(sectionTexts(message)).toContain("EU customers get 502s");
    expect(allText(blocksOfType(message, "context"))).toContain("Declared (private) <!date^");
    expect(allText(blocksOfType(incidentHeader(incident()), "context"))).not.toContain("(private)");
  });

  it("cannot be made to ping or disguise links through the title, description or summary", () => {
    for (const status of STATUSES) {
      const message = incidentHeader(incident({ status, title: HOSTILE, description: HOSTILE, summary: HOSTILE, scribeId: "U0SCRIBE", commsId: "U0COMMS" }));
      expectNoForeignMarkup(message, HOSTILE_FRAGMENTS);
      expect(sectionTexts(message)).toContain(HOSTILE_ESCAPED);
      expect(message.text).toContain(HOSTILE_ESCAPED);
      if (status === "RESOLVED") expect(sectionTexts(message)).toContain(`*Resolution*\n${HOSTILE_ESCAPED}`);
      // The raw title may only appear where Slack renders it literally (the plain_text header).
      expect(plainStrings(message)).toContain(`INC-12: ${HOSTILE}`);
      expectWithinSlackLimits(message, "message");
    }
  });

  it("keeps within Slack's limits for the longest inputs", () => {
    const long = "<&>".repeat(3_000);
    for (const status of STATUSES) {
      const message = incidentHeader(incident({ status, title: "y".repeat(500), description: long, summary: long, scribeId: "U0SCRIBE", commsId: "U0COMMS", resolvedAt: new Date() }));
      expectWithinSlackLimits(message, "message");
      expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerMessage);
      const header = plainStrings(message.blocks[0]);
      expect(header[0]?.length).toBe(SLACK_LIMITS.headerText);
      expectNoForeignMarkup(message);
    }
  });
});

describe("channel topic", () => {
  it("shows severity, status and commander, then the title", () => {
    // A topic is plain text (Slack shows <@U…> in it as is): the commander by name, from users.info.
    expect(channelTopic(incident(), "Casey Commander")).toBe("SEV2 | Investigating | Commander: Casey Commander | Checkout is failing");
    expect(channelTopic(incident())).toBe("SEV2 | Investigating | Commander: @U0COMMAND | Checkout is failing");
    expect(channelTopic(incident({ commanderId: null, status: "MONITORING", severity: "SEV1" }))).toBe("SEV1 | Monitoring | Commander: unassigned | Checkout is failing");
  });

  it("stays within 250 characters for a 200-character title, keeping the head", () => {
    for (const severity of SEVERITIES) {
      for (const status of STATUSES) {
        for (const commanderId of ["U0COMMANDERWITHALONGID", null]) {
          const title = "t".repeat(200);
          const topic = channelTopic(incident({ severity, status, commanderId, title }));
          const head = `${severity} | ${STATUS_LABEL[status]} | Commander: ${commanderId ? `@${commanderId}` : "unassigned"} | `;
          expect(topic.length).toBeLessThanOrEqual(SLACK_LIMITS.topic);
          expect(topic.startsWith(head)).toBe(true);
          if (head.length + title.length <= SLACK_LIMITS.topic) expect(topic).toBe(head + title);
          else expect(topic).toBe(`${head}${"t".repeat(SLACK_LIMITS.topic - head.length - 1)}…`);
        }
      }
    }
  });

  it("folds line breaks in the title", () => {
    expect(channelTopic(incident({ title: "two\nlines" }))).toMatch(/\| two lines$/);
  });
});

describe("bookmark title", () => {
  it("names the incident, severity and status", () => {
    expect(bookmarkTitle(incident())).toBe("INC-12 · SEV2 · Investigating");
    expect(bookmarkTitle(incident({ number: 301, severity: "SEV1", status: "RESOLVED" }))).toBe("INC-301 · SEV1 · Resolved");
  });
});

describe("announcement", () => {
  it("announces a public incident with its title, declarer and channel", () => {
    const message = announcementMessage(incident(), "<#C0INCIDENT>");
    expect(sectionTexts(message)).toEqual([":large_orange_circle: *INC-12 (SEV2)*: Checkout is failing\nDeclared by <@U0DECLARE> · join <#C0INCIDENT>"]);
    expect(allText(blocksOfType(message, "context"))).toContain("Status updates follow in this thread.");
    expect(message.text).toBe("INC-12 SEV2: Checkout is failing");
    expectWithinSlackLimits(message, "message");
  });

  it("leaves out the link when there is none", () => {
    const message = announcementMessage(incident(), undefined);
    expect(sectionTexts(message)[0]).toMatch(/Declared by <@U0DECLARE>$/);
    expect(allText(message)).not.toContain("join");
  });

  it("escapes a hostile title", () => {
    const message = announcementMessage(incident({ title: HOSTILE }), "<#C0INCIDENT>");
    expectNoForeignMarkup(message, HOSTILE_FRAGMENTS);
    expect(sectionTexts(message)[0]).toContain(HOSTILE_ESCAPED);
    expect(sectionTexts(message)[0]).toContain("join <#C0INCIDENT>");
    expectWithinSlackLimits(message, "message");
  });

  it("says nothing about a private incident but that it exists", () => {
    const message = announcementMessage(incident({ private: true, title: "Secret merger leak", description: "hush" }), "<#C0INCIDENT>");
    expect(message.text).toBe(":large_orange_circle: A private SEV2 incident was declared.");
    expect(sectionTexts(message)).toEqual([message.text]);
    const json = allText(message);
    for (const secret of ["Secret", "merger", "hush", "C0INCIDENT", "INC-12", "U0DECLARE"]) expect(json).not.toContain(secret);
    expectWithinSlackLimits(message, "message");
  });

  it("keeps long titles within limits", () => {
    const message = announcementMessage(incident({ title: "<".repeat(5_000) }), "<#C0INCIDENT>");
    expectWithinSlackLimits(message, "message");
    expectNoForeignMarkup(message);
  });
});

describe("ephemeral replies", () => {
  it("confirms a declaration with the planned channel, escaped", () => {
    const reply = declaredReply(incident({ title: "<!here> x" }), "inc-12-here-x");
    expect(reply.response_type).toBe("ephemeral");
    expect(reply.text).toContain("#inc-12-here-x");
    expect(reply.text).toContain("&lt;!here&gt; x");
    expect(reply.text).not.toContain("<!here>");
    expectWithinSlackLimits(reply, "message");
    const again = declaredReply(incident(), "inc-12-checkout", false);
    expect(again.text).toContain("was already declared");
    expectWithinSlackLimits(again, "message");
  });

  it("help explains the problem and escapes what the user typed", () => {
    const reply = helpReply({ type: "unknown_command", subcommand: "<!channel>" });
    expect(reply.response_type).toBe("ephemeral");
    expect(reply.text).toContain("/incident declare");
    expect(reply.text).toContain("&lt;!channel&gt;");
    expect(mrkdwnStrings(reply).join("\n")).not.toContain("<!channel>");
  });

  it("apologies are ephemeral", () => {
    expect(apologyFor("error").response_type).toBe("ephemeral");
    expect(apologyFor("slow").text).toMatch(/slow/);
  });
});
