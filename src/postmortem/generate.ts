import { kindOf, type EventCatalogue, type PostmortemLine } from "../events/catalogue.ts";
import type { ParticipantRole } from "../generated/prisma/enums.ts";
import { STATUS_LABEL, incidentRef } from "../incident/models.ts";
import { reviewBlameless, type ReviewText } from "./blameless.ts";
import { humanDuration, incidentMetrics } from "./metrics.ts";
import {
  PHASES,
  type DocumentActionItem,
  type DocumentAlert,
  type DocumentHeader,
  type DocumentMetric,
  type DocumentPhase,
  type DocumentPrompt,
  type DocumentRemediation,
  type Phase,
  type PostmortemDocument,
  type PostmortemEvent,
  type PostmortemInput,
  type PromptId,
  type Stamp,
  type TimelineEntry,
} from "./models.ts";
import { BARE_USER_ID, mermaidLabel, slackToPlain, type MentionRenderer } from "./text.ts";
import { createClock, type Clock } from "./time.ts";

export { renderHtml, renderMarkdown, toJson } from "./render.ts";

/** At most this many moments in the Mermaid diagram; the full timeline is listed below it. */
export const DIAGRAM_LIMIT = 40;
const DIAGRAM_LABEL_MAX = 60;

export const PHASE_INFO: Readonly<Record<Phase, { label: string; description: string }>> = {
  detect: { label: "Detect", description: "From the first signal to the declaration." },
  respond: { label: "Respond", description: "From the declaration to the first mitigation." },
  mitigate: { label: "Mitigate", description: "From the first mitigation to the resolution." },
  resolve: { label: "Resolve", description: "The resolution, and any reopening after it." },
};

/** The blameless prompts, in order, with their guiding questions. */
export const PROMPTS: ReadonlyArray<{ id: PromptId; title: string; questions: readonly string[] }> = [
  {
    id: "what-happened",
    title: "What happened",
    questions: [
      "What did customers and internal users experience, and for how long?",
      "What did responders see at each step, and what did they know at the time?",
      "Which decisions were made, and what made them look right at that moment?",
    ],
  },
  {
    id: "contributing-factors",
    title: "Contributing factors",
    questions: [
      "Which systems, changes and conditions combined to cause the failure? (Systems and conditions, not people.)",
      "What made the problem possible, and what made it hard to detect or diagnose?",
      "Which safeguards (tests, reviews, alerts, limits) were missing, bypassed or did not work?",
    ],
  },
  {
    id: "went-well",
    title: "What went well",
    questions: [
      "What helped us detect, understand or mitigate the problem quickly?",
      "Which tools, runbooks or practices worked as intended?",
    ],
  },
  {
    id: "went-poorly",
    title: "What went poorly",
    questions: [
      "Where did the response slow down (access, tooling, communication, hand-offs)?",
      "What information was missing, late or misleading?",
    ],
  },
  {
    id: "got-lucky",
    title: "Where we got lucky",
    questions: [
      "What could have made this much worse, and why did it not happen this time?",
      "Which safeguards did we rely on by chance rather than by design?",
    ],
  },
  {
    id: "action-items",
    title: "Follow-up action items",
    questions: [
      "What will prevent this class of failure, or detect it sooner?",
      "What would make the response faster or easier next time?",
      "Does each item have an owner, a due date and a priority?",
    ],
  },
];

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

const REMEDIATION_LABEL: Readonly<Record<string, string>> = {
  REQUESTED: "requested, not run",
  DENIED: "denied",
  CANCELLED: "cancelled",
  RUNNING: "still running",
  SUCCEEDED: "succeeded",
  FAILED: "failed",
};

const PRIORITY_ORDER = { HIGH: 0, MEDIUM: 1, LOW: 2 } as const;

