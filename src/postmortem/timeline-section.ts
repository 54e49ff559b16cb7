import type { RemediationStatus } from "../generated/prisma/enums.ts";
import { kindOf, readEvent, type EventCatalogue, type PostmortemLine } from "../events/catalogue.ts";
import type { ReviewText } from "./blameless.ts";
import {
  PHASES,
  type DocumentPhase,
  type Phase,
  type PostmortemAlert,
  type PostmortemEvent,
  type PostmortemIncident,
  type PostmortemRemediation,
  type TimelineEntry,
} from "./models.ts";
import { mermaidLabel } from "./text.ts";
import type { Clock } from "./time.ts";

/**
 * The post-mortem's timeline section: every event, alert start and
 * remediation placed in its phase (detect, respond, mitigate, resolve), and
 * a Mermaid diagram of the key moments. Part of generatePostmortem
 * (generate.ts), and as pure.
 */

/** At most this many moments in the Mermaid diagram; the full timeline is listed below it. */
export const DIAGRAM_LIMIT = 40;
const DIAGRAM_LABEL_MAX = 60;

export const PHASE_INFO: Readonly<Record<Phase, { label: string; description: string }>> = {
  detect: { label: "Detect", description: "From the first signal to the declaration." },
  respond: { label: "Respond", description: "From the declaration to the first mitigation." },
  mitigate: { label: "Mitigate", description: "From the first mitigation to the resolution." },
  resolve: { label: "Resolve", description: "The resolution, and any reopening after it." },
};

/** How each remediation status reads. */
export const REMEDIATION_LABEL: Readonly<Record<RemediationStatus, string>> = {
  REQUESTED: "requested, not run",
  DENIED: "denied",
  CANCELLED: "cancelled",
  RUNNING: "still running",
  SUCCEEDED: "succeeded",
  FAILED: "failed",
  DRY_RUN: "dry run (nothing called)",
  APPROVAL_REQUIRED: "needed an approval (nothing changed)",
  REFUSED: "not run (refused)",
  UNKNOWN: "outcome unknown (interrupted)",
};

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

/** What the timeline section reads: the record, and how this audience sees people and text. */
export interface TimelineSectionInput {
  incident: PostmortemIncident;
  /** Every timeline event, hidden and removed ones included. */
  events: readonly PostmortemEvent[];
  /** The incident's alerts, by start time. */
  alertsByStart: readonly PostmortemAlert[];
  remediations: readonly PostmortemRemediation[];
  catalogue: EventCatalogue;
  clock: Clock;
  isPublic: boolean;
  /** The diagram's title. */
  title: string;
  nameOf: (userId: string) => string;
  /** Slack text to plain text for this audience. */
  plain: (text: string) => string;
  /** Free text written by people or outside systems; null when withheld. */
  free: (text: string | null | undefined) => string | null;
  /** Who did something; null when names are withheld. */
  person: (userId: string | null) => string | null;
  /** Collects the free text shown, for the blameless review. */
  reviewTexts: ReviewText[];
}

export interface TimelineSection {
  phases: DocumentPhase[];
  entryCount: number;
  /** Entries left out because their source message was deleted or unpinned. */
  removedCount: number;
  hiddenCount: number;
  mermaid: { text: string; shown: number; omitted: number };
}

/** The timeline section of generatePostmortem's document. */
export function buildTimelineSection(section: TimelineSectionInput): TimelineSection {
  const { incident, alertsByStart, catalogue, clock, isPublic, nameOf, plain, free, person, reviewTexts } = section;
  const sortedEvents = [...section.events].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
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

  /**
   * Each event's line, from its kind in the catalogue; undefined for kinds that are not part of the
   * incident's story. A type this version does not know, or a payload its kind's schema refuses,
   * shows its name and stored text.
   */
  const describe = (event: PostmortemEvent): Described | undefined => {
    if (kindOf(catalogue, event.type) && !kindOf(catalogue, event.type)?.postmortem) return undefined;
    const known = readEvent(catalogue, event.type, event.data);
    if (!known?.kind.postmortem) return { label: humanizeType(event.type), detail: event.text };
    return known.kind.postmortem(known.data, { isPublic, nameOf: (userId) => nameOf(userId), actorId: event.actorId, severity: incident.severity });
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
  for (const remediation of section.remediations) {
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
  const mermaid = buildMermaid(diagram, clock, section.title);
  return { phases: documentPhases, entryCount, removedCount, hiddenCount, mermaid };
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
