import type { Prisma, PrismaClient } from "../db/client.ts";
import { TIMELINE_EVENTS } from "./events.ts";
import { editableField, isHideable, kindOf, type EventCatalogue } from "../events/catalogue.ts";
import type { Clock } from "../core/clock.ts";
import { EDIT_TIMELINE, type AccessGuard, type Authorizer, type IncidentRoles } from "../incident/authz.ts";
import { incidentRef } from "../incident/models.ts";
import { getIncidentDetail, lockIncident } from "../incident/service.ts";
import type { SlackApi } from "../slack/api.ts";
import { parsePrivateMetadata } from "../slack/blocks.ts";
import type { EphemeralResponse } from "../slack/views.ts";
import type { CapturedMessageData } from "./events.ts";
import { pageOfEvents } from "../events/store.ts";
import {
  ENTRY_TEXT_MAX,
  TIMELINE_FIELDS,
  TIMELINE_PAGE_SIZE,
  editEntryModal,
  timelinePageReply,
  type TimelineEntry,
} from "./views.ts";

/**
 * Reading and correcting the timeline: `/incident timeline [page]`, and the
 * per-entry menu (edit text, hide, show again) for the commander, the scribe
 * and incident admins. Every correction is itself recorded on the timeline
 * (who, when, before and after); nothing is ever deleted.
 */
export interface TimelineEditorDeps {
  prisma: PrismaClient;
  authorizer: Pick<Authorizer, "allows">;
  guard: AccessGuard;
  clock: Clock;
  /** Every event type's kind (read when handling). */
  events: () => EventCatalogue;
  slack: Pick<SlackApi, "openView">;
  /** Tells the person who clicked (an ephemeral message through the job queue). */
  tell(channelId: string, userId: string, text: string): Promise<void>;
}

export type EditAnswer = { close: true } | { errors: Record<string, string> };

type EventRow = { id: bigint; type: string; occurredAt: Date; text: string; actorId: string | null; hidden: boolean; editedAt: Date | null; removedAt: Date | null; data: Prisma.JsonValue };

function payload(data: Prisma.JsonValue): Record<string, unknown> {
  return data && typeof data === "object" && !Array.isArray(data) ? data : {};
}

/** The words a person wrote in an entry (what the edit modal shows and changes): its kind's editable field. */
export function writtenText(catalogue: EventCatalogue, row: { type: string; text: string; data: Prisma.JsonValue }): string {
  const field = editableField(catalogue, row.type);
  const value = field ? payload(row.data)[field] : undefined;
  return typeof value === "string" ? value : row.text;
}

function parseEventId(raw: unknown): bigint | undefined {
  return typeof raw === "string" && /^\d{1,18}$/.test(raw) ? BigInt(raw) : undefined;
}

