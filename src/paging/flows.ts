import { z } from "zod";
import type { FileConfig, SeverityKey } from "../config/file.ts";
import type { Clock } from "../core/clock.ts";
import type { Db, PrismaClient } from "../db/client.ts";
import { systemActor, type IncidentSnapshot, type LifecycleSubscriber } from "../events/lifecycle.ts";
import type { IncidentFlows } from "../incident/flows.ts";
import type { IncidentLifecycle } from "../incident/lifecycle.ts";
import { jobOptions, postEventJob, severityPriority } from "../incident/lifecycle-jobs.ts";
import { incidentRef } from "../incident/models.ts";
import { claimIdempotencyKey, getIncidentDetail } from "../incident/service.ts";
import { NotReadyError, PermanentOutboundError, RateLimitedError, errorMessage } from "../lib/errors.ts";
import { jobType } from "../queue/service.ts";
import type { SlackApi } from "../slack/api.ts";
import { incidentChannelName } from "../slack/channel-name.ts";
import type { JobContext } from "../queue/models.ts";
import { PAGING_EVENTS, type PagingEventType } from "./events.ts";
import type { Pager } from "./ports.ts";
import type { TimelineEventData } from "../events/models.ts";

/**
 * Paging: the incident lifecycle's subscriber that pages PagerDuty, brings in
 * the on-call engineer, and resolves the page with the incident.
 *
 *   declared / escalated into a paging severity ─▶ page row + paging.send(trigger)  (per paged service)
 *                                               └▶ paging.oncall ─▶ commander / invite, or "page by hand"
 *   resolved ─▶ paging.send(resolve)         reopened ─▶ paging.send(trigger), next cycle
 *   /incident page <service|@user> ─▶ page row + paging.send / paging.page_user
 *
 * Everything is enqueued in the lifecycle change's own transaction, so a
 * declared incident is a page that will go out (crash, restart, PagerDuty
 * down: the job waits, never lost), and the page never waits for Slack: the
 * channel's jobs and the paging jobs are independent. The dedup key is the
 * page row's, stable across retries, so a repeated trigger is one page.
 */

const sendPayload = z.object({ pageId: z.uuid(), action: z.enum(["trigger", "resolve"]), cycle: z.number().int().min(1), since: z.iso.datetime() });
const oncallPayload = z.object({
  incidentId: z.uuid(),
  service: z.string().min(1),
  /** The on-call engineer leads (alert-declared, or `paging.commander: oncall`); otherwise they are invited. */
  lead: z.boolean(),
});
const userPagePayload = z.object({ pageId: z.uuid(), since: z.iso.datetime() });

export const sendPageJob = jobType("paging.send", sendPayload);
export const oncallJob = jobType("paging.oncall", oncallPayload);
export const userPageJob = jobType("paging.page_user", userPagePayload);

/** PagerDuty's Events API takes about 120 events a minute per routing key: one every 500 ms per service. */
const EVENTS_INTERVAL_MS = 500;
/** A page is retried for about a day (backoff caps at 5 minutes); its delay is reported long before. */
const PAGE_MAX_ATTEMPTS = 300;
/** On-call lookups: a few tries, then the channel is told to page by hand. */
const ONCALL_ATTEMPTS = 4;

const PD_SEVERITY: Readonly<Record<SeverityKey, "critical" | "error" | "warning" | "info">> = { SEV1: "critical", SEV2: "error", SEV3: "warning", SEV4: "info" };

export interface PagingDeps {
  prisma: PrismaClient;
  pager: Pager;
  slack: Pick<SlackApi, "userByEmail" | "userEmail">;
  config: Pick<FileConfig, "paging" | "services" | "incidents">;
  lifecycle: Pick<IncidentLifecycle, "assignCommander">;
  flows: Pick<IncidentFlows, "enqueueInvites">;
  clock: Clock;
  wakeJobs(): void;
  /** The Slack workspace id (links to the channel). */
  teamId(): string | undefined;
  /** PAGERDUTY_TOKEN is set: on-call lookups and personal pages are possible. */
  restApi: boolean;
  /** A page not accepted after this long is reported in the channel. */
  delayWarningMs: number;
}

type PageRow = NonNullable<Awaited<ReturnType<PrismaClient["page"]["findUnique"]>>>;

