import type { SlackListeners } from "../slack/listeners.ts";
import { viewAck } from "../slack/listeners.ts";
import type { RemediationFlows } from "./flows.ts";
import { CONFIRM_VIEW, REMEDIATION_ACTIONS, type ButtonValue } from "./views.ts";

function buttonValue(raw: string | undefined): ButtonValue | undefined {
  try {
    const value = JSON.parse(raw ?? "") as Partial<ButtonValue>;
    if (typeof value.incidentId !== "string" || typeof value.actionId !== "string") return undefined;
    return { incidentId: value.incidentId, actionId: value.actionId, ...(value.flagState === "on" || value.flagState === "off" ? { flagState: value.flagState } : {}) };
  } catch {
    return undefined;
  }
}

/** Remediation's buttons and its confirmation modal: translate the payload, call the flow, ack. */
export function registerRemediationListeners(app: SlackListeners, flows: Pick<RemediationFlows, "open" | "submit" | "markMonitoring">): void {
  app.action({ action_id: new RegExp(`^${REMEDIATION_ACTIONS.open.replace(".", "\\.")}:`), type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    const value = action.type === "button" ? buttonValue(action.value) : undefined;
    if (!value) return;
    await flows.open(value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.action({ action_id: REMEDIATION_ACTIONS.monitoring, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "button" || !action.value) return;
    await flows.markMonitoring(action.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.view(CONFIRM_VIEW, async ({ ack, body, view }) => {
    await ack(viewAck(await flows.submit(view.private_metadata, body.user.id, view.id)));
  });
}
