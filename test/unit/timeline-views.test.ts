import { describe, expect, it } from "vitest";
import { EVENT_CATALOGUE } from "../support/catalogue.ts";
import { editableField, isHideable } from "../../src/events/catalogue.ts";
import type { CapturedMessageData } from "../../src/timeline/events.ts";
import {
  TIMELINE_ACTIONS,
  TIMELINE_PAGE_SIZE,
  captureConfirmation,
  editEntryModal,
  entryLine,
  notAnIncidentChannelModal,
  timelinePageReply,
  type TimelineEntry,
} from "../../src/timeline/views.ts";
import { expectNoForeignMarkup, expectWithinSlackLimits, sectionTexts } from "./block-kit.ts";
import { HOSTILE, HOSTILE_FRAGMENTS } from "./incident-fixtures.ts";

const at = (minute: number) => new Date(Date.UTC(2026, 10, 22, 10, minute));
const unix = (date: Date) => Math.floor(date.getTime() / 1_000);

/** An entry as the editor builds it: may it be edited or hidden comes from its type's kind in the catalogue. */
function entry(overrides: Partial<TimelineEntry> = {}): TimelineEntry {
  const type = overrides.type ?? "note.added";
  const flags = { editable: editableField(EVENT_CATALOGUE, type) !== undefined, hideable: isHideable(EVENT_CATALOGUE, type) };
  return { id: "1", type, occurredAt: at(0), text: "Note", actorId: "U0ACTOR", hidden: false, editedAt: null, removedAt: null, captured: undefined, ...flags, ...overrides };
}

function captured(overrides: Partial<CapturedMessageData> = {}): CapturedMessageData {
  return { channelId: "C0INC", ts: "1700000000.000100", threadTs: null, authorId: "U0AUTHOR", text: "DB failover started", permalink: "https://firebreak-test.slack.com/archives/C0INC/p1700000000000100", via: ["pin"], ...overrides };
}

function overflowValues(reply: { blocks?: unknown[] }): string[][] {
  return (reply.blocks ?? []).flatMap((block) => {
    const accessory = (block as { accessory?: { type: string; action_id: string; options: Array<{ value: string }> } }).accessory;
    return accessory?.type === "overflow" && accessory.action_id === TIMELINE_ACTIONS.entryMenu ? [accessory.options.map((option) => option.value)] : [];
  });
}

describe("timeline entries", () => {
  it("dates each entry, names the actor, and defuses mentions typed into the text", () => {
    const line = entryLine(entry({ text: "Assigned <@U0SCRIBE> as scribe <!channel>", occurredAt: at(5) }));
    expect(line).toBe(`<!date^${unix(at(5))}^{date_short_pretty} at {time}|2026-11-22T10:05:00.000Z> Assigned @U0SCRIBE as scribe &lt;!channel&gt; · <@U0ACTOR>`);
    expect(entryLine(entry({ actorId: null, text: "Reminder sent" }))).not.toContain("<@");
  });

  it("shows a captured message with its author and a link; a removed one struck through with the reason", () => {
    expect(entryLine(entry({ type: "message.captured", text: "DB failover started", captured: captured() }))).toContain(
      "<@U0AUTHOR>: DB failover started <https://firebreak-test.slack.com/archives/C0INC/p1700000000000100|view message>",
    );
    const removed = entryLine(entry({ type: "message.captured", text: "oops", removedAt: at(9), captured: captured({ via: [], removedReason: "deleted" }) }));
    expect(removed).toContain("~oops~ _(removed: message deleted)_");
    const unpinned = entryLine(entry({ type: "message.captured", text: "x", removedAt: at(9), captured: captured({ via: [], removedReason: "unpinned" }) }));
    expect(unpinned).toContain("_(removed: unpinned)_");
  });

  it("never turns a stored permalink that is not https into a link, and marks edits and hidden entries", () => {
    const line = entryLine(entry({ type: "message.captured", text: "t", captured: captured({ permalink: "javascript:alert(1)" }), editedAt: at(3), hidden: true }));
    expect(line).not.toContain("javascript:");
    expect(line).toContain("_(edited)_ _(hidden)_");
  });
});

