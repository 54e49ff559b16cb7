/**
 * What the reconciler checks, and what became of each drift it found. The
 * names are the `check` and `outcome` labels of
 * `firebreak_reconcile_drift_total` and the payload of `channel.drift`.
 */

/** Drift Firebreak repairs itself (it posted the header and added the bookmark). */
export const REPAIRABLE_CHECKS = ["header_missing", "header_outdated", "bookmark_missing", "bookmark_outdated"] as const;
/** Drift only a person can repair: a bot cannot unarchive a channel (`user_is_bot`), undelete one, or invite itself back. */
export const REPORTED_CHECKS = ["channel_missing", "channel_archived", "bot_not_member"] as const;
export const DRIFT_CHECKS = [...REPORTED_CHECKS, ...REPAIRABLE_CHECKS] as const;

export type RepairableCheck = (typeof REPAIRABLE_CHECKS)[number];
export type ReportedCheck = (typeof REPORTED_CHECKS)[number];
export type DriftCheck = (typeof DRIFT_CHECKS)[number];

/**
 * `repaired`: Firebreak put it right. `reported`: it could not (a person must act); recorded
 * once until the check passes again. `cleared`: a reported drift is gone (someone fixed it).
 */
export const DRIFT_OUTCOMES = ["repaired", "reported", "cleared"] as const;
export type DriftOutcome = (typeof DRIFT_OUTCOMES)[number];

/** One finding of a check, as recorded on the incident's timeline (a type, not an interface: stored as JSON). */
export type Drift = {
  check: DriftCheck;
  outcome: DriftOutcome;
  channelId: string;
  /** Slack's error code when a repair was refused; null otherwise. */
  detail: string | null;
};

/** The incident channel as Slack describes it (conversations.info). */
export type { ChannelInfo as ChannelState, ChannelBookmark, PostedMessage } from "../slack/api.ts";

/** The emoji of the incident bookmark (as incident/lifecycle-jobs.ts adds it). */
export const BOOKMARK_EMOJI = ":rotating_light:";
