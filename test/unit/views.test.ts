import { describe, expect, it } from "vitest";
import type { IncidentDetail } from "../../src/incident/models.ts";
import { declaredReply, helpReply, incidentHeader } from "../../src/incident/views.ts";
import { apologyFor } from "../../src/slack/views.ts";

const base: IncidentDetail = {
  scribeId: null,
  commsId: null,
  headerMessageTs: null,
  bookmarkId: null,
  announcementChannelId: null,
  announcementTs: null,
  id: "7d0c8f4e-8f0e-4a59-9a4f-1f0c2d3e4b5a",
  number: 12,
  title: "Checkout is failing",
  severity: "SEV2",
  status: "INVESTIGATING",
  private: false,
  commanderId: "U0COMMAND",
  declaredById: "U0DECLARE",
  declaredAt: new Date("2026-11-22T10:00:00Z"),
  channelId: null,
  channelName: null,
};

function allText(value: unknown): string {
  return JSON.stringify(value);
}

/** Every string Slack parses as mrkdwn: the fallback text and every mrkdwn text object. */
function mrkdwnStrings(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) mrkdwnStrings(item, out);
  else if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record.type === "mrkdwn" && typeof record.text === "string") out.push(record.text);
    for (const [key, inner] of Object.entries(record)) {
      if (key === "text" && typeof inner === "string" && record.type === undefined) out.push(inner);
      else mrkdwnStrings(inner, out);
    }
  }
  return out;
}

/** plain_text objects: Slack renders them literally (no mentions, no links). */
function plainStrings(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) plainStrings(item, out);
  else if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record.type === "plain_text" && typeof record.text === "string") out.push(record.text);
    for (const inner of Object.values(record)) plainStrings(inner, out);
  }
  return out;
}

describe("incident header", () => {
  it("shows number, title, severity, status, commander and declarer", () => {
    const message = incidentHeader(base);
    const text = allText(message.blocks);
    expect(text).toContain("INC-12: Checkout is failing");
    expect(text).toContain("SEV2");
    expect(text).toContain("Investigating");
    expect(text).toContain("<@U0COMMAND>");
    expect(text).toContain("<@U0DECLARE>");
    expect(message.text).toContain("INC-12");
  });

  it("cannot be made to ping or disguise links through the title", () => {
    const title = "<!channel> <@U999> <https://evil.example|docs>";
    const message = incidentHeader({ ...base, title });
    const parsed = mrkdwnStrings(message);
    expect(parsed.length).toBeGreaterThan(3);
    expect(parsed.some((text) => text.includes("&lt;!channel&gt;"))).toBe(true);
    for (const text of parsed) {
      expect(text).not.toContain("<!channel>");
      expect(text).not.toContain("<@U999>");
      expect(text).not.toContain("<https://evil.example|docs>");
    }
    // The raw title may only appear where Slack renders it literally.
    const raw = allText(message).split("<!channel>").length - 1;
    expect(raw).toBe(plainStrings(message).filter((text) => text.includes("<!channel>")).length);
  });

  it("respects Slack's header limit for long titles", () => {
    const message = incidentHeader({ ...base, title: "y".repeat(500) });
    const header = message.blocks[0] as { text: { text: string } };
    expect(header.text.text.length).toBeLessThanOrEqual(150);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
  });

  it("shows an unassigned commander rather than a broken mention", () => {
    expect(allText(incidentHeader({ ...base, commanderId: null }).blocks)).toContain("_unassigned_");
  });
});

describe("ephemeral replies", () => {
  it("confirms a declaration with the planned channel, escaped", () => {
    const reply = declaredReply({ ...base, title: "<!here> x" }, "inc-12-here-x");
    expect(reply.response_type).toBe("ephemeral");
    expect(reply.text).toContain("#inc-12-here-x");
    expect(reply.text).not.toContain("<!here>");
  });

  it("help explains the problem and escapes what the user typed", () => {
    const reply = helpReply({ type: "unknown_command", subcommand: "<!channel>" });
    expect(reply.response_type).toBe("ephemeral");
    expect(reply.text).toContain("/incident declare");
    expect(reply.text).not.toContain("<!channel>");
  });

  it("apologies are ephemeral", () => {
    expect(apologyFor("error").response_type).toBe("ephemeral");
    expect(apologyFor("slow").text).toMatch(/slow/);
  });
});
