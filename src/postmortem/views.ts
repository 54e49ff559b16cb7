import { context, modal, option } from "../slack/blocks.ts";
import { plain, safeText } from "../slack/text.ts";
import type { PostmortemDocument, PromptId } from "./models.ts";

/** The short message posted in the incident channel when a draft is (re)generated. */
export function postmortemSummaryMessage(doc: PostmortemDocument, incidentId?: string): { text: string; blocks: unknown[] } {
  const ref = doc.header.ref;
  const metrics = doc.metrics.map((metric) => `*${safeText(metric.label, 60)}*: ${safeText(metric.human, 60)}`);
  const findings = doc.review.findings.length;
  const lines = [
    `:memo: *Post-mortem draft for ${ref}* is ready: timeline by phase, metrics, alerts and the blameless prompts to fill in.`,
    metrics.join(" · "),
    findings > 0
      ? `:mag: The blameless review flagged ${findings} passage${findings === 1 ? "" : "s"} that may assign blame to a person; the draft suggests system-focused wording.`
      : ":white_check_mark: The blameless review flagged nothing.",
    `The full draft is the Markdown file below. Answers written with *Edit the post-mortem* are kept when it is regenerated (\`/incident postmortem\`). Export: \`GET /api/incidents/${doc.header.number}/postmortem.md\` (or \`.html\`, \`.json\`; add \`?audience=public\` for a shareable version).`,
  ];
  const blocks: unknown[] = lines.map((line) => ({ type: "section", text: { type: "mrkdwn", text: line.slice(0, 3_000) } }));
  if (incidentId) blocks.push(editButtonBlock(incidentId));
  return { text: `Post-mortem draft for ${ref} is ready`, blocks };
}

/** Action, view and field ids of the post-mortem's Slack surfaces. */
export const POSTMORTEM_ACTIONS = {
  edit: "postmortem.edit",
} as const;

/** callback_id of the "Create follow-up" message shortcut (manifest.yml). */
export const CREATE_FOLLOWUP_SHORTCUT = "postmortem.create_followup";

export const POSTMORTEM_VIEWS = {
  edit: "postmortem.edit",
  followUp: "postmortem.followup",
} as const;

/** The prompts people answer by hand; action items come from follow-ups. */
export const EDITABLE_PROMPTS = ["what-happened", "contributing-factors", "went-well", "went-poorly", "got-lucky"] as const satisfies readonly PromptId[];
export type EditablePrompt = (typeof EDITABLE_PROMPTS)[number];
export const ANSWER_MAX = 2_900;

export const FOLLOWUP_FIELDS = {
  title: { block: "followup_title", action: "followup_title" },
  owner: { block: "followup_owner", action: "followup_owner" },
  due: { block: "followup_due", action: "followup_due" },
  priority: { block: "followup_priority", action: "followup_priority" },
} as const;

export const FOLLOWUP_TITLE_MAX = 200;

/** The button under the summary that opens the editor. */
export function editButtonBlock(incidentId: string): unknown {
  return {
    type: "actions",
    elements: [{ type: "button", action_id: POSTMORTEM_ACTIONS.edit, text: { type: "plain_text", text: "Edit the post-mortem" }, value: incidentId }],
  };
}

export function postmortemEditModal(ref: string, incidentId: string, prompts: ReadonlyArray<{ id: EditablePrompt; title: string; questions: readonly string[] }>, answers: Partial<Record<EditablePrompt, string>>): unknown {
  const blocks: unknown[] = [
    context(`Your answers are kept when the draft is regenerated, and each edit is recorded. Write about systems and conditions, not people.`),
  ];
  for (const prompt of prompts) {
    const initial = answers[prompt.id];
    blocks.push({
      type: "input",
      block_id: `answer_${prompt.id}`,
      optional: true,
      label: { type: "plain_text", text: plain(prompt.title, 2_000) },
      hint: { type: "plain_text", text: plain(prompt.questions.join(" "), 2_000) },
      element: {
        type: "plain_text_input",
        action_id: "answer",
        multiline: true,
        max_length: ANSWER_MAX,
        ...(initial ? { initial_value: initial.slice(0, ANSWER_MAX) } : {}),
      },
    });
  }
  return modal(POSTMORTEM_VIEWS.edit, `Post-mortem ${ref}`, "Save and regenerate", blocks, JSON.stringify({ incidentId }));
}

export function answerBlockId(prompt: EditablePrompt): string {
  return `answer_${prompt}`;
}

const PRIORITIES = [
  { value: "HIGH", label: "High" },
  { value: "MEDIUM", label: "Medium" },
  { value: "LOW", label: "Low" },
] as const;

export function followUpModal(ref: string, origin: { incidentId: string; permalink: string | null; messageTs: string | null }, title: string, ownerId: string | null): unknown {
  const priorityOptions = PRIORITIES.map((priority) => option(priority.label, priority.value));
  return modal(
    POSTMORTEM_VIEWS.followUp,
    `Follow-up ${ref}`,
    "Create",
    [
      {
        type: "input",
        block_id: FOLLOWUP_FIELDS.title.block,
        label: { type: "plain_text", text: "Action item" },
        element: { type: "plain_text_input", action_id: FOLLOWUP_FIELDS.title.action, max_length: FOLLOWUP_TITLE_MAX, ...(title ? { initial_value: plain(title, FOLLOWUP_TITLE_MAX) } : {}) },
      },
      {
        type: "input",
        block_id: FOLLOWUP_FIELDS.owner.block,
        optional: true,
        label: { type: "plain_text", text: "Owner" },
        element: { type: "users_select", action_id: FOLLOWUP_FIELDS.owner.action, ...(ownerId ? { initial_user: ownerId } : {}) },
      },
      {
        type: "input",
        block_id: FOLLOWUP_FIELDS.due.block,
        optional: true,
        label: { type: "plain_text", text: "Due date" },
        element: { type: "datepicker", action_id: FOLLOWUP_FIELDS.due.action },
      },
      {
        type: "input",
        block_id: FOLLOWUP_FIELDS.priority.block,
        label: { type: "plain_text", text: "Priority" },
        element: { type: "static_select", action_id: FOLLOWUP_FIELDS.priority.action, options: priorityOptions, initial_option: priorityOptions[1] },
      },
    ],
    JSON.stringify(origin),
  );
}
