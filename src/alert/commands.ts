import { ok, subcommand, usageOf, type RegisteredSubcommand } from "../slack/commands.ts";
import { ephemeral } from "../slack/views.ts";
import type { AlertFlows } from "./flows.ts";

export const ALERTS_USAGE = "/incident alerts";

export const alertsCommand = subcommand<{ kind: "alerts" }>({
  name: "alerts",
  usage: ALERTS_USAGE,
  description: "Recent Alertmanager alert groups: state, route and linked incident",
  where: "anywhere",
  parse: ({ words }) => (words.length === 0 ? ok({ kind: "alerts" }) : usageOf(ALERTS_USAGE)),
});

export function createAlertCommands(alerts: Pick<AlertFlows, "recentGroups">): RegisteredSubcommand[] {
  return [alertsCommand.handler(async () => ephemeral(await alerts.recentGroups(20)))];
}