export function createTimelineEditor(deps: TimelineEditorDeps) {
  function toEntry(row: EventRow): TimelineEntry {
    return {
      id: String(row.id),
      type: row.type,
      occurredAt: row.occurredAt,
      text: row.text,
      actorId: row.actorId,
      hidden: row.hidden,
      editedAt: row.editedAt,
      removedAt: row.removedAt,
      captured: row.type === "message.captured" ? (row.data as CapturedMessageData) : undefined,
      editable: editableField(deps.events(), row.type) !== undefined,
      hideable: isHideable(deps.events(), row.type),
    };
  }

  /** Commander, scribe or incident admin. */
  const isEditor = (incident: IncidentRoles, userId: string) => deps.authorizer.allows(userId, EDIT_TIMELINE, incident);

  async function setHidden(incidentId: string, eventId: bigint, userId: string, hidden: boolean): Promise<string> {
    return deps.prisma.$transaction(async (tx) => {
      const incident = await lockIncident(tx, incidentId);
      const row = await tx.timelineEvent.findFirst({ where: { id: eventId, incidentId } });
      if (!row) return "That timeline entry does not exist.";
      if (!isHideable(deps.events(), row.type)) return "That entry records a correction; it stays visible.";
      if (row.hidden === hidden) return hidden ? "That entry is already hidden." : "That entry is already visible.";
      await tx.timelineEvent.update({ where: { id: row.id }, data: { hidden } });
      await TIMELINE_EVENTS["timeline.entry_hidden"].record(tx, {
        incidentId,
        source: "SLACK",
        actorId: userId,
        data: { eventId: String(row.id), hidden },
        private: incident.private,
      });
      return hidden ? ":see_no_evil: Entry hidden from the timeline and the post-mortem (the edit is recorded)." : ":eyes: Entry shown again.";
    });
  }

  return {
    async page(incident: IncidentRoles & { id: string; number: number }, userId: string, page: number): Promise<EphemeralResponse> {
      const editor = await isEditor(incident, userId);
      const { rows, total, pages } = await pageOfEvents(deps.prisma, incident.id, { page, pageSize: TIMELINE_PAGE_SIZE, includeHidden: editor });
      return timelinePageReply(incidentRef(incident.number), { entries: rows.map(toEntry), page, pages, total }, editor);
    },

    /** The overflow menu on an entry: "edit:<id>", "hide:<id>" or "show:<id>". */
    async menu(value: string, clicker: { userId: string; channelId: string | undefined; triggerId: string }): Promise<void> {
      const [verb, rawId] = value.split(":");
      const eventId = parseEventId(rawId);
      if (!eventId || !clicker.channelId) return;
      const row = await deps.prisma.timelineEvent.findUnique({ where: { id: eventId } });
      const incident = row ? await getIncidentDetail(deps.prisma, row.incidentId) : null;
      if (!row || !incident) return deps.tell(clicker.channelId, clicker.userId, "That timeline entry does not exist.");
      if (incident.channelId !== clicker.channelId) return deps.tell(clicker.channelId, clicker.userId, "That entry belongs to another incident.");
      const action = verb === "edit" ? "edit the timeline" : "hide timeline entries";
      const refusal = await deps.guard.check(clicker.userId, action, EDIT_TIMELINE, incident);
      if (refusal) return deps.tell(clicker.channelId, clicker.userId, refusal);
      if (verb === "edit") {
        if (!editableField(deps.events(), row.type)) return deps.tell(clicker.channelId, clicker.userId, "Only what people wrote (notes, updates, captured messages, follow-ups) can be edited; hide other entries instead.");
        await deps.slack.openView({ triggerId: clicker.triggerId, view: editEntryModal(incidentRef(incident.number), { id: String(row.id), text: writtenText(deps.events(), row) }) });
        return;
      }
      if (verb === "hide" || verb === "show") return deps.tell(clicker.channelId, clicker.userId, await setHidden(incident.id, row.id, clicker.userId, verb === "hide"));
    },

    async submitEdit(values: Record<string, Record<string, { value?: string | null }>>, privateMetadata: string, userId: string): Promise<EditAnswer> {
      const eventId = parseEventId(parsePrivateMetadata(privateMetadata).eventId);
      const field = TIMELINE_FIELDS.text.block;
      if (!eventId) return { errors: { [field]: "This form is out of date; open it again from /incident timeline." } };
      const after = (values[TIMELINE_FIELDS.text.block]?.[TIMELINE_FIELDS.text.action]?.value ?? "").trim();
      if (after === "") return { errors: { [field]: "Write the entry's text (hide the entry to take it off the timeline)." } };
      if (after.length > ENTRY_TEXT_MAX) return { errors: { [field]: `Keep it to ${ENTRY_TEXT_MAX} characters.` } };
      const row = await deps.prisma.timelineEvent.findUnique({ where: { id: eventId } });
      const incident = row ? await getIncidentDetail(deps.prisma, row.incidentId) : null;
      if (!row || !incident) return { errors: { [field]: "That timeline entry no longer exists." } };
      const refusal = await deps.guard.check(userId, "edit the timeline", EDIT_TIMELINE, incident);
      if (refusal) return { errors: { [field]: refusal.slice(0, 150) } };
      const kind = kindOf(deps.events(), row.type);
      const key = kind?.editable;
      if (!kind || !key) return { errors: { [field]: "This kind of entry cannot be edited." } };
      await deps.prisma.$transaction(async (tx) => {
        await lockIncident(tx, incident.id);
        const current = await tx.timelineEvent.findUniqueOrThrow({ where: { id: row.id } });
        const before = writtenText(deps.events(), current);
        if (before === after) return;
        // The payload keeps what the person wrote; the stored text is rebuilt from it by the event's kind.
        const data = { ...payload(current.data), [key]: after };
        await tx.timelineEvent.update({ where: { id: current.id }, data: { text: kind.text(data as never), editedAt: deps.clock.now(), data } });
        await TIMELINE_EVENTS["timeline.entry_edited"].record(tx, {
          incidentId: incident.id,
          source: "SLACK",
          actorId: userId,
          data: { eventId: String(current.id), before, after },
          // The old text may be what someone wanted gone: keep it out of public exports.
          private: true,
        });
      });
      return { close: true };
    },
  };
}

export type TimelineEditor = ReturnType<typeof createTimelineEditor>;
