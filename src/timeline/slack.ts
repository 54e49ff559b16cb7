import type { SlackListeners } from "../slack/listeners.ts";
import { eventKey, viewAck } from "../slack/listeners.ts";
import type { TimelineCapture } from "./capture.ts";
import type { TimelineEditor } from "./editing.ts";
import { ADD_TO_TIMELINE_SHORTCUT, TIMELINE_ACTIONS, TIMELINE_VIEWS } from "./views.ts";

/**
 * Timeline capture (pins, the capture reaction, edited and deleted messages, the
 * "Add to incident timeline" shortcut) and the per-entry menu of `/incident timeline`.
 * Events are answered once the change is queued (see slack/receiver.ts).
 */
export function registerTimelineListeners(
  app: SlackListeners,
  capture: Pick<TimelineCapture, "pinAdded" | "pinRemoved" | "reactionAdded" | "reactionRemoved" | "messageDeleted" | "messageChanged" | "shortcut">,
  timeline: Pick<TimelineEditor, "menu" | "submitEdit">,
): void {
  app.event("pin_added", async ({ event, body }) => {
    const message = event.item.message;
    if (event.item.type !== "message" || !message?.ts) return;
    await capture.pinAdded(
      { channelId: event.channel_id, ts: message.ts, userId: event.user, eventKey: eventKey(body, `pin:${event.channel_id}:${message.ts}:${event.event_ts}`) },
      { userId: message.user || null, text: message.text ?? "", threadTs: null },
    );
  });
  app.event("pin_removed", async ({ event, body }) => {
    const ts = event.item.message?.ts;
    if (event.item.type !== "message" || !ts) return;
    await capture.pinRemoved({ channelId: event.channel_id, ts, userId: event.user, eventKey: eventKey(body, `unpin:${event.channel_id}:${ts}:${event.event_ts}`) });
  });
  app.event("reaction_added", async ({ event, body }) => {
    if (event.item.type !== "message") return;
    const input = { channelId: event.item.channel, ts: event.item.ts, userId: event.user, reaction: event.reaction };
    await capture.reactionAdded({ ...input, eventKey: eventKey(body, `react:${event.item.channel}:${event.item.ts}:${event.event_ts}`) });
  });
  app.event("reaction_removed", async ({ event, body }) => {
    if (event.item.type !== "message") return;
    const input = { channelId: event.item.channel, ts: event.item.ts, userId: event.user, reaction: event.reaction };
    await capture.reactionRemoved({ ...input, eventKey: eventKey(body, `unreact:${event.item.channel}:${event.item.ts}:${event.event_ts}`) });
  });
  app.event("message", async ({ event, body }) => {
    if (event.subtype === "message_deleted") {
      await capture.messageDeleted({ channelId: event.channel, ts: event.deleted_ts, eventKey: eventKey(body, `delete:${event.channel}:${event.deleted_ts}`) });
    } else if (event.subtype === "message_changed") {
      const edited = event.message as { ts?: unknown; text?: unknown; user?: unknown };
      if (typeof edited.ts !== "string") return;
      await capture.messageChanged({
        channelId: event.channel,
        ts: edited.ts,
        text: typeof edited.text === "string" ? edited.text : "",
        userId: typeof edited.user === "string" ? edited.user : null,
        eventKey: eventKey(body, `edit:${event.channel}:${edited.ts}:${event.event_ts}`),
      });
    }
  });

  // Queued durably before Slack is answered, so a failure shows the person an error instead of silently losing the capture.
  app.shortcut({ callback_id: ADD_TO_TIMELINE_SHORTCUT, type: "message_action" }, async ({ ack, shortcut }) => {
    const message = { userId: shortcut.message.user ?? null, text: shortcut.message.text ?? "", threadTs: typeof shortcut.message.thread_ts === "string" ? shortcut.message.thread_ts : null };
    await capture.shortcut({ channelId: shortcut.channel.id, ts: shortcut.message.ts, userId: shortcut.user.id, eventKey: `shortcut:${shortcut.trigger_id}`, triggerId: shortcut.trigger_id, message });
    await ack();
  });

  app.action({ action_id: TIMELINE_ACTIONS.entryMenu, type: "block_actions" }, async ({ ack, body, action }) => {
    await ack();
    if (action.type !== "overflow") return;
    await timeline.menu(action.selected_option.value, { userId: body.user.id, channelId: body.channel?.id, triggerId: body.trigger_id });
  });
  app.view(TIMELINE_VIEWS.editEntry, async ({ ack, body, view }) => {
    await ack(viewAck(await timeline.submitEdit(view.state.values, view.private_metadata, body.user.id)));
  });
}
