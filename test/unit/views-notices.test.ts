import { describe, expect, it } from "vitest";
import { MAX_TEXT_LENGTH } from "../../src/incident/commands.ts";
import { EVENT_CATALOGUE } from "../support/catalogue.ts";
import { noticeRenderer, type NoticeEvent } from "../../src/incident/views.ts";

const eventNotice = noticeRenderer(EVENT_CATALOGUE);
import type { TimelineEventData, TimelineEventType } from "../../src/events/models.ts";
import { expectNoForeignMarkup, expectWithinSlackLimits, markupProblems, sectionTexts, slackLimitViolations } from "./block-kit.ts";
import { HOSTILE, HOSTILE_ESCAPED, HOSTILE_FRAGMENTS, incident } from "./incident-fixtures.ts";

const AT = new Date("2026-11-22T10:30:00Z");
const WHERE = ["channel", "announcement"] as const;

function event<T extends TimelineEventType>(type: T, data: TimelineEventData[T], actorId: string | null = "U0ACTOR"): NoticeEvent {
  return { type, data, actorId, occurredAt: AT };
}

/** The one section a notice consists of. */
function noticeText(notice: { blocks: unknown[] }): string {
  expect(notice.blocks).toHaveLength(1);
  const [text] = sectionTexts(notice);
  expect(text).toBeDefined();
  return text ?? "";
}

/** Events that quote what a person typed, built around `message`. */
const QUOTING: ReadonlyArray<[string, (message: string) => NoticeEvent]> = [
  ["status.changed", (message) => event("status.changed", { from: "INVESTIGATING", to: "IDENTIFIED", message })],
  ["update.posted", (message) => event("update.posted", { message, status: "INVESTIGATING" })],
  ["incident.resolved", (summary) => event("incident.resolved", { summary })],
];

