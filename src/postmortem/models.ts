import type {
  ActionItemPriority,
  ActionItemStatus,
  AlertStatus,
  EventSource,
  IncidentStatus,
  ParticipantRole,
  RemediationStatus,
  Severity,
} from "../generated/prisma/enums.ts";
import type { Finding } from "./blameless.ts";

/**
 * The post-mortem generator's input: plain data, independent of Prisma, so
 * that the draft is a pure function of the incident's record (the loader that
 * reads the database lives elsewhere and only maps rows to these shapes).
 */
export interface PostmortemInput {
  incident: PostmortemIncident;
  /** Current participants, in the order to list them (e.g. by join time). */
  participants: readonly PostmortemParticipant[];
  /** Every timeline event of the incident, hidden and removed ones included (the generator filters). */
  events: readonly PostmortemEvent[];
  alerts: readonly PostmortemAlert[];
  remediations: readonly PostmortemRemediation[];
  actionItems: readonly PostmortemActionItem[];
  /**
   * Text written for the blameless prompts through Firebreak, keyed by prompt
   * id. Optional: a fresh draft has none. Reviewed like every other free text.
   */
  answers?: Partial<Record<PromptId, string>>;
  options: PostmortemOptions;
}

export interface PostmortemIncident {
  number: number;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  private: boolean;
  /** Service keys. */
  services: readonly string[];
  /** The resolve summary. */
  summary: string | null;
  description: string | null;
  declaredAt: Date;
  /** When impact started, if recorded (the first alert's startsAt for alert-declared incidents). */
  startedAt: Date | null;
  acknowledgedAt: Date | null;
  mitigatedAt: Date | null;
  resolvedAt: Date | null;
  commanderId: string | null;
  declaredById: string | null;
  /** Derived from the title, so free text of a private incident. */
  channelName?: string | null;
}

export interface PostmortemParticipant {
  userId: string;
  displayName?: string | null;
  /** Roles currently held (ended assignments excluded). */
  roles: readonly ParticipantRole[];
}

export interface PostmortemEvent {
  /** The database id as a string (BigInt in the database). */
  id: string;
  /** A TimelineEventType for the known types; unknown types are shown with their text. */
  type: string;
  source: EventSource;
  actorId: string | null;
  /** Slack-formatted one-liner; may contain `<@U…>` mentions and `<url|label>` links. */
  text: string;
  /** The typed payload (see src/events/models.ts); read defensively. */
  data: unknown;
  occurredAt: Date;
  private: boolean;
  hidden: boolean;
  removedAt: Date | null;
  editedAt?: Date | null;
}

export interface PostmortemAlert {
  alertname: string;
  fingerprint: string;
  /** The alert's severity label, if any. */
  severity: string | null;
  status: AlertStatus;
  startsAt: Date;
  endsAt: Date | null;
  /** The summary annotation (free text). */
  summary: string | null;
}

export interface PostmortemRemediation {
  actionKey: string;
  kind: string;
  status: RemediationStatus;
  requestedById: string;
  confirmedById?: string | null;
  requestedAt: Date;
  finishedAt: Date | null;
  /** The provider's result summary (free text). */
  resultSummary: string | null;
  error: string | null;
}

export interface PostmortemActionItem {
  title: string;
  ownerId: string | null;
  /** A calendar date (stored at UTC midnight). */
  dueDate: Date | null;
  priority: ActionItemPriority;
  status: ActionItemStatus;
  externalUrl: string | null;
}

export type Audience = "internal" | "public";