describe("/incident timeline pages", () => {
  const many = (count: number) => Array.from({ length: count }, (_, i) => entry({ id: String(i + 1), text: `entry ${i + 1}`, occurredAt: at(i) }));

  it("heads the page with the range and tells how to reach older and newer pages", () => {
    const page1 = timelinePageReply("INC-12", { entries: many(20).slice(0, 20), page: 1, pages: 3, total: 55 }, false);
    expect(sectionTexts(page1)[0]).toBe("*Timeline of INC-12*: entries 36–55 of 55");
    const footer = JSON.stringify(page1.blocks?.at(-1));
    expect(footer).toContain("Older: `/incident timeline 2`");
    expect(footer).not.toContain("Newer");
    const page3 = timelinePageReply("INC-12", { entries: many(15), page: 3, pages: 3, total: 55 }, false);
    expect(sectionTexts(page3)[0]).toBe("*Timeline of INC-12*: entries 1–15 of 55");
    expect(JSON.stringify(page3.blocks?.at(-1))).toContain("Newer: `/incident timeline 2`");
  });

  it("says when there is nothing, or no such page", () => {
    expect(timelinePageReply("INC-1", { entries: [], page: 1, pages: 1, total: 0 }, false).text).toBe("*Timeline of INC-1*: no entries yet");
    expect(timelinePageReply("INC-1", { entries: [], page: 9, pages: 2, total: 30 }, false).text).toContain("There is no page 9; the timeline has 2.");
  });

  it("gives editors a menu per entry: edit only for what people wrote, hide or show for the rest, nothing on the audit trail", () => {
    const reply = timelinePageReply(
      "INC-12",
      {
        entries: [
          entry({ id: "10", type: "note.added" }),
          entry({ id: "11", type: "severity.changed" }),
          entry({ id: "12", type: "message.captured", captured: captured(), hidden: true }),
          entry({ id: "13", type: "timeline.entry_edited" }),
          entry({ id: "14", type: "message.captured", captured: captured({ via: [], removedReason: "deleted" }), removedAt: at(1) }),
        ],
        page: 1,
        pages: 1,
        total: 5,
      },
      true,
    );
    expect(overflowValues(reply)).toEqual([["edit:10", "hide:10"], ["hide:11"], ["edit:12", "show:12"], ["hide:14"]]);
    expect(overflowValues(timelinePageReply("INC-12", { entries: [entry()], page: 1, pages: 1, total: 1 }, false))).toEqual([]);
  });

  it("keeps a full page of hostile 1,200-character entries within Slack's limits, for readers and editors, losing none", () => {
    for (const editor of [false, true]) {
      for (const unit of ["x", "<", HOSTILE]) {
        const entries = Array.from({ length: TIMELINE_PAGE_SIZE }, (_, i) => entry({ id: String(i), text: unit.repeat(1_200).slice(0, 1_200), occurredAt: at(i) }));
        const reply = timelinePageReply("INC-12", { entries, page: 1, pages: 1, total: TIMELINE_PAGE_SIZE }, editor);
        expectWithinSlackLimits(reply, "message");
        expectNoForeignMarkup(reply, HOSTILE_FRAGMENTS);
        const all = sectionTexts(reply).join("\n");
        for (const item of entries) expect(all).toContain(`<!date^${unix(item.occurredAt)}^`);
      }
    }
  });
});

describe("capture surfaces", () => {
  it("the edit modal carries the entry id and the current text, within modal limits", () => {
    const view = editEntryModal("INC-12", { id: "42", text: "x".repeat(5_000) }) as { private_metadata: string };
    expect(JSON.parse(view.private_metadata)).toEqual({ eventId: "42" });
    expectWithinSlackLimits(view, "modal");
  });

  it("explains the shortcut outside incident channels with a modal that has nothing to submit", () => {
    const view = notAnIncidentChannelModal("Add to timeline") as { submit?: unknown };
    expect(view.submit).toBeUndefined();
    expectWithinSlackLimits(view, "modal");
  });

  it("confirms a capture with a link only when the permalink is https", () => {
    expect(captureConfirmation("INC-3", "https://x.slack.com/archives/C1/p1").text).toBe(":pushpin: Added to the timeline of INC-3 (<https://x.slack.com/archives/C1/p1|the message>).");
    expect(captureConfirmation("INC-3", null).text).toBe(":pushpin: Added to the timeline of INC-3.");
  });
});
