import type { EventCatalogue } from "../events/catalogue.ts";
import type { ParticipantRole } from "../generated/prisma/enums.ts";
import { STATUS_LABEL, incidentRef } from "../incident/models.ts";
import { reviewBlameless, type ReviewText } from "./blameless.ts";
import { humanDuration, incidentMetrics } from "./metrics.ts";
import {
  type DocumentActionItem,
  type DocumentAlert,
  type DocumentHeader,
  type DocumentMetric,
  type DocumentPrompt,
  type DocumentRemediation,
  type PostmortemDocument,
  type PostmortemInput,
  type Stamp,
} from "./models.ts";
import { PROMPTS } from "./prompts.ts";
import { BARE_USER_ID, slackToPlain, type MentionRenderer } from "./text.ts";
import { createClock } from "./time.ts";
import { REMEDIATION_LABEL, buildTimelineSection } from "./timeline-section.ts";

export { renderHtml, renderMarkdown, toJson } from "./render.ts";

const ROLE_LABEL: Readonly<Record<ParticipantRole, string>> = {
  COMMANDER: "Commander",
  SCRIBE: "Scribe",
  COMMS: "Comms lead",
  RESPONDER: "Responder",
};

/** How a person is referred to in public exports, where names and ids are withheld. */
const ROLE_PUBLIC: Readonly<Record<ParticipantRole, string>> = {
  COMMANDER: "the incident commander",
  SCRIBE: "the scribe",
  COMMS: "the comms lead",
  RESPONDER: "a responder",
};

const PRIORITY_ORDER = { HIGH: 0, MEDIUM: 1, LOW: 2 } as const;

/** Locale-independent ordering, so the output does not depend on the machine's locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The post-mortem draft as a pure function of the incident's record and the
 * options (time zone, audience, "now"). No I/O, no clock, no randomness: the
 * same input gives the same document, byte for byte once rendered.
 */