describe("event notices", () => {
  const open = incident();

  /** [event, text in the incident channel]; under the announcement the same text follows "*INC-12* · ". */
  const cases: ReadonlyArray<[string, NoticeEvent, string]> = [
    ["status change with a message", event("status.changed", { from: "INVESTIGATING", to: "IDENTIFIED", message: "Bad deploy" }), ":arrows_counterclockwise: Status is now *Identified* by <@U0ACTOR>\n>Bad deploy"],
    ["status change without a message", event("status.changed", { from: "IDENTIFIED", to: "MONITORING", message: null }), ":arrows_counterclockwise: Status is now *Monitoring* by <@U0ACTOR>"],
    ["status change to an unknown status", event("status.changed", { from: "IDENTIFIED", to: "BOGUS", message: null }), ":arrows_counterclockwise: Status is now *?* by <@U0ACTOR>"],
    ["status update", event("update.posted", { message: "Rolled back\nerrors falling", status: "INVESTIGATING" }), ":loudspeaker: *Update* (Investigating) by <@U0ACTOR>\n>Rolled back\n>errors falling"],
    ["severity change", event("severity.changed", { from: "SEV3", to: "SEV2" }), ":large_orange_circle: Severity changed from SEV3 to *SEV2* by <@U0ACTOR>"],
    ["new commander", event("commander.assigned", { from: null, to: "U0NEWCMD" }), ":firefighter: <@U0NEWCMD> is now the commander by <@U0ACTOR>"],
    ["acknowledgement", event("incident.acknowledged", { by: "U0ACKER" }, "U0ACKER"), ":raised_hand: <@U0ACKER> acknowledged and took command"],
    ["new scribe", event("role.assigned", { role: "SCRIBE", from: null, to: "U0SCRIBE" }), ":busts_in_silhouette: <@U0SCRIBE> is now the scribe by <@U0ACTOR>"],
    ["new comms lead", event("role.assigned", { role: "COMMS", from: "U0OLD", to: "U0COMMS" }), ":busts_in_silhouette: <@U0COMMS> is now the comms lead by <@U0ACTOR>"],
    ["resolution with a summary", event("incident.resolved", { summary: "Rolled back the cart deploy" }), ":white_check_mark: *Resolved* by <@U0ACTOR>\n>Rolled back the cart deploy"],
    ["resolution without a summary", event("incident.resolved", { summary: null }), ":white_check_mark: *Resolved* by <@U0ACTOR>"],
    ["reopening", event("incident.reopened", { previousResolvedAt: "2026-11-22T11:00:00.000Z" }), ":leftwards_arrow_with_hook: *Reopened* by <@U0ACTOR>; status is Investigating"],
    ["system event without an actor", event("incident.resolved", { summary: null }, null), ":white_check_mark: *Resolved*"],
  ];

  for (const where of WHERE) {
    describe(`in the ${where === "channel" ? "incident channel" : "announcement thread"}`, () => {
      const prefix = where === "announcement" ? "*INC-12* · " : "";

      it.each(cases)("renders a %s", (_name, notice, expected) => {
        const message = eventNotice(notice, open, where);
        expect(noticeText(message)).toBe(`${prefix}${expected}`);
        expect(message.text.length).toBeGreaterThan(0);
        expect(message.text).not.toContain("*");
        expectWithinSlackLimits(message, "message");
      });

      it("never turns a malformed user id into a mention", () => {
        const message = eventNotice(event("commander.assigned", { from: null, to: "<!channel>" }, "not-a-user"), open, where);
        expect(noticeText(message)).toBe(`${prefix}:firefighter: _unassigned_ is now the commander by _unassigned_`);
      });

      it.each(QUOTING)("escapes and quotes a hostile %s message", (_type, build) => {
        const message = eventNotice(build(`${HOSTILE}\n${HOSTILE}`), open, where);
        const text = noticeText(message);
        expect(text).toContain(`\n>${HOSTILE_ESCAPED}\n>${HOSTILE_ESCAPED}`);
        expect(text.endsWith(HOSTILE_ESCAPED)).toBe(true);
        expectNoForeignMarkup(message, HOSTILE_FRAGMENTS);
        expectWithinSlackLimits(message, "message");
      });

      it.each(QUOTING)("keeps a %s section within 3000 characters for the longest message", (_type, build) => {
        for (const unit of ["x", "<", "&", "a\n", "🔥", "<\n", "🔥\n"]) {
          const long = unit.repeat(Math.ceil(MAX_TEXT_LENGTH / unit.length)).slice(0, MAX_TEXT_LENGTH);
          const message = eventNotice(build(long), open, where);
          const text = noticeText(message);
          expect(text.length, `unit ${JSON.stringify(unit)}`).toBeLessThanOrEqual(3_000);
          expect(text.length, `unit ${JSON.stringify(unit)}`).toBeGreaterThan(2_500);
          expect(text.endsWith("…"), `unit ${JSON.stringify(unit)}`).toBe(true);
        }
      });
    });
  }

  // Quoting adds a ">" per line after safeText has fitted the message, so section() cuts again,
  // with a plain slice: it can split an emoji (a lone surrogate is not valid UTF-8) or an entity.
  it("cuts a long many-line message without splitting an emoji or an escape", () => {
    const problems: string[] = [];
    for (const where of WHERE) {
      for (const [type, build] of QUOTING) {
        for (const unit of ["🔥\n", "<\n", "&\n"]) {
          for (let shift = 0; shift < 6; shift++) {
            const long = ("a".repeat(shift) + unit.repeat(MAX_TEXT_LENGTH)).slice(0, MAX_TEXT_LENGTH);
            const message = eventNotice(build(long), open, where);
            const label = `${where} ${type} unit ${JSON.stringify(unit)} shift ${shift}`;
            for (const problem of [...slackLimitViolations(message, "message"), ...markupProblems(noticeText(message))]) problems.push(`${label}: ${problem}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("reminds the commander in the channel, and mentions the escalation from the second reminder", () => {
    const first = noticeText(eventNotice(event("reminder.sent", { misses: 1, escalated: false }, null), open, "channel"));
    expect(first).toMatch(/^:alarm_clock: <@U0COMMAND>, it's time for a status update on INC-12\. Use `\/incident update .+` or the \*Post update\* button\.$/);
    expect(first).not.toContain("escalated");
    const second = noticeText(eventNotice(event("reminder.sent", { misses: 2, escalated: true }, null), open, "channel"));
    expect(second).toContain("on INC-12 (reminder 2; escalated to the announcement channel).");
    const unassigned = noticeText(eventNotice(event("reminder.sent", { misses: 1, escalated: false }, null), incident({ commanderId: null }), "channel"));
    expect(unassigned).toMatch(/^:alarm_clock: _unassigned_, it's time/);
  });

  it("tells stakeholders how many reminders went unanswered", () => {
    const notice = eventNotice(event("reminder.sent", { misses: 3, escalated: true }, null), open, "announcement");
    expect(noticeText(notice)).toBe("*INC-12* · :warning: No status update from <@U0COMMAND> for a while (3 reminders).");
    expectWithinSlackLimits(notice, "message");
  });

  // The reminder quotes the usage `/incident update <message>`; unescaped, Slack reads <message> as a link.
  it("writes the usage hint in a reminder as text, not as a link", () => {
    const text = noticeText(eventNotice(event("reminder.sent", { misses: 1, escalated: false }, null), open, "channel"));
    expect(markupProblems(text)).toEqual([]);
    expect(text).toContain("`/incident update &lt;message&gt;`");
  });

  it.each([
    event("incident.declared", { title: "Checkout is failing", severity: "SEV2", private: false }),
    event("channel.created", { channelId: "C0INCIDENT", channelName: "inc-12-checkout" }),
    event("participant.invited", { users: ["U0A", "U0B"] }),
    event("note.added", { text: "Paged the DBA" }),
    event("action.denied", { action: "resolve", reason: "not the commander" }),
    event("announcement.posted", { channelId: "C0ANNOUNCE", ts: "1.2" }),
  ])("names an event without a notice of its own ($type) in both places", (notice) => {
    expect(noticeText(eventNotice(notice, open, "channel"))).toBe(`${notice.type} by <@U0ACTOR>`);
    expect(noticeText(eventNotice(notice, open, "announcement"))).toBe(`*INC-12* · ${notice.type} by <@U0ACTOR>`);
  });

  it("escapes an unknown event type", () => {
    const notice = eventNotice({ type: "<!here>", actorId: null, data: null, occurredAt: AT }, open, "channel");
    expect(noticeText(notice)).toBe("&lt;!here&gt;");
    expectNoForeignMarkup(notice, ["<!here>"]);
  });

  // The fallback (notification) text is built from the escaped section text; escaping it again
  // would show "&lt;" and "&lt;@U0ACTOR&gt;" literally in notifications.
  it("escapes the fallback text exactly once", () => {
    const notice = eventNotice(event("update.posted", { message: "<!channel> & <@U0EVIL99>", status: "INVESTIGATING" }), open, "channel");
    expect(notice.text).toBe(":loudspeaker: Update (Investigating) by <@U0ACTOR>\n>&lt;!channel&gt; &amp; &lt;@U0EVIL99&gt;");
    expect(notice.text).not.toMatch(/&amp;(?:lt|gt|amp);/);
  });

  it("keeps the fallback text short", () => {
    const notice = eventNotice(event("update.posted", { message: "<".repeat(MAX_TEXT_LENGTH), status: "INVESTIGATING" }), open, "channel");
    expect(notice.text.length).toBeLessThanOrEqual(300);
    expect(notice.text.endsWith("…")).toBe(true);
  });
});
