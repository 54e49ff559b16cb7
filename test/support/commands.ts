import { ALERTS_USAGE, alertsCommand } from "../../src/alert/commands.ts";
import { INCIDENT_COMMANDS, USAGE as INCIDENT_USAGE } from "../../src/incident/commands.ts";
import { POSTMORTEM_USAGE, followupCommand, postmortemCommand } from "../../src/postmortem/commands.ts";
import { helpEntries, helpReply as renderHelp, parseCommand, type CommandProblem, type SubcommandSpec } from "../../src/slack/commands.ts";
import { TIMELINE_USAGE, timelineCommand } from "../../src/timeline/commands.ts";

/** Every module's subcommands in the composition root's order; parsed and listed without running anything. */
export const SUBCOMMAND_SPECS: ReadonlyArray<SubcommandSpec<unknown>> = [...INCIDENT_COMMANDS, alertsCommand, timelineCommand, postmortemCommand, followupCommand];

export const USAGE = { ...INCIDENT_USAGE, timeline: TIMELINE_USAGE, alerts: ALERTS_USAGE, ...POSTMORTEM_USAGE };

export const parseIncidentCommand = (text: string) => parseCommand(SUBCOMMAND_SPECS, text);

/** `/incident help` as the router builds it from the registered subcommands. */
export const COMMAND_HELP_ENTRIES = helpEntries(SUBCOMMAND_SPECS);
export const helpReply = (problem?: CommandProblem) => renderHelp(COMMAND_HELP_ENTRIES, problem);
