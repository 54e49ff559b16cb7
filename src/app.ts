import type { AddressInfo } from "node:net";
import type { Config } from "./config/env.ts";
import { loadFileConfig, type FileConfig } from "./config/file.ts";
import { DEFAULT_MIGRATIONS_DIR, openDatabase, type Database } from "./db/client.ts";
import { createMetrics } from "./http/metrics.ts";
import { registerStateMetrics } from "./http/state-metrics.ts";
import { createHttpServer } from "./http/server.ts";
import { createAlertModule } from "./alert/module.ts";
import { systemClock, type Clock } from "./core/clock.ts";
import { rehearse } from "./core/rehearsal.ts";
import { createForeground } from "./lib/foreground.ts";
import { catalogueOf, gather, type Core, type HeaderIncident } from "./core/module.ts";
import type { EventCatalogue } from "./events/catalogue.ts";
import { createLifecycleBus } from "./events/lifecycle.ts";
import { createIncidentModule } from "./incident/module.ts";
import { createPagingModule } from "./paging/module.ts";
import { createRemediationModule } from "./remediation/module.ts";
import { createPostmortemModule } from "./postmortem/module.ts";
import { createReconcileModule } from "./reconcile/module.ts";
import { createTimelineModule } from "./timeline/module.ts";
import { FirebreakError, PermanentOutboundError, TransientOutboundError } from "./lib/errors.ts";
import type { Logger } from "./lib/logger.ts";
import { createJobWorker, type JobWorker, type JobWorkerOptions } from "./queue/worker.ts";
import { expireLocksOfGoneWorkers } from "./queue/service.ts";
import { createSlackApi } from "./slack/api.ts";
import { createBoltApp } from "./slack/bolt.ts";
import { createCommandRouter } from "./slack/commands.ts";
import { SlackReceiver } from "./slack/receiver.ts";
import { SlackSocketReceiver } from "./slack/socket-receiver.ts";

/**
 * The composition root: the only place that knows every concrete piece.
 * Everything below receives just the dependencies it uses.
 */
export interface FirebreakOptions {
  logger: Logger;
  migrationsDir?: string;
  worker?: JobWorkerOptions;
  /** The time every module reads (default: the system clock). */
  clock?: Clock;
}

export interface RunningFirebreak {
  readonly url: string;
  readonly database: Database;
  readonly fileConfig: FileConfig;
  stop(): Promise<void>;
}

