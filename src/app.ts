import type { AddressInfo } from "node:net";
import type { Config } from "./config/env.ts";
import { loadFileConfig, type FileConfig } from "./config/file.ts";
import { DEFAULT_MIGRATIONS_DIR, openDatabase, type Database } from "./db/client.ts";
import { createMetrics } from "./http/metrics.ts";
import { createHttpServer } from "./http/server.ts";
import { createIncidentCommandHandler } from "./incident/command-handler.ts";
import { createAlertFlows, processDeliveryJob } from "./alert/flows.ts";
import { createDeliveryStore } from "./alert/service.ts";
import { registerAlertmanagerWebhook } from "./alert/webhook.ts";
import { registerPostmortemApi } from "./postmortem/api.ts";
import { createPostmortemFlows } from "./postmortem/flows.ts";
import { createConfluenceApi } from "./postmortem/export/confluence.ts";
import { createGitHubApi } from "./postmortem/export/github.ts";
import { createPostmortemExporters } from "./postmortem/export/jobs.ts";
import { createAuthorizer } from "./incident/authz.ts";
import { createIncidentFlows } from "./incident/flows.ts";
import { createIncidentInteractions } from "./incident/interactions.ts";
import { createIncidentLifecycle } from "./incident/lifecycle.ts";
import { FirebreakError, PermanentOutboundError, TransientOutboundError } from "./lib/errors.ts";
import type { Logger } from "./lib/logger.ts";
import { createJobWorker, type JobWorker, type JobWorkerOptions } from "./queue/worker.ts";
import { expireLocksOfGoneWorkers } from "./queue/service.ts";
import { createSlackApi } from "./slack/api.ts";
import { createBoltApp } from "./slack/bolt.ts";
import { SlackReceiver } from "./slack/receiver.ts";
import { createTimelineCapture } from "./timeline/capture.ts";
import { createTimelineEditor } from "./timeline/editing.ts";
import { createPostmortemInteractions } from "./postmortem/interactions.ts";

/**
 * The composition root: the only place that knows every concrete piece.
 * Everything below receives just the dependencies it uses.
 */
export interface FirebreakOptions {
  logger: Logger;
  migrationsDir?: string;
  worker?: JobWorkerOptions;
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
    const wakeJobs = () => workerRef.current?.wake();
    const authorizer = createAuthorizer({ admins: fileConfig.incidents.admins, slack, logger: logger.child({ component: "authz" }) });
    const flows = createIncidentFlows({
      prisma: database.prisma,
      slack,
      metrics,
      config: fileConfig,
      wakeJobs,
      botUserId: () => identity.userId,
      channelPrefix: fileConfig.incidents.channelPrefix,
      channelsPerMinute: config.slack.channelsPerMinute,
    });
    const { confluence: confluenceExport, github: githubExport, timeoutMs: exportTimeoutMs } = config.exporters;
    const exporters = createPostmortemExporters({
      prisma: database.prisma,
      timeZone: config.timeZone,
      confluence: confluenceExport ? { api: createConfluenceApi({ ...confluenceExport, timeoutMs: exportTimeoutMs }), spaceId: confluenceExport.spaceId } : undefined,
      github: githubExport ? { api: createGitHubApi({ ...githubExport, timeoutMs: exportTimeoutMs }), labels: githubExport.labels } : undefined,
    });
    logger.info({ confluence: confluenceExport !== undefined, github: githubExport !== undefined }, "post-mortem exporters");
    const postmortem = createPostmortemFlows({ prisma: database.prisma, slack, timeZone: config.timeZone, wakeJobs, exporters });
    const lifecycle = createIncidentLifecycle({
      prisma: database.prisma,
      slack,
      authorizer,
      config: fileConfig,
      wakeJobs,
      onResolved: (tx, incident, key) => postmortem.requestSummaryWithin(tx, incident, key),
      inviteForSeverity: (tx, incident) => flows.enqueueInvites(tx, incident, [...fileConfig.severities[incident.severity].notify], `severity:${incident.severity}`),
    });
    const deliveries = createDeliveryStore({ sql: database.sql, jobKind: processDeliveryJob.kind });
    const alerts = createAlertFlows({
      prisma: database.prisma,
      deliveries,
      config: fileConfig,
      flows,
      lifecycle,
      slack,
      metrics,
      logger: logger.child({ component: "alerts" }),
      wakeJobs,
    });
    const capture = createTimelineCapture({ prisma: database.prisma, slack, captureEmoji: fileConfig.timeline.captureEmoji, botUserId: () => identity.userId, wakeJobs });
    const timeline = createTimelineEditor({
      prisma: database.prisma,
      authorizer,
      slack,
      tell: (channelId, userId, text) => lifecycle.tellUser(undefined, channelId, userId, text),
    });
    const postmortemInteractions = createPostmortemInteractions({ prisma: database.prisma, slack, flows: postmortem, wakeJobs });
    const worker = createJobWorker(
      {
        prisma: database.prisma,
        logger: logger.child({ component: "jobs" }),
        metrics,
        definitions: [...flows.jobs, ...lifecycle.jobs, ...alerts.jobs, ...postmortem.jobs, ...exporters.jobs, ...capture.jobs],
        maintenance: [{ name: "alert deliveries older than the retention", run: () => alerts.purgeOldDeliveries(config.alertDeliveryRetentionDays) }],
      },
      options.worker,
    );

    const receiver = new SlackReceiver({ signingSecret: config.slack.signingSecret, logger: logger.child({ component: "slack" }) });
    const bolt = createBoltApp({
      receiver,
      logger,
      token: config.slack.botToken,
      botUserId: identity.userId,
      botId: identity.botId,
      apiUrl: config.slack.apiUrl,
      timeoutMs: config.slack.timeoutMs,
      commandName: fileConfig.incidents.slashCommand,
      handleIncidentCommand: createIncidentCommandHandler({ prisma: database.prisma, flows, lifecycle, slack, authorizer, config: fileConfig, alerts, postmortem, timeline }),
      interactions: createIncidentInteractions({ prisma: database.prisma, flows, lifecycle, slack, authorizer, config: fileConfig }),
      alerts,
      capture,
      timeline,
      postmortem: postmortemInteractions,
    });
    await bolt.init();

    const server = createHttpServer({ logger, metrics, checkReady: () => database.ping(1_000) });
    receiver.register(server);
    if (config.apiToken) registerPostmortemApi(server, { prisma: database.prisma, apiToken: config.apiToken, timeZone: config.timeZone });
    if (config.alertmanager) {
      registerAlertmanagerWebhook(server, { auth: config.alertmanager, flows: alerts, logger: logger.child({ component: "alertmanager-webhook" }) });
      if (config.alertmanager.kind === "insecure") logger.warn("the Alertmanager webhook accepts unauthenticated requests (ALERTMANAGER_ALLOW_INSECURE=true)");
    } else {
      logger.warn("the Alertmanager webhook is off: set ALERTMANAGER_TOKEN (or ALERTMANAGER_USERNAME and ALERTMANAGER_PASSWORD) to receive alerts");
    }
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
    logger.info({ url }, "Firebreak is listening");

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
