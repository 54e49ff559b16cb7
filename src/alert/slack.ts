import type { SlackListeners } from "../slack/listeners.ts";
import type { AlertFlows } from "./flows.ts";
import { ALERT_ACTIONS } from "./views.ts";

/** The triage channel's "Declare incident" button on an alert group. */
export function registerAlertListeners(app: SlackListeners, alerts: Pick<AlertFlows, "declareFromGroup">): void {
  app.action({ action_id: ALERT_ACTIONS.declareFromGroup, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    const origin = body.channel?.id && body.message?.ts ? { channelId: body.channel.id, messageTs: body.message.ts } : undefined;
    await alerts.declareFromGroup(action.value, body.user.id, origin);
  });
}