export function generatePostmortem(input: PostmortemInput, catalogue: EventCatalogue): PostmortemDocument {
  const { incident, options } = input;
  const clock = createClock(options.timeZone);
  const isPublic = options.audience === "public";
  const redacted = isPublic && incident.private;

  // --- people ---------------------------------------------------------------
  const participantById = new Map(input.participants.map((p) => [p.userId, p]));
  const nameOf = (userId: string, label: string | null = null): string =>
    participantById.get(userId)?.displayName?.trim() || options.userNames?.[userId]?.trim() || label?.trim() || userId;
  const publicRole = (userId: string): string => {
    if (userId === incident.commanderId) return ROLE_PUBLIC.COMMANDER;
    const role = (["COMMANDER", "SCRIBE", "COMMS"] as const).find((r) => participantById.get(userId)?.roles.includes(r));
    return role ? ROLE_PUBLIC[role] : ROLE_PUBLIC.RESPONDER;
  };
  const person = (userId: string | null): string | null => (userId === null || isPublic ? null : nameOf(userId));
  const mention: MentionRenderer = isPublic ? (userId) => publicRole(userId) : (userId, label) => `@${nameOf(userId, label)}`;

  /** Slack text to plain text for this audience (no user ids in public exports). */
  const plain = (text: string): string => {
    const out = slackToPlain(text, mention);
    return (isPublic ? out.replace(BARE_USER_ID, ROLE_PUBLIC.RESPONDER) : out).trim();
  };
  /** Free text written by people or outside systems: withheld entirely when redacted. */
  const free = (text: string | null | undefined): string | null => {
    if (redacted || text === null || text === undefined) return null;
    const out = plain(text);
    return out === "" ? null : out;
  };
  const reviewTexts: ReviewText[] = [];
  const reviewed = (where: string, text: string | null): string | null => {
    if (text !== null) reviewTexts.push({ where, text });
    return text;
  };

  // --- impact start and lifecycle ------------------------------------------
  const alertsByStart = [...input.alerts].sort(
    (a, b) => a.startsAt.getTime() - b.startsAt.getTime() || byCodePoint(a.alertname, b.alertname) || byCodePoint(a.fingerprint, b.fingerprint),
  );
  const firstAlert = alertsByStart[0] ?? null;
  const startCandidates = [incident.startedAt, firstAlert?.startsAt ?? null].filter(
    (d): d is Date => d !== null && d.getTime() <= incident.declaredAt.getTime(),
  );
  const impactStart = startCandidates.length > 0 ? new Date(Math.min(...startCandidates.map((d) => d.getTime()))) : null;
  const impactFromAlert = impactStart !== null && firstAlert !== null && firstAlert.startsAt.getTime() === impactStart.getTime();

  const metricsRaw = incidentMetrics(
    {
      startedAt: impactStart,
      declaredAt: incident.declaredAt,
      acknowledgedAt: incident.acknowledgedAt,
      mitigatedAt: incident.mitigatedAt,
      resolvedAt: incident.resolvedAt,
    },
    options.now,
  );

  // --- header ----------------------------------------------------------------
  const ref = incidentRef(incident.number);
  const title = redacted ? "Private incident" : plain(incident.title) || "Untitled incident";
  if (!redacted) reviewTexts.push({ where: "Title", text: title });

  const roles: DocumentHeader["roles"] = [];
  if (!isPublic) {
    if (incident.commanderId) roles.push({ role: ROLE_LABEL.COMMANDER, people: [nameOf(incident.commanderId)] });
    for (const role of ["SCRIBE", "COMMS", "RESPONDER"] as const) {
      const people = input.participants.filter((p) => p.roles.includes(role)).map((p) => nameOf(p.userId));
      if (people.length > 0) roles.push({ role: role === "RESPONDER" ? "Responders" : ROLE_LABEL[role], people });
    }
  }
  const stampOrNull = (date: Date | null): Stamp | null => (date ? clock.stamp(date) : null);
  const header: DocumentHeader = {
    ref,
    number: incident.number,
    title,
    severity: incident.severity,
    status: incident.status,
    statusLabel: STATUS_LABEL[incident.status],
    private: incident.private,
    services: [...incident.services],
    commander: person(incident.commanderId),
    declaredBy: person(incident.declaredById),
    roles,
    participants: isPublic ? [] : input.participants.map((p) => nameOf(p.userId)),
    participantCount: input.participants.length,
    namesWithheld: isPublic,
    dates: [
      { key: "started", label: impactFromAlert ? "Impact started (first alert)" : "Impact started", at: stampOrNull(impactStart) },
      { key: "declared", label: "Declared", at: clock.stamp(incident.declaredAt) },
      { key: "acknowledged", label: "Acknowledged", at: stampOrNull(incident.acknowledgedAt) },
      { key: "mitigated", label: "Mitigated", at: stampOrNull(incident.mitigatedAt) },
      { key: "resolved", label: "Resolved", at: stampOrNull(incident.resolvedAt) },
    ],
  };

  // --- summary -----------------------------------------------------------------
  const byName = new Map<string, { count: number; firing: number }>();
  for (const alert of input.alerts) {
    const entry = byName.get(alert.alertname) ?? { count: 0, firing: 0 };
    entry.count += 1;
    if (alert.status === "FIRING") entry.firing += 1;
    byName.set(alert.alertname, entry);
  }
  const alertNames = [...byName.entries()]
    .map(([alertname, counts]) => ({ alertname, ...counts }))
    .sort((a, b) => b.count - a.count || byCodePoint(a.alertname, b.alertname));
  const summary = {
    resolveSummary: reviewed("Resolution summary", free(incident.summary)),
    description: reviewed("Description", free(incident.description)),
    services: [...incident.services],
    alertCount: input.alerts.length,
    alertNames,
  };

  // --- metrics -------------------------------------------------------------------
  const at = (label: string, date: Date | null): string => (date ? `${label}, ${clock.stamp(date).display}` : "—");
  const startLabel = impactStart ? (impactFromAlert ? "First alert" : "Impact started") : "Declared";
  const start = impactStart ?? incident.declaredAt;
  const open = incident.resolvedAt === null;
  const metricRows: Array<Omit<DocumentMetric, "human">> = [
    { key: "timeToDetect", label: "Time to detect", ms: metricsRaw.timeToDetectMs, from: at(startLabel, impactStart), to: at("Declared", incident.declaredAt) },
    { key: "timeToAcknowledge", label: "Time to acknowledge", ms: metricsRaw.timeToAcknowledgeMs, from: at("Declared", incident.declaredAt), to: at("Acknowledged", incident.acknowledgedAt) },
    { key: "timeToMitigate", label: "Time to mitigate", ms: metricsRaw.timeToMitigateMs, from: at(startLabel, start), to: at("Mitigated", incident.mitigatedAt) },
    { key: "timeToResolve", label: "Time to resolve", ms: metricsRaw.timeToResolveMs, from: at(startLabel, start), to: at("Resolved", incident.resolvedAt) },
    {
      key: "duration",
      label: open ? "Total duration (still open)" : "Total duration",
      ms: metricsRaw.durationMs,
      from: at(startLabel, start),
      to: open ? at("Draft generated", options.now) : at("Resolved", incident.resolvedAt),
    },
  ];
  const metrics: DocumentMetric[] = metricRows.map((metric) => ({ ...metric, human: humanDuration(metric.ms) }));

  // --- timeline (timeline-section.ts) ---------------------------------------------
  const { phases: documentPhases, entryCount, removedCount, hiddenCount, mermaid } = buildTimelineSection({
    incident,
    events: input.events,
    alertsByStart,
    remediations: input.remediations,
    catalogue,
    clock,
    isPublic,
    title: `${ref} ${title}`,
    nameOf: (userId) => nameOf(userId),
    plain,
    free,
    person,
    reviewTexts,
  });

  // --- remediations, alerts, action items -------------------------------------------
  const remediations: DocumentRemediation[] = [...input.remediations]
    .sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime())
    .map((r) => {
      const requestedAt = clock.stamp(r.requestedAt);
      const result = free(r.status === "FAILED" ? (r.error ?? r.resultSummary) : (r.resultSummary ?? r.error));
      if (result !== null) reviewTexts.push({ where: `Remediation ${r.actionKey} result`, text: result });
      return {
        actionKey: r.actionKey,
        kind: r.kind,
        status: r.status,
        statusLabel: REMEDIATION_LABEL[r.status],
        requestedBy: person(r.requestedById),
        requestedAt,
        finishedAt: stampOrNull(r.finishedAt),
        duration: r.finishedAt ? humanDuration(Math.max(0, r.finishedAt.getTime() - r.requestedAt.getTime())) : null,
        result,
      };
    });

  const alerts: DocumentAlert[] = alertsByStart.map((a) => {
    const text = free(a.summary);
    if (text !== null) reviewTexts.push({ where: `Alert ${a.alertname} summary`, text });
    return {
      alertname: a.alertname,
      fingerprint: a.fingerprint,
      severity: a.severity,
      status: a.status,
      startsAt: clock.stamp(a.startsAt),
      endsAt: stampOrNull(a.endsAt),
      summary: text,
    };
  });

  const today = clock.day(options.now);
  const actionItems: DocumentActionItem[] = [...input.actionItems]
    .sort(
      (a, b) =>
        PRIORITY_ORDER[a.priority] - PRIORITY_ORDER[b.priority] ||
        (a.dueDate?.getTime() ?? Number.MAX_SAFE_INTEGER) - (b.dueDate?.getTime() ?? Number.MAX_SAFE_INTEGER) ||
        byCodePoint(a.title, b.title),
    )
    .map((item) => {
      const title = free(item.title);
      if (title !== null) reviewTexts.push({ where: "Action item", text: title });
      const dueDate = item.dueDate ? clock.day(item.dueDate) : null;
      return {
        title,
        owner: person(item.ownerId),
        dueDate,
        overdue: item.status === "OPEN" && dueDate !== null && dueDate < today,
        priority: item.priority,
        status: item.status,
        externalUrl: redacted ? null : item.externalUrl,
      };
    });

  const prompts: DocumentPrompt[] = PROMPTS.map((prompt) => ({
    id: prompt.id,
    title: prompt.title,
    questions: [...prompt.questions],
    content: reviewed(prompt.title, free(input.answers?.[prompt.id])),
  }));

  // --- blameless review --------------------------------------------------------------
  const names = new Set<string>();
  for (const p of input.participants) names.add(nameOf(p.userId));
  for (const name of Object.values(options.userNames ?? {})) names.add(name);
  // One review per distinct text: a message repeated 30 times is one finding, not 30.
  const distinct = new Map<string, { where: string; repeats: number }>();
  for (const { where, text } of reviewTexts) {
    const seen = distinct.get(text);
    if (seen) seen.repeats += 1;
    else distinct.set(text, { where, repeats: 0 });
  }
  const findings = reviewBlameless(
    [...distinct].map(([text, { where, repeats }]) => ({ text, where: repeats > 0 ? `${where} (and ${repeats} more with the same text)` : where })),
    [...names].filter((n) => !/^[UW][A-Z0-9]+$/.test(n)),
  );

  const notes: string[] = [];
  if (!isPublic) {
    if (incident.private) notes.push("This incident is private: public exports leave out its title, text and private entries.");
    if (removedCount > 0) notes.push(`${removedCount} timeline ${removedCount === 1 ? "entry was" : "entries were"} removed (source message deleted or unpinned) and ${removedCount === 1 ? "is" : "are"} not shown.`);
    if (hiddenCount > 0) notes.push(`${hiddenCount} hidden timeline ${hiddenCount === 1 ? "entry is" : "entries are"} not shown.`);
  }

  return {
    schemaVersion: 1,
    audience: options.audience,
    generatedAt: clock.stamp(options.now),
    timeZone: options.timeZone,
    redacted,
    header,
    summary,
    metrics,
    timeline: {
      phases: documentPhases,
      entryCount,
      removedCount: isPublic ? 0 : removedCount,
      mermaid: mermaid.text,
      diagramShown: mermaid.shown,
      diagramOmitted: mermaid.omitted,
    },
    remediations,
    alerts,
    prompts,
    actionItems,
    review: { checked: reviewTexts.length, findings },
    notes,
  };
}