export interface PostmortemOptions {
  /** IANA time zone for local times next to UTC, e.g. "Europe/Paris". */
  timeZone: string;
  /**
   * "public" drops private events, all free text of a private incident and
   * every user id and name; "internal" shows everything except hidden events.
   */
  audience: Audience;
  /** The generation time: open incidents are measured up to it. */
  now: Date;
  /** Slack user id -> display name, for people not in `participants`. */
  userNames?: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------
// Output: structured, JSON-safe (strings, numbers, booleans, null, arrays).

export const PHASES = ["detect", "respond", "mitigate", "resolve"] as const;
export type Phase = (typeof PHASES)[number];

export const PROMPT_IDS = ["what-happened", "contributing-factors", "went-well", "went-poorly", "got-lucky", "action-items"] as const;
export type PromptId = (typeof PROMPT_IDS)[number];

/** A moment in UTC and in the configured time zone. */
export interface Stamp {
  iso: string;
  /** "2026-11-22 10:05 UTC" */
  utc: string;
  /** "11:05 CET", with the date when it differs from the UTC date; null when the zone is UTC. */
  local: string | null;
  /** "2026-11-22 10:05 UTC (11:05 CET)" */
  display: string;
}

export interface PostmortemDocument {
  schemaVersion: 1;
  audience: Audience;
  generatedAt: Stamp;
  timeZone: string;
  /** True when a private incident is rendered for the public: its free text is withheld. */
  redacted: boolean;
  header: DocumentHeader;
  summary: DocumentSummary;
  metrics: DocumentMetric[];
  timeline: DocumentTimeline;
  remediations: DocumentRemediation[];
  alerts: DocumentAlert[];
  prompts: DocumentPrompt[];
  actionItems: DocumentActionItem[];
  review: DocumentReview;
  /** Short remarks about what the draft leaves out (internal audience). */
  notes: string[];
}

export interface DocumentHeader {
  ref: string;
  number: number;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  statusLabel: string;
  private: boolean;
  services: string[];
  /** Null in public exports. */
  commander: string | null;
  declaredBy: string | null;
  roles: Array<{ role: string; people: string[] }>;
  participants: string[];
  participantCount: number;
  namesWithheld: boolean;
  dates: Array<{ key: "started" | "declared" | "acknowledged" | "mitigated" | "resolved"; label: string; at: Stamp | null }>;
}

export interface DocumentSummary {
  resolveSummary: string | null;
  description: string | null;
  services: string[];
  alertCount: number;
  alertNames: Array<{ alertname: string; count: number; firing: number }>;
}

export interface DocumentMetric {
  key: "timeToDetect" | "timeToAcknowledge" | "timeToMitigate" | "timeToResolve" | "duration";
  label: string;
  ms: number | null;
  human: string;
  from: string;
  to: string;
}

export interface TimelineEntry {
  /** Event id, or "alert:<name>" / "impact" for entries derived from alerts and the start time. */
  id: string;
  at: Stamp;
  type: string;
  /** Structured description, never free text of a redacted incident. */
  label: string;
  /** Free text (note, update message, resolve summary...), null when none or withheld. */
  detail: string | null;
  actor: string | null;
  private: boolean;
  edited: boolean;
  derived: boolean;
}

export interface DocumentPhase {
  phase: Phase;
  label: string;
  description: string;
  entries: TimelineEntry[];
}

export interface DocumentTimeline {
  phases: DocumentPhase[];
  entryCount: number;
  /** Entries removed from the timeline (source message deleted, pin removed); not shown. */
  removedCount: number;
  mermaid: string;
  diagramShown: number;
  diagramOmitted: number;
}

export interface DocumentRemediation {
  actionKey: string;
  kind: string;
  status: RemediationStatus;
  statusLabel: string;
  requestedBy: string | null;
  requestedAt: Stamp;
  finishedAt: Stamp | null;
  duration: string | null;
  result: string | null;
}

export interface DocumentAlert {
  alertname: string;
  fingerprint: string;
  severity: string | null;
  status: AlertStatus;
  startsAt: Stamp;
  endsAt: Stamp | null;
  summary: string | null;
}

export interface DocumentPrompt {
  id: PromptId;
  title: string;
  questions: string[];
  /** Text written through Firebreak, or null for a fresh draft. */
  content: string | null;
}

export interface DocumentActionItem {
  /** Null when withheld (public export of a private incident). */
  title: string | null;
  owner: string | null;
  dueDate: string | null;
  overdue: boolean;
  priority: ActionItemPriority;
  status: ActionItemStatus;
  externalUrl: string | null;
}

export interface DocumentReview {
  /** Free-text parts that were checked. */
  checked: number;
  findings: Finding[];
}
