import { chunk, context, modal, section } from "../slack/blocks.ts";
import { plain, safeText } from "../slack/text.ts";
import { ephemeral, type EphemeralResponse } from "../slack/views.ts";
import { OUTCOME_WORDS, type RemediationOutcomeStatus } from "./events.ts";
import type { Preview, RemediationKind } from "./ports.ts";

/**
 * Remediation's Block Kit, built by pure functions from plain values. Labels,
 * targets and provider messages are outside text: escaped (safeText) in
 * mrkdwn, cut to Slack's limits.
 */

export const REMEDIATION_ACTIONS = {
  /** A button that opens the confirmation of one action; value: ButtonValue as JSON. */
  open: "remediation.open",
  /** "Mark Monitoring" after a success; value: the incident id. */
  monitoring: "remediation.monitoring",
} as const;

export const CONFIRM_VIEW = "remediation.confirm";

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

/** What a remediation button carries (Slack gives a button value up to 2,000 characters). */
export interface ButtonValue {
  incidentId: string;
  actionId: string;
  /** For a flag: the state to set when it is not the action's own (the opposite change). */
  flagState?: "on" | "off";
}

export const KIND_NAMES: Readonly<Record<RemediationKind, string>> = {
  kubernetes: "Kubernetes rollback",
  argocd: "Argo CD rollback",
  "github-actions": "GitHub Actions workflow",
  unleash: "Unleash feature flag",
  launchdarkly: "LaunchDarkly feature flag",
  flagsmith: "Flagsmith feature flag",
  webhook: "Webhook",
};

function button(text: string, value: ButtonValue, index: number, style?: "primary" | "danger") {
  return {
    type: "button",
    // Action ids must be unique within a block; the listener matches the prefix.
    action_id: `${REMEDIATION_ACTIONS.open}:${index}`,
    text: { type: "plain_text", text: plain(text, 75) },
    value: JSON.stringify(value),
    ...(style ? { style } : {}),
  };
}

/** The actions of an incident's services as buttons (the header, `/incident mitigate`): at most 25 per actions block. */
export function actionButtons(incidentId: string, actions: ReadonlyArray<{ id: string; label: string }>): unknown[] {
  if (actions.length === 0) return [];
  return [
    context(":hammer_and_wrench: *Mitigate*: each button asks for confirmation first"),
    ...chunk(actions, 25).map((group, g) => ({
      type: "actions",
      block_id: `remediation_actions_${g}`,
      elements: group.map((action, i) => button(action.label, { incidentId, actionId: action.id }, g * 25 + i)),
    })),
  ];
}

export function mitigateReply(incidentRef: string, incidentId: string, actions: ReadonlyArray<{ id: string; label: string }>): EphemeralResponse {
  if (actions.length === 0) {
    return ephemeral(`No remediation is configured for the services of ${incidentRef}. Add \`actions\` to a service in Firebreak's configuration (see the README's *Remediation*).`);
  }
  return ephemeral(`Remediation for ${incidentRef}`, [section(`*Mitigate ${incidentRef}*: pick an action; you confirm before anything runs.`), ...actionButtons(incidentId, actions).slice(1)]);
}

export interface ConfirmationFacts {
  incidentRef: string;
  label: string;
  kind: RemediationKind;
  dryRun: boolean;
  /** Undefined while it is being read. */
  preview: Preview | undefined;
  /** The environment variables with the credentials (never their values). */
  credentials: readonly string[];
}

/** The confirmation modal: exactly what will happen where. Submitting it runs the action once. */
export function confirmModal(facts: ConfirmationFacts, metadata: ButtonValue): unknown {
  const lines = [
    `*${safeText(facts.label, 200)}* on ${facts.incidentRef}`,
    `*Kind*: ${KIND_NAMES[facts.kind]}`,
    ...(facts.preview
      ? [
          `*Target*: ${safeText(facts.preview.target, 500)}`,
          `*What it does*: ${safeText(facts.preview.effect, 1_000)}`,
          `*Now*: ${facts.preview.current ? safeText(facts.preview.current, 500) : `could not be read${facts.preview.problem ? ` (${safeText(facts.preview.problem, 500)})` : ""}`}`,
        ]
      : [":hourglass_flowing_sand: Reading the current state…"]),
    `*Credentials*: ${facts.credentials.length > 0 ? facts.credentials.map((name) => `\`${safeText(name, 100)}\``).join(", ") : "in-cluster service account"}`,
  ];
  const blocks = [
    section(lines.join("\n")),
    section(facts.dryRun ? ":test_tube: *Dry run*: Firebreak will show what it would call, and call nothing." : ":warning: This changes production. It runs once, when you press *Run*."),
  ];
  return modal(CONFIRM_VIEW, facts.dryRun ? "Dry run" : "Confirm remediation", facts.dryRun ? "Dry run" : "Run", blocks, JSON.stringify(metadata));
}

const OUTCOME_EMOJI: Readonly<Record<RemediationOutcomeStatus, string>> = {
  succeeded: ":white_check_mark:",
  failed: ":x:",
  dry_run: ":test_tube:",
  approval_required: ":lock:",
  refused: ":no_entry_sign:",
  unknown: ":grey_question:",
};

export interface ResultFacts {
  incidentId: string;
  actionId: string;
  label: string;
  status: RemediationOutcomeStatus;
  summary: string;
  link: string | null;
  confirmedBy: string;
  durationMs: number | null;
  /** A flag action: the state the execution set, when it succeeded (offers the opposite). */
  flag: { setTo: "on" | "off" } | undefined;
  /** The incident is not yet Monitoring or Resolved. */
  canMarkMonitoring: boolean;
}

/** The result in the channel, with what to do next: retry, the opposite change, mark Monitoring. */
export function resultMessage(facts: ResultFacts): SlackMessage {
  const took = facts.durationMs !== null ? ` in ${(facts.durationMs / 1_000).toFixed(1)} s` : "";
  const head = `${OUTCOME_EMOJI[facts.status]} *${safeText(facts.label, 200)}* ${OUTCOME_WORDS[facts.status]}${took} (confirmed by <@${facts.confirmedBy}>)`;
  const body = safeText(facts.summary, 2_500);
  const link = facts.link && /^https?:\/\//.test(facts.link) ? `\n<${facts.link}|Open in the provider>` : "";
  const buttons: unknown[] = [];
  if (facts.status === "failed" || facts.status === "unknown") buttons.push(button("Retry (asks again)", { incidentId: facts.incidentId, actionId: facts.actionId }, 0));
  if (facts.status === "succeeded" && facts.flag) {
    const opposite = facts.flag.setTo === "off" ? "on" : "off";
    buttons.push(button(`${opposite === "on" ? "Turn back on" : "Turn back off"}: ${facts.label}`, { incidentId: facts.incidentId, actionId: facts.actionId, flagState: opposite }, 1));
  }
  if (facts.status === "succeeded" && facts.canMarkMonitoring) {
    buttons.push({ type: "button", action_id: REMEDIATION_ACTIONS.monitoring, text: { type: "plain_text", text: "Mark Monitoring" }, style: "primary", value: facts.incidentId });
  }
  const blocks: unknown[] = [section(`${head}\n${body}${link}`)];
  if (buttons.length > 0) blocks.push({ type: "actions", block_id: "remediation_next", elements: buttons });
  return { text: `${facts.label}: ${OUTCOME_WORDS[facts.status]}`.slice(0, 300), blocks };
}
