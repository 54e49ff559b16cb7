import type { SlackListeners } from "../slack/listeners.ts";
import { viewAck } from "../slack/listeners.ts";
import type { IncidentInteractions } from "./interactions.ts";
import { ACTIONS, VIEWS } from "./views.ts";

/** The incident header's buttons and menus (ack at once, then act), and the declare, update and resolve modals. */
export function registerIncidentListeners(app: SlackListeners, interactions: IncidentInteractions): void {
  app.action({ action_id: ACTIONS.takeCommand, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await interactions.takeCommand(action.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: ACTIONS.setSeverity, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "static_select" || !body.channel?.id) return;
    const incidentId = await interactions.incidentInChannel(body.channel.id);
    if (!incidentId) return;
    await interactions.setSeverity(incidentId, action.selected_option.value, { userId: body.user.id, channelId: body.channel.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: ACTIONS.postUpdate, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await interactions.openUpdate(action.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: ACTIONS.resolve, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await interactions.openResolve(action.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });

  // Modal submissions: answer with field errors, or close.
  app.view(VIEWS.declare, async ({ ack, body, view }) => {
    await ack(viewAck(await interactions.submitDeclare(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
  app.view(VIEWS.postUpdate, async ({ ack, body, view }) => {
    await ack(viewAck(await interactions.submitUpdate(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
  app.view(VIEWS.resolve, async ({ ack, body, view }) => {
    await ack(viewAck(await interactions.submitResolve(view.state.values, view.private_metadata, body.user.id, view.id)));
  });
}
