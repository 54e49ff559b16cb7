import { App, LogLevel, type Logger as BoltLogger, type Receiver } from "@slack/bolt";
import type { ExtendedErrorHandlerArgs } from "@slack/bolt/dist/App.js";
import type { Logger } from "../lib/logger.ts";
import type { CommandRouter } from "./commands.ts";
import type { SlackListeners } from "./listeners.ts";

/** Bolt logs through pino, so its lines get the same redaction. */
export function boltLogger(logger: Logger): BoltLogger {
  const log = logger.child({ component: "bolt" });
  let level = LogLevel.INFO;
  return {
    debug: (...msgs) => log.debug(msgs.map(String).join(" ")),
    info: (...msgs) => log.info(msgs.map(String).join(" ")),
    warn: (...msgs) => log.warn(msgs.map(String).join(" ")),
    error: (...msgs) => log.error({ err: msgs.find((msg) => msg instanceof Error) }, msgs.map(String).join(" ")),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

export interface BoltDeps {
  receiver: Receiver;
  logger: Logger;
  token: string;
  botUserId: string;
  botId: string | undefined;
  apiUrl: string;
  timeoutMs: number;
  commandName: string;
  /** `/incident`: the router over every module's subcommands. */
  commands: CommandRouter;
  /** Each module's listeners (actions, views, shortcuts, events). */
  listeners: ReadonlyArray<(app: SlackListeners) => void>;
}

/**
 * The Bolt app: routing only. Listeners translate payloads into calls to the
 * domain and ack the result; they hold no business logic, touch no database
 * and catch nothing: errors reach the one global handler below, and the
 * receiver answers Slack politely.
 */
function isSlackId(value: unknown, pattern: RegExp): value is string {
  return typeof value === "string" && pattern.test(value);
}

export function createBoltApp(deps: BoltDeps): App {
  const app = new App({
    token: deps.token,
    // auth.test already ran in the composition root; don't call it twice.
    tokenVerificationEnabled: false,
    botUserId: deps.botUserId,
    ...(deps.botId ? { botId: deps.botId } : {}),
    receiver: deps.receiver,
    logger: boltLogger(deps.logger),
    deferInitialization: true,
    extendedErrorHandler: true,
    clientOptions: { slackApiUrl: deps.apiUrl, timeout: deps.timeoutMs, retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2_000 } },
  });

  app.command(deps.commandName, async ({ command, ack }) => {
    // Signed by Slack, but checked anyway: ids become job payloads and mentions, text may be absent.
    const fields = command as { text?: unknown; user_id?: unknown; channel_id?: unknown; trigger_id?: unknown };
    if (!isSlackId(fields.user_id, /^[UW][A-Z0-9]{2,}$/) || !isSlackId(fields.channel_id, /^[CGD][A-Z0-9]{2,}$/) || typeof fields.trigger_id !== "string") {
      await ack({ response_type: "ephemeral", text: "That command could not be read (no valid user or channel). Try again." });
      return;
    }
    const reply = await deps.commands(typeof fields.text === "string" ? fields.text : "", { userId: fields.user_id, channelId: fields.channel_id, triggerId: fields.trigger_id });
    await ack(reply);
  });
  for (const register of deps.listeners) register(app);

  app.error(async ({ error, body }: ExtendedErrorHandlerArgs) => {
    const original = (error as { original?: unknown }).original ?? error;
    const payload = body as { command?: unknown; type?: unknown; user_id?: unknown; team_id?: unknown } | undefined;
    deps.logger.error(
      { err: original, code: error.code, slack: { command: payload?.command, type: payload?.type, user: payload?.user_id, team: payload?.team_id } },
      "Slack request failed",
    );
    throw error;
  });

  return app;
}