/** Locale-independent ordering, so the output does not depend on the machine's locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// --- reading the event payloads (JSON from the database) defensively ---------

function field(data: unknown, key: string): unknown {
  return typeof data === "object" && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>)[key] : undefined;
}

function str(data: unknown, key: string): string | null {
  const value = field(data, key);
  return typeof value === "string" ? value : null;
}

function humanizeType(type: string): string {
  const words = type.replace(/[._]+/g, " ").trim();
  return words === "" ? "Event" : words.charAt(0).toUpperCase() + words.slice(1);
}

type Described = PostmortemLine;

interface DiagramCandidate {
  at: Date;
  phase: Phase;
  priority: number;
  label: string;
  order: number;
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

  const sortedEvents = [...input.events].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
  const firstOf = (predicate: (event: PostmortemEvent) => boolean): Date | null => sortedEvents.find(predicate)?.occurredAt ?? null;
  const mitigationAt =
    incident.mitigatedAt ?? firstOf((e) => !e.hidden && e.type === "status.changed" && str(e.data, "to") === "MONITORING");
  const firstResolvedAt = firstOf((e) => !e.hidden && e.type === "incident.resolved") ?? incident.resolvedAt;

  const phaseOf = (at: Date, type: string): Phase => {
    const t = at.getTime();
    if (type === "incident.declared") return "detect";
    if (firstResolvedAt && t >= firstResolvedAt.getTime()) return "resolve";
    if (t < incident.declaredAt.getTime()) return "detect";
    if (mitigationAt && t >= mitigationAt.getTime()) return "mitigate";
    return "respond";
  };

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

  // --- timeline --------------------------------------------------------------------
  /** Each event's line, from its kind in the catalogue; a type this version does not know shows its name and text. */
  const describe = (event: PostmortemEvent): Described | undefined => {
    const kind = kindOf(catalogue, event.type);
    if (!kind) return { label: humanizeType(event.type), detail: event.text };
    return kind.postmortem?.(event.data as never, { isPublic, nameOf: (userId) => nameOf(userId), actorId: event.actorId, severity: incident.severity });
  };

  const phases: Record<Phase, TimelineEntry[]> = { detect: [], respond: [], mitigate: [], resolve: [] };
  const diagram: DiagramCandidate[] = [];
  let removedCount = 0;
  let hiddenCount = 0;
  let order = 0;

  // Derived entries: when each alert name first started firing, and a recorded impact start.
  const derived: Array<{ at: Date; entry: Omit<TimelineEntry, "at">; priority: number; diagramLabel: string }> = [];
  const firstByName = new Map<string, { startsAt: Date }>();
  for (const alert of alertsByStart) {
    if (!firstByName.has(alert.alertname)) firstByName.set(alert.alertname, { startsAt: alert.startsAt });
  }
  const recordedStart = incident.startedAt;
  if (recordedStart && !alertsByStart.some((a) => a.startsAt.getTime() <= recordedStart.getTime())) {
    derived.push({
      at: recordedStart,
      entry: { id: "impact", type: "impact.started", label: "Impact began", detail: null, actor: null, private: false, edited: false, derived: true },
      priority: 0,
      diagramLabel: "Impact began",
    });
  }
  for (const [alertname, first] of firstByName) {
    derived.push({
      at: first.startsAt,
      entry: {
        id: `alert:${alertname}`,
        type: "alert.started",
        label: `Alert ${alertname} started firing`,
        detail: null,
        actor: null,
        private: false,
        edited: false,
        derived: true,
      },
      priority: 2,
      diagramLabel: `Alert ${alertname}`,
    });
  }

  type Item = { at: Date; kind: "derived"; d: (typeof derived)[number] } | { at: Date; kind: "event"; e: PostmortemEvent };
  const items: Item[] = [...derived.map((d): Item => ({ at: d.at, kind: "derived", d })), ...sortedEvents.map((e): Item => ({ at: e.occurredAt, kind: "event", e }))];
  // Stable: derived entries first at equal times (an alert starts before it is reported).
  items.sort((a, b) => a.at.getTime() - b.at.getTime());

  for (const item of items) {
    if (item.kind === "derived") {
      const phase = phaseOf(item.at, item.d.entry.type);
      phases[phase].push({ ...item.d.entry, at: clock.stamp(item.at) });
      diagram.push({ at: item.at, phase, priority: item.d.priority, label: item.d.diagramLabel, order: order++ });
      continue;
    }
    const event = item.e;
    const described = describe(event);
    // Events about the record itself (corrections, draft edits) are not part of the incident's story.
    if (!described) continue;
    if (event.hidden) {
      hiddenCount += 1;
      continue;
    }
    if (event.removedAt) {
      removedCount += 1;
      continue;
    }
    if (isPublic && event.private) continue;
    const stamp = clock.stamp(event.occurredAt);
    const phase = phaseOf(event.occurredAt, event.type);
    const label = plain(described.label);
    const detail = free(described.detail);
    const actor = person(event.actorId);
    if (detail !== null) reviewTexts.push({ where: `Timeline ${stamp.utc}, ${label}`, text: detail });
    phases[phase].push({
      id: event.id,
      at: stamp,
      type: event.type,
      label,
      detail,
      // "Acknowledged by Alice" needs no "· Alice" after it.
      actor: actor !== null && label.includes(actor) ? null : actor,
      private: event.private,
      edited: !isPublic && Boolean(event.editedAt),
      derived: false,
    });
    if (described.diagram) diagram.push({ at: event.occurredAt, phase, priority: described.diagram.priority, label: described.diagram.label, order: order++ });
  }
  for (const remediation of input.remediations) {
    const when = remediation.finishedAt ?? remediation.requestedAt;
    diagram.push({
      at: when,
      phase: phaseOf(when, "remediation"),
      priority: 1,
      label: `${remediation.actionKey} ${REMEDIATION_LABEL[remediation.status] ?? remediation.status.toLowerCase()}`,
      order: order++,
    });
  }

  const documentPhases: DocumentPhase[] = PHASES.map((phase) => ({ phase, ...PHASE_INFO[phase], entries: phases[phase] }));
  const entryCount = documentPhases.reduce((sum, p) => sum + p.entries.length, 0);
  const mermaid = buildMermaid(diagram, clock, `${ref} ${title}`);

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
        statusLabel: REMEDIATION_LABEL[r.status] ?? r.status.toLowerCase(),
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

