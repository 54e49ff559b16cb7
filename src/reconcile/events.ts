import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";
import { DRIFT_CHECKS, DRIFT_OUTCOMES, type Drift, type DriftCheck } from "./models.ts";

/** The reconciler's timeline event type: drift between the database and Slack, repaired, reported or cleared. */
declare module "../events/models.ts" {
  interface TimelineEventData {
    "channel.drift": Drift;
  }
}

export type ReconcileEventType = "channel.drift";

/** What each drift is, in words (plain text: stored text holds no Slack markup). */
const WHAT: Readonly<Record<DriftCheck, string>> = {
  channel_missing: "Slack no longer knows the incident channel (deleted, or Firebreak was removed from a private channel)",
  channel_archived: "The incident channel is archived while the incident is open",
  bot_not_member: "Firebreak is no longer a member of the incident channel",
  header_missing: "The incident header was missing from the channel",
  header_outdated: "The incident header in the channel was out of date",
  bookmark_missing: "The incident bookmark was missing from the channel",
  bookmark_outdated: "The incident bookmark was out of date",
};

/** What a person can do about drift Firebreak cannot repair. */
const ASK: Readonly<Record<DriftCheck, string>> = {
  channel_missing: "declare a new incident or continue elsewhere; Firebreak cannot bring the channel back",
  channel_archived: "unarchive it in Slack (a bot cannot)",
  bot_not_member: "invite Firebreak back to the channel",
  header_missing: "Firebreak could not post it again",
  header_outdated: "Firebreak could not update it",
  bookmark_missing: "Firebreak could not add it again",
  bookmark_outdated: "Firebreak could not update it",
};

const REPAIRED: Readonly<Record<DriftCheck, string>> = {
  channel_missing: "",
  channel_archived: "",
  bot_not_member: "",
  header_missing: "posted it again",
  header_outdated: "updated it",
  bookmark_missing: "added it again",
  bookmark_outdated: "updated it",
};

const CLEARED: Readonly<Record<DriftCheck, string>> = {
  channel_missing: "Slack knows the incident channel again",
  channel_archived: "The incident channel is no longer archived",
  bot_not_member: "Firebreak is a member of the incident channel again",
  header_missing: "The incident header is back",
  header_outdated: "The incident header is current again",
  bookmark_missing: "The incident bookmark is back",
  bookmark_outdated: "The incident bookmark is current again",
};

export function driftText(data: Drift): string {
  if (data.outcome === "cleared") return CLEARED[data.check];
  if (data.outcome === "repaired") return `${WHAT[data.check]}; Firebreak ${REPAIRED[data.check]}`;
  return `${WHAT[data.check]}: ${ASK[data.check]}${data.detail ? ` (Slack: ${data.detail})` : ""}`;
}

export const RECONCILE_EVENTS: EventKinds<ReconcileEventType> = {
  "channel.drift": eventKind("channel.drift", {
    schema: z.object({
      check: z.enum(DRIFT_CHECKS),
      outcome: z.enum(DRIFT_OUTCOMES),
      channelId: z.string(),
      detail: z.string().nullable(),
    }),
    text: driftText,
    // About Firebreak's own bookkeeping in Slack, not about the incident: no notice, not in the post-mortem.
    hideable: true,
  }),
};
