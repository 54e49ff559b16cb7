import { USAGE } from "./commands.ts";

/** `/incident help`, and the README's command table, come from this list. */
export const COMMAND_HELP_ENTRIES: ReadonlyArray<{ usage: string; description: string; where: "anywhere" | "incident channel" }> = [
  { usage: USAGE.declare, description: "Declare an incident; without a title, opens a form. e.g. `/incident declare sev2 Checkout is failing`", where: "anywhere" },
  { usage: USAGE.list, description: "Open incidents, newest first (`all` includes resolved ones)", where: "anywhere" },
  { usage: USAGE.alerts, description: "Recent Alertmanager alert groups: state, route and linked incident", where: "anywhere" },
  { usage: USAGE.show, description: "One incident's summary, e.g. `/incident show 42`", where: "anywhere" },
  { usage: USAGE.status, description: "Change the status, with an optional update, e.g. `/incident status identified Bad deploy of cart`", where: "incident channel" },
  { usage: USAGE.update, description: "Post a status update here and under the announcement", where: "incident channel" },
  { usage: USAGE.sev, description: "Change the severity (commander or admin)", where: "incident channel" },
  { usage: USAGE.commander, description: "Hand over command (commander or admin); `me` to take it", where: "incident channel" },
  { usage: USAGE.role, description: "Assign the scribe or comms lead (commander or admin)", where: "incident channel" },
  { usage: USAGE.invite, description: "Invite people to the incident channel", where: "incident channel" },
  { usage: USAGE.note, description: "Add a note to the timeline", where: "incident channel" },
  { usage: USAGE.resolve, description: "Resolve, with an optional summary (commander or admin)", where: "incident channel" },
  { usage: USAGE.reopen, description: "Reopen a resolved incident (commander or admin)", where: "incident channel" },
  { usage: USAGE.timeline, description: "Show the incident's timeline, newest last (page 2 is older)", where: "incident channel" },
  { usage: USAGE.postmortem, description: "Post the post-mortem draft's summary here (it is also posted on resolve)", where: "incident channel" },
  { usage: USAGE.followup, description: "Record a follow-up action item for the post-mortem", where: "incident channel" },
  { usage: "/incident help", description: "This help", where: "anywhere" },
];