export function createPagingFlows(deps: PagingDeps) {
  const servicesByKey = new Map(deps.config.services.map((service) => [service.key, service]));
  const isPaging = (severity: SeverityKey) => deps.config.paging.severities.includes(severity);
  const pagedServices = (incident: { services: readonly string[] }) =>
    incident.services.flatMap((key) => {
      const service = servicesByKey.get(key);
      return service?.pagerduty ? [{ ...service, pagerduty: service.pagerduty }] : [];
    });

  async function record<K extends PagingEventType>(tx: Db, incident: { id: string; severity: SeverityKey; channelId: string | null; private: boolean }, type: K, data: TimelineEventData[K], actorId: string | null = null) {
    const kind = PAGING_EVENTS[type];
    const eventId = await kind.record(tx, { incidentId: incident.id, source: actorId ? "SLACK" : "PAGERDUTY", actorId, data, private: incident.private });
    // A page can be refused or late before the channel exists: the notice waits for it (the job is not ready until then).
    if (kind.notice) {
      await postEventJob.enqueue(tx, { incidentId: incident.id, eventId: String(eventId) }, jobOptions(incident, `chat.postMessage:${incident.channelId ?? `incident:${incident.id}`}`));
    }
  }

  /** Pages every paged service of the incident (once per cycle) and looks up their on-call. */
  async function pageServices(tx: Db, incident: IncidentSnapshot, options: { oncall: boolean; lead?: boolean }) {
    if (!isPaging(incident.severity)) return;
    const since = deps.clock.now().toISOString();
    for (const service of pagedServices(incident)) {
      const dedupKey = `firebreak-${incident.id}-${service.key}`;
      await tx.page.createMany({ data: [{ incidentId: incident.id, targetKind: "service", target: service.key, dedupKey }], skipDuplicates: true });
      const page = await tx.page.findUniqueOrThrow({ where: { dedupKey } });
      await sendPageJob.enqueue(tx, { pageId: page.id, action: "trigger", cycle: page.cycle, since }, {
        dedupeKey: `page:${page.id}:trigger:${page.cycle}`,
        rateKey: `pagerduty.events:${service.key}`,
        priority: severityPriority(incident.severity) - 5,
        incidentId: incident.id,
        maxAttempts: PAGE_MAX_ATTEMPTS,
      });
      if (options.oncall && deps.restApi && service.pagerduty.escalationPolicy) {
        await oncallJob.enqueue(tx, { incidentId: incident.id, service: service.key, lead: options.lead ?? false }, { dedupeKey: `oncall:${incident.id}:${service.key}`, priority: severityPriority(incident.severity), incidentId: incident.id });
      }
    }
  }

  async function resolvePages(tx: Db, incident: IncidentSnapshot) {
    const pages = await tx.page.findMany({ where: { incidentId: incident.id, targetKind: "service", status: { in: ["PENDING", "TRIGGERED"] } } });
    const since = deps.clock.now().toISOString();
    for (const page of pages) {
      await sendPageJob.enqueue(tx, { pageId: page.id, action: "resolve", cycle: page.cycle, since }, {
        dedupeKey: `page:${page.id}:resolve:${page.cycle}`,
        rateKey: `pagerduty.events:${page.target}`,
        priority: severityPriority(incident.severity),
        incidentId: incident.id,
        maxAttempts: PAGE_MAX_ATTEMPTS,
      });
    }
  }

  async function reopenPages(tx: Db, incident: IncidentSnapshot) {
    if (!isPaging(incident.severity)) return;
    await tx.page.updateMany({ where: { incidentId: incident.id, targetKind: "service" }, data: { cycle: { increment: 1 }, status: "PENDING", resolvedAt: null } });
    await pageServices(tx, incident, { oncall: false });
  }

  const subscriber: LifecycleSubscriber = {
    name: "paging: page PagerDuty, bring in the on-call engineer",
    on: {
      "incident.declared": async (tx, event) => pageServices(tx, event.incident, { oncall: true, lead: event.alertDeclared || deps.config.paging.commander === "oncall" }),
      "incident.severity_changed": async (tx, event) => {
        if (isPaging(event.from) || !isPaging(event.to)) return;
        await pageServices(tx, event.incident, { oncall: true, lead: deps.config.paging.commander === "oncall" || event.incident.commanderId === null });
      },
      "incident.resolved": async (tx, event) => resolvePages(tx, event.incident),
      "incident.reopened": async (tx, event) => reopenPages(tx, event.incident),
    },
  };

  function channelLink(incident: { channelId: string | null }): Array<{ href: string; text: string }> {
    if (!incident.channelId) return [];
    const team = deps.teamId();
    return [{ href: `https://slack.com/app_redirect?channel=${incident.channelId}${team ? `&team=${team}` : ""}`, text: "Incident channel in Slack" }];
  }

  /** Tells the channel once per cycle that a page is late; the job keeps retrying. */
  async function reportDelay(page: PageRow, incident: NonNullable<Awaited<ReturnType<typeof getIncidentDetail>>>, since: string, error: unknown, label: string) {
    if (deps.clock.now().getTime() - Date.parse(since) < deps.delayWarningMs) return;
    const reason = error instanceof RateLimitedError ? "PagerDuty is asking Firebreak to slow down (429)" : errorMessage(error);
    await deps.prisma.$transaction(async (tx) => {
      const claim = await claimIdempotencyKey(tx, `page-delayed:${page.id}:${page.cycle}:${since}`);
      if (!claim.fresh) return;
      await tx.page.update({ where: { id: page.id }, data: { lastError: reason.slice(0, 500) } });
      await record(tx, incident, "page.delayed", { target: label, targetKind: page.targetKind === "user" ? "user" : "service", reason });
    });
    deps.wakeJobs();
  }

  async function loadPage(pageId: string) {
    const page = await deps.prisma.page.findUnique({ where: { id: pageId } });
    if (!page) throw new PermanentOutboundError("incident_not_found", "page_not_found", `page ${pageId} does not exist`);
    const incident = await getIncidentDetail(deps.prisma, page.incidentId);
    if (!incident) throw new PermanentOutboundError("incident_not_found", "incident_not_found", `incident ${page.incidentId} does not exist`);
    return { page, incident };
  }

  /** A refusal for good ends the page with a message; anything else is retried (and reported when late). */
  async function failOrRetry(context: JobContext, page: PageRow, incident: Parameters<typeof reportDelay>[1], since: string, label: string, error: unknown): Promise<void> {
    if (error instanceof PermanentOutboundError) {
      await context.complete(async (tx) => {
        await tx.page.update({ where: { id: page.id }, data: { status: "FAILED", lastError: error.message.slice(0, 500) } });
        await record(tx, incident, "page.failed", { target: label, targetKind: page.targetKind === "user" ? "user" : "service", reason: error.message });
      });
      deps.wakeJobs();
      return;
    }
    await reportDelay(page, incident, since, error, label);
    throw error;
  }

  const send = sendPageJob.handler({
    // Pages never wait behind Slack's backlog (the worker's reserved slot).
    critical: true,
    maxAttempts: PAGE_MAX_ATTEMPTS,
    async handle({ pageId, action, cycle, since }, context) {
      const { page, incident } = await loadPage(pageId);
      if (page.cycle !== cycle) return; // a later cycle superseded this job
      const service = servicesByKey.get(page.target);
      const label = service?.name ?? page.target;
      if (action === "trigger" && page.status !== "PENDING") return;
      if (action === "resolve" && (page.status === "RESOLVED" || page.status === "FAILED")) return;
      try {
        if (!service?.pagerduty) throw new PermanentOutboundError("config_invalid", "service_not_paged", `the service ${page.target} has no pagerduty.routingKey in the configuration any more`);
        const planned = incident.channelName ?? incidentChannelName(incident.number, incident.title, 1, deps.config.incidents.channelPrefix);
        await deps.pager.sendEvent({
          action,
          routingKey: service.pagerduty.routingKey,
          dedupKey: page.dedupKey,
          summary: `[${incident.severity}] ${incidentRef(incident.number)}: ${incident.title}${page.message ? ` (${page.message})` : ""}`,
          severity: PD_SEVERITY[incident.severity],
          source: service.name,
          component: service.key,
          details: {
            incident: incidentRef(incident.number),
            title: incident.title,
            severity: incident.severity,
            status: incident.status,
            slack_channel: `#${planned}`,
            ...(page.message ? { message: page.message } : {}),
          },
          links: channelLink(incident),
        });
      } catch (error) {
        await failOrRetry(context, page, incident, since, label, error);
        return;
      }
      await context.complete(async (tx) => {
        // Pace the next event to this routing key (PagerDuty's ~120 a minute).
        const key = `pagerduty.events:${page.target}`;
        const until = new Date(Date.now() + EVENTS_INTERVAL_MS);
        await tx.rateLimitHold.upsert({ where: { key }, create: { key, until }, update: { until } });
        const now = deps.clock.now();
        const targetKind = "service" as const;
        if (action === "trigger") {
          await tx.page.update({ where: { id: page.id }, data: { status: "TRIGGERED", triggeredAt: now, lastError: null } });
          await record(tx, incident, "page.triggered", { target: label, targetKind, again: cycle > 1, message: page.message, attempts: context.attempt }, page.requestedById);
        } else {
          await tx.page.update({ where: { id: page.id }, data: { status: "RESOLVED", resolvedAt: now } });
          await record(tx, incident, "page.resolved", { target: label, targetKind });
        }
      });
      deps.wakeJobs();
    },
  });

  /** The person to hand the page to: their PagerDuty user (by their Slack email), paged on the configured service. */
  const pageUser = userPageJob.handler({
    // Pages never wait behind Slack's backlog (the worker's reserved slot).
    critical: true,
    maxAttempts: PAGE_MAX_ATTEMPTS,
    async handle({ pageId, since }, context) {
      const { page, incident } = await loadPage(pageId);
      if (page.status !== "PENDING") return;
      const label = page.target;
      try {
        const settings = deps.config.paging.userPages;
        if (!settings) throw new PermanentOutboundError("config_invalid", "user_pages_off", "paging people needs paging.userPages.service in the configuration");
        const email = await deps.slack.userEmail(page.target);
        if (!email) throw new PermanentOutboundError("pagerduty_api_error", "no_email", "Slack shows no email address for them, so their PagerDuty account cannot be found");
        const user = await deps.pager.findUserByEmail(email);
        if (!user) throw new PermanentOutboundError("pagerduty_api_error", "no_pagerduty_user", `no PagerDuty user has the email ${email}`);
        const requesterEmail = page.requestedById ? await deps.slack.userEmail(page.requestedById) : undefined;
        const requester = requesterEmail ? await deps.pager.findUserByEmail(requesterEmail) : undefined;
        const from = requester?.email ?? settings.from;
        if (!from) throw new PermanentOutboundError("config_invalid", "no_from", "the requester has no PagerDuty account and paging.userPages.from is not set");
        const opened = await deps.pager.pageUser({
          serviceId: settings.service,
          userId: user.id,
          from,
          title: `[${incident.severity}] ${incidentRef(incident.number)}: ${incident.title}`,
          dedupKey: page.dedupKey,
          urgency: incident.severity === "SEV1" || incident.severity === "SEV2" ? "high" : "low",
          details: [page.message, incident.channelName ? `Slack: #${incident.channelName}` : undefined].filter((part) => part).join("\n") || incident.title,
        });
        await context.complete(async (tx) => {
          await tx.page.update({ where: { id: page.id }, data: { status: "TRIGGERED", triggeredAt: deps.clock.now(), pagerdutyIncidentId: opened.incidentId || null, lastError: null } });
          await record(tx, incident, "page.triggered", { target: label, targetKind: "user", again: false, message: page.message, attempts: context.attempt }, page.requestedById);
        });
        deps.wakeJobs();
      } catch (error) {
        await failOrRetry(context, page, incident, since, label, error);
      }
    },
  });

  /** Who is on call at level 1 → their email → their Slack user → commander or invited; any failure: "page by hand". */
  const oncall = oncallJob.handler({
    // Pages never wait behind Slack's backlog (the worker's reserved slot).
    critical: true,
    maxAttempts: ONCALL_ATTEMPTS + 1,
    async handle({ incidentId, service: serviceKey, lead }, context) {
      const incident = await getIncidentDetail(deps.prisma, incidentId);
      const service = servicesByKey.get(serviceKey);
      const policy = service?.pagerduty?.escalationPolicy;
      if (!incident || !service || !policy) return;
      // The commander and the invite need the channel; the page itself never waits for it.
      // Channels come within a few hundred ms: look again soon rather than after NotReadyError's default 2 s.
      if (!incident.channelId) throw new NotReadyError(`incident ${incidentId} has no channel yet`, 300);
      let person: string | null = null;
      let policyName = policy;
      const unavailable = async (reason: string) => {
        await context.complete(async (tx) => record(tx, incident, "oncall.unavailable", { service: service.name, policy: policyName, reason, person }));
        deps.wakeJobs();
      };
      let slackUser: string | undefined;
      let name: string;
      try {
        const responder = await deps.pager.findOnCall(policy);
        if (!responder) return await unavailable("nobody is on call at level 1 of the escalation policy right now");
        policyName = responder.policyName;
        name = responder.name;
        person = responder.name;
        const email = responder.email ?? (await deps.pager.getUser(responder.userId)).email;
        person = `${responder.name} (${email})`;
        slackUser = await deps.slack.userByEmail(email);
        if (!slackUser) return await unavailable(`${responder.name} is on call, but no Slack account has their PagerDuty email`);
      } catch (error) {
        if (!(error instanceof PermanentOutboundError) && context.attempt < ONCALL_ATTEMPTS) throw error;
        return await unavailable(errorMessage(error));
      }
      const alreadyLedByOncall = await deps.prisma.timelineEvent.count({ where: { incidentId, type: "oncall.assigned", data: { path: ["role"], equals: "commander" } } });
      const takesCommand = lead && (incident.commanderId === null || incident.commanderId === slackUser || (incident.commanderId === incident.declaredById && alreadyLedByOncall === 0));
      if (takesCommand && incident.commanderId !== slackUser) {
        const outcome = await deps.lifecycle.assignCommander(incidentId, systemActor("PAGERDUTY"), slackUser);
        if (!outcome.ok) context.logger.warn({ reason: outcome.message }, "could not make the on-call engineer commander");
      }
      const user = slackUser;
      await context.complete(async (tx) => {
        await record(tx, incident, "oncall.assigned", { service: service.name, policy: policyName, userId: user, name, role: takesCommand ? "commander" : "responder" });
        await deps.flows.enqueueInvites(tx, incident, [user], `oncall:${serviceKey}`);
      });
      deps.wakeJobs();
    },
  });

  /** `/incident page`: a new page row and its job, once per command (the request key). */
  async function requestPage(incidentId: string, request: { kind: "service"; service: string } | { kind: "user"; userId: string }, message: string | null, requestedById: string, requestKey: string) {
    const outcome = await deps.prisma.$transaction(async (tx) => {
      const claim = await claimIdempotencyKey(tx, requestKey);
      if (!claim.fresh) return "repeat" as const;
      const incident = await tx.incident.findUniqueOrThrow({ where: { id: incidentId } });
      const target = request.kind === "service" ? request.service : request.userId;
      const dedupKey = `firebreak-${incident.id}-${request.kind}-${target}-${requestKey.replace(/[^A-Za-z0-9.-]/g, "").slice(-40)}`;
      const page = await tx.page.create({ data: { incidentId, targetKind: request.kind, target, dedupKey, message, requestedById } });
      const since = deps.clock.now().toISOString();
      const options = { dedupeKey: `page:${page.id}:${request.kind}`, priority: severityPriority(incident.severity) - 5, incidentId, maxAttempts: PAGE_MAX_ATTEMPTS };
      if (request.kind === "service") {
        await sendPageJob.enqueue(tx, { pageId: page.id, action: "trigger", cycle: page.cycle, since }, { ...options, rateKey: `pagerduty.events:${request.service}` });
      } else {
        await userPageJob.enqueue(tx, { pageId: page.id, since }, { ...options, rateKey: "pagerduty.rest" });
      }
      return "queued" as const;
    });
    deps.wakeJobs();
    return outcome;
  }

  return {
    subscriber,
    requestPage,
    pagedServices,
    jobs: [send, pageUser, oncall] as const,
  };
}

export type PagingFlows = ReturnType<typeof createPagingFlows>;