/**
 * A Mermaid `timeline` of the key moments, one section per phase. At most
 * DIAGRAM_LIMIT moments, the most important first (lifecycle changes, then
 * severity changes and remediations, then alerts); a last line says how many
 * were left out. Labels are reduced to characters Mermaid reads literally.
 */
function buildMermaid(candidates: readonly DiagramCandidate[], clock: Clock, title: string): { text: string; shown: number; omitted: number } {
  const chosen =
    candidates.length <= DIAGRAM_LIMIT
      ? [...candidates]
      : [...candidates].sort((a, b) => a.priority - b.priority || a.at.getTime() - b.at.getTime() || a.order - b.order).slice(0, DIAGRAM_LIMIT);
  chosen.sort((a, b) => a.at.getTime() - b.at.getTime() || a.order - b.order);
  const omitted = candidates.length - chosen.length;
  const first = chosen[0];
  const last = chosen[chosen.length - 1];
  const withDay = first !== undefined && last !== undefined && clock.day(first.at) !== clock.day(last.at);

  const lines = ["timeline", `    title ${mermaidLabel(`${title} (times in UTC)`, DIAGRAM_LABEL_MAX + 20)}`];
  for (const phase of PHASES) {
    const inPhase = chosen.filter((c) => c.phase === phase);
    if (inPhase.length === 0) continue;
    lines.push(`    section ${PHASE_INFO[phase].label}`);
    let period: string | null = null;
    let line = "";
    for (const candidate of inPhase) {
      const next = clock.period(candidate.at, withDay);
      const label = mermaidLabel(candidate.label, DIAGRAM_LABEL_MAX);
      if (next === period) {
        line += ` : ${label}`;
        continue;
      }
      if (period !== null) lines.push(line);
      period = next;
      line = `        ${next} : ${label}`;
    }
    if (period !== null) lines.push(line);
  }
  if (omitted > 0) lines.push(`        … : ${omitted} more key ${omitted === 1 ? "moment" : "moments"} in the full timeline`);
  if (chosen.length === 0) lines.push(`    section ${PHASE_INFO.detect.label}`, "        - : No key moments recorded");
  return { text: lines.join("\n"), shown: chosen.length, omitted };
}
