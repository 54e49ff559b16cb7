import type { SlackListeners } from "../slack/listeners.ts";
import { viewAck } from "../slack/listeners.ts";
import type { PostmortemInteractions } from "./interactions.ts";
import { CREATE_FOLLOWUP_SHORTCUT, POSTMORTEM_ACTIONS, POSTMORTEM_VIEWS } from "./views.ts";

/** The "Create follow-up" message shortcut, the post-mortem editor button, and their modals. */
export function registerPostmortemListeners(
  app: SlackListeners,
  postmortem: Pick<PostmortemInteractions, "openEditor" | "submitEditor" | "openFollowUp" | "submitFollowUp">,
): void {
  app.shortcut({ callback_id: CREATE_FOLLOWUP_SHORTCUT, type: "message_action" }, async ({ ack, shortcut }) => {
    await ack();
    await postmortem.openFollowUp({ channelId: shortcut.channel.id, messageTs: shortcut.message.ts, triggerId: shortcut.trigger_id, text: shortcut.message.text ?? "", authorId: shortcut.message.user ?? null });
  });
  app.action({ action_id: POSTMORTEM_ACTIONS.edit, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await postmortem.openEditor(action.value, body.trigger_id);
  });
  app.view(POSTMORTEM_VIEWS.edit, async ({ ack, body, view }) => {
    await ack(viewAck(await postmortem.submitEditor(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
  app.view(POSTMORTEM_VIEWS.followUp, async ({ ack, body, view }) => {
    await ack(viewAck(await postmortem.submitFollowUp(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
}
