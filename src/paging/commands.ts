import type { FileConfig } from "../config/file.ts";
import type { PrismaClient } from "../db/client.ts";
import { commandKey, inIncidentChannel } from "../incident/command-handler.ts";
import { parseMention } from "../incident/commands.ts";
import { MAX_TEXT_LENGTH, ok, problem, subcommand, usageOf, type RegisteredSubcommand } from "../slack/commands.ts";
import { escapeMrkdwn, readable } from "../slack/text.ts";
import { ephemeral } from "../slack/views.ts";
import type { PagingFlows } from "./flows.ts";

export const PAGE_USAGE = "/incident page <service|@user> [message]";

export type PageTarget = { kind: "service"; service: string } | { kind: "user"; userId: string };

/** Pure: `page checkout Database is on fire` / `page <@U123|ana> please join`. The service is checked against the configuration by the handler. */
export const pageCommand = subcommand<{ kind: "page"; target: PageTarget; message: string | null }>({
  name: "page",
  usage: PAGE_USAGE,
  description: "Page a service's on-call through PagerDuty, or one person, with an optional message",
  where: "incident channel",
  parse({ words, rest }) {
    const first = words[0];
    if (first === undefined) return usageOf(PAGE_USAGE);
    const message = readable(rest.slice(first.length).trim());
    if (message.length > MAX_TEXT_LENGTH) return problem({ type: "text_too_long", length: message.length, max: MAX_TEXT_LENGTH });
    const userId = parseMention(first);
    if (userId) return ok({ kind: "page", target: { kind: "user", userId }, message: message || null });
    if (first.startsWith("@") || first.startsWith("<")) return problem({ type: "unescaped_mention", token: first });
    return ok({ kind: "page", target: { kind: "service", service: first.toLowerCase() }, message: message || null });
  },
});

export interface PagingCommandDeps {
  prisma: PrismaClient;
  flows: Pick<PagingFlows, "requestPage">;
  config: Pick<FileConfig, "services" | "paging">;
  /** PAGERDUTY_TOKEN is set (paging a person needs the REST API). */
  restApi: boolean;
}

export function createPagingCommands(deps: PagingCommandDeps): RegisteredSubcommand[] {
  const inChannel = inIncidentChannel(deps.prisma);
  const paged = deps.config.services.filter((service) => service.pagerduty);
  return [
    pageCommand.handler(async (command, context) =>
      inChannel(context, async (incident) => {
        const { target } = command;
        if (target.kind === "service") {
          const service = paged.find((candidate) => candidate.key === target.service || candidate.name.toLowerCase() === target.service);
          if (!service) {
            const known = paged.map((candidate) => `\`${candidate.key}\``).join(", ");
            return ephemeral(
              known
                ? `:warning: \`${escapeMrkdwn(target.service)}\` is not a service Firebreak can page. These can be paged: ${known}. Or page a person: \`/incident page @someone\`.`
                : ":warning: No service has a PagerDuty integration in Firebreak's configuration (`services[].pagerduty.routingKey`).",
            );
          }
          const outcome = await deps.flows.requestPage(incident.id, { kind: "service", service: service.key }, command.message, context.userId, commandKey(context));
          return ephemeral(outcome === "repeat" ? "That page was already sent." : `:pager: Paging *${escapeMrkdwn(service.name)}* through PagerDuty. The channel hears when PagerDuty has it.`);
        }
        if (!deps.restApi || !deps.config.paging.userPages) {
          return ephemeral(":warning: Paging a person needs `PAGERDUTY_TOKEN` and `paging.userPages.service` in Firebreak's configuration. Page a service instead: `/incident page <service>`.");
        }
        const outcome = await deps.flows.requestPage(incident.id, { kind: "user", userId: target.userId }, command.message, context.userId, commandKey(context));
        return ephemeral(outcome === "repeat" ? "That page was already sent." : `:pager: Paging <@${target.userId}> through PagerDuty. The channel hears when PagerDuty has it.`);
      }),
    ),
  ];
}
