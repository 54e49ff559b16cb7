import { z } from "zod";
import { eventKind, type EventKinds } from "../events/catalogue.ts";
import { escapeMrkdwn } from "../slack/text.ts";

/**
 * The remediation capability's event types: the audit trail of every
 * execution (who confirmed what, where, and how it ended). Summaries are
 * plain words without secrets (providers scrub them); the person is the
 * event's actor.
 */
export type RemediationOutcomeStatus = "succeeded" | "failed" | "dry_run" | "approval_required" | "refused" | "unknown";

declare module "../events/models.ts" {
  interface TimelineEventData {
    /** Confirmed in the modal and queued: nothing called yet. */
    "remediation.requested": { executionId: string; actionId: string; label: string; kind: string; target: string; dryRun: boolean };
    /** How it ended; `unknown`: Firebreak stopped between starting the call and recording the answer. */
    "remediation.finished": {
      executionId: string;
      actionId: string;
      label: string;
      kind: string;
      target: string;
      status: RemediationOutcomeStatus;
      summary: string;
      link: string | null;
      durationMs: number | null;
      dryRun: boolean;
    };
  }
}

export const OUTCOME_WORDS: Readonly<Record<RemediationOutcomeStatus, string>> = {
  succeeded: "succeeded",
  failed: "failed",
  dry_run: "dry run (nothing called)",
  approval_required: "needs an approval",
  refused: "not run",
  unknown: "outcome unknown",
};

export type RemediationEventType = "remediation.requested" | "remediation.finished";

export const REMEDIATION_EVENTS: EventKinds<RemediationEventType> = {
  "remediation.requested": eventKind("remediation.requested", {
    schema: z.object({ executionId: z.string(), actionId: z.string(), label: z.string(), kind: z.string(), target: z.string(), dryRun: z.boolean() }),
    text: (data) => `${data.dryRun ? "Dry run of" : "Running"} ${data.label} (${data.kind}: ${data.target})`,
    notice: (data, context) => `:hammer_and_wrench: ${data.dryRun ? "Dry run of" : "Running"} *${escapeMrkdwn(data.label)}* (${escapeMrkdwn(data.kind)}: ${escapeMrkdwn(data.target)})${context.by}…`,
    postmortem: (data) => ({ label: `${data.dryRun ? "Dry run" : "Remediation started"}: ${data.label}`, detail: null }),
    hideable: false,
  }),
  "remediation.finished": eventKind("remediation.finished", {
    schema: z.object({
      executionId: z.string(),
      actionId: z.string(),
      label: z.string(),
      kind: z.string(),
      target: z.string(),
      status: z.enum(["succeeded", "failed", "dry_run", "approval_required", "refused", "unknown"]),
      summary: z.string(),
      link: z.string().nullable(),
      durationMs: z.number().int().nullable(),
      dryRun: z.boolean(),
    }),
    text: (data) => `${data.label}: ${OUTCOME_WORDS[data.status]}: ${data.summary}`,
    // The channel hears it from the remediation module's own message (with its follow-up buttons).
    postmortem: (data) => ({
      label: `Remediation ${OUTCOME_WORDS[data.status]}: ${data.label} (${data.kind}: ${data.target})`,
      detail: data.summary,
      ...(data.status === "succeeded" ? { diagram: { priority: 2, label: "Mitigation" } } : {}),
    }),
    hideable: false,
  }),
};
