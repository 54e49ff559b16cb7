import type { EphemeralResponse } from "../slack/views.ts";
import { parseIncidentCommand, type IncidentCommand } from "./commands.ts";
import type { IncidentFlows } from "./flows.ts";
import { declaredReply, helpReply } from "./views.ts";

/** Who typed the command and where; taken from the verified Slack payload. */
export interface CommandContext {
  userId: string;
  channelId: string;
}

type Handlers = {
  [K in IncidentCommand["kind"]]: (command: Extract<IncidentCommand, { kind: K }>, context: CommandContext) => Promise<EphemeralResponse>;
};

/**
 * `/incident <text>` -> the reply Slack shows the user. One small handler per
 * subcommand; the Slack listener only parses the payload and acks the reply.
 */
export function createIncidentCommandHandler(deps: { flows: Pick<IncidentFlows, "declare"> }) {
  const handlers: Handlers = {
    help: async (command) => helpReply(command.problem),
    declare: async (command, context) => {
      const { incident, plannedChannel } = await deps.flows.declare({
        title: command.title,
        severity: command.severity,
        private: false,
        source: "SLACK",
        declaredById: context.userId,
      });
      return declaredReply(incident, plannedChannel);
    },
  };

  return async function handle(text: string, context: CommandContext): Promise<EphemeralResponse> {
    const command = parseIncidentCommand(text);
    const handler = handlers[command.kind] as (command: IncidentCommand, context: CommandContext) => Promise<EphemeralResponse>;
    return handler(command, context);
  };
}

export type IncidentCommandHandler = ReturnType<typeof createIncidentCommandHandler>;