export async function startFirebreak(config: Config, options: FirebreakOptions): Promise<RunningFirebreak> {
  const { logger } = options;
  const fileConfig = await loadFileConfig(config.configFile);
  const metrics = createMetrics();

  const database = await openDatabase(config.database, logger.child({ component: "db" }));
  const cleanup: Array<() => Promise<void>> = [() => database.close()];
  const closeAll = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.warn({ err: error }, "shutdown step failed"));
  };

  try {
    const report = await database.migrate(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
    logger.info({ database: database.kind, applied: report.applied.length, alreadyApplied: report.alreadyApplied }, "database ready");

    const slack = createSlackApi({ token: config.slack.botToken, apiUrl: config.slack.apiUrl, timeoutMs: config.slack.timeoutMs, logger: logger.child({ component: "slack-api" }), metrics });
    const identity = await slack.authTest().catch((error: unknown) => {
      if (error instanceof PermanentOutboundError) {
        throw new FirebreakError("config_invalid", `Slack rejected SLACK_BOT_TOKEN (${error.remoteCode}). Copy the Bot User OAuth Token from your Slack app's OAuth & Permissions page.`);
      }
      if (error instanceof TransientOutboundError) {
        throw new FirebreakError("outbound_unavailable", `Cannot reach Slack at ${config.slack.apiUrl} (${error.message}). Check the network or SLACK_API_URL.`);
      }
      throw error;
    });
    logger.info({ botUserId: identity.userId, team: identity.teamId }, "connected to Slack");

    // Flows wake the worker, and the worker runs the flows' jobs.
    const workerRef: { current?: JobWorker } = {};
    const bus = createLifecycleBus();
    const foreground = createForeground();
    const catalogueRef: { current?: EventCatalogue } = {};
    const headerRef: { current?: ReadonlyArray<(incident: HeaderIncident) => readonly unknown[]> } = {};
    const core: Core = {
      config,
      fileConfig,
      prisma: database.prisma,
      sql: database.sql,
      slack,
      logger,
      metrics,
      clock: options.clock ?? systemClock,
      bus,
      events: () => {
        if (!catalogueRef.current) throw new FirebreakError("config_invalid", "the event catalogue is read before every module is built");
        return catalogueRef.current;
      },
      wakeJobs: () => workerRef.current?.wake(),
      foreground,
      botUserId: () => identity.userId,
      teamId: () => identity.teamId,
      headerBlocks: (incident) => (headerRef.current ?? []).flatMap((blocks) => blocks(incident)),
    };

    // The capabilities. A new one is its own folder plus one line here.
    const incident = createIncidentModule(core);
    const alert = createAlertModule(core, incident);
    const modules = [
      incident.module,
      alert.module,
      createTimelineModule(core, incident),
      createPostmortemModule(core),
      createPagingModule(core, incident).module,
      createRemediationModule(core, incident).module,
      createReconcileModule(core),
    ] as const;
    // Does not compile while an event type lacks its kind in these modules.
    catalogueRef.current = catalogueOf(modules);
    const contributions = gather(modules);
    headerRef.current = contributions.header;
    bus.subscribe(...contributions.subscribers);

    const worker = createJobWorker(
      { prisma: database.prisma, logger: logger.child({ component: "jobs" }), metrics, definitions: contributions.jobs, maintenance: contributions.maintenance },
      options.worker,
    );

    // Slack reaches Firebreak over Socket Mode when an app-level token is set, over HTTP otherwise.
    const { appToken, signingSecret } = config.slack;
    const receiver = appToken
      ? new SlackSocketReceiver({
          appToken,
          apiUrl: config.slack.apiUrl,
          timeoutMs: config.slack.timeoutMs,
          logger: logger.child({ component: "slack" }),
          onReconnect: () => metrics.slackSocketReconnects.inc(),
          foreground,
        })
      : new SlackReceiver({ signingSecret: signingSecret ?? "", logger: logger.child({ component: "slack" }), foreground });
    const bolt = createBoltApp({
      receiver,
      logger,
      token: config.slack.botToken,
      botUserId: identity.userId,
      botId: identity.botId,
      apiUrl: config.slack.apiUrl,
      timeoutMs: config.slack.timeoutMs,
      commandName: fileConfig.incidents.slashCommand,
      commands: createCommandRouter(contributions.subcommands),
      listeners: contributions.slack,
    });
    await bolt.init();

    // The first incident after a start should not pay for first use (query plans, cold code).
    await rehearse(database.prisma, [...contributions.rehearsals, { name: "jobs", run: (tx) => worker.rehearse(tx) }], logger.child({ component: "rehearsal" }), {
      connections: database.keptConnections,
    });

    const checkReady = async () => {
      await database.ping(1_000);
      if (receiver instanceof SlackSocketReceiver && !receiver.connected()) throw new Error("no Socket Mode connection to Slack is open");
    };
    registerStateMetrics(metrics.registry, database.prisma);
    const server = createHttpServer({ logger, metrics, checkReady });
    if (receiver instanceof SlackReceiver) receiver.register(server);
    for (const register of contributions.routes) register(server);
    await server.listen({ host: config.http.host, port: config.http.port });
    cleanup.push(() => server.close());
    const address = server.server.address() as AddressInfo;
    const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;

    workerRef.current = worker;
    if (database.kind === "embedded") {
      // This process holds the embedded server's data directory alone: a job still RUNNING was
      // left by a previous process that died (kill -9, power loss). Take it over now.
      const released = await expireLocksOfGoneWorkers(database.prisma);
      if (released > 0) logger.warn({ jobs: released }, "jobs left running by a previous process are taken over");
    }
    worker.start();
    // Jobs committed by any process (this one's other paths, other replicas) wake the worker at
    // once (the jobs_notify trigger); the worker's poll stays as the safety net.
    database.listen("firebreak_jobs", () => worker.wake());
    cleanup.push(() => worker.stop(config.shutdownTimeoutMs));
    if (receiver instanceof SlackSocketReceiver) {
      await receiver.start();
      cleanup.push(() => receiver.stop());
    }
    logger.info({ url, slack: receiver instanceof SlackSocketReceiver ? "socket-mode" : "http /slack/events" }, "Firebreak is listening");

    let stopping: Promise<void> | undefined;
    return {
      url,
      database,
      fileConfig,
      stop: () => {
        // Order: stop taking requests (in-flight ones finish), drain jobs, close the database.
        stopping ??= closeAll();
        return stopping;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
