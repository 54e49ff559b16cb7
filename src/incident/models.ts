import type { IncidentStatus, Severity } from "../generated/prisma/enums.ts";

export type { IncidentStatus, Severity } from "../generated/prisma/enums.ts";

export const SEVERITIES: readonly Severity[] = ["SEV1", "SEV2", "SEV3", "SEV4"];

export const SEVERITY_INFO: Readonly<Record<Severity, { label: string; emoji: string; description: string }>> = {
  SEV1: { label: "SEV1", emoji: ":red_circle:", description: "critical: customers broadly affected" },
  SEV2: { label: "SEV2", emoji: ":large_orange_circle:", description: "major: significant impact" },
  SEV3: { label: "SEV3", emoji: ":large_yellow_circle:", description: "minor: limited impact" },
  SEV4: { label: "SEV4", emoji: ":white_circle:", description: "low: no customer impact yet" },
};

export const STATUS_LABEL: Readonly<Record<IncidentStatus, string>> = {
  INVESTIGATING: "Investigating",
  IDENTIFIED: "Identified",
  MONITORING: "Monitoring",
  RESOLVED: "Resolved",
};

export const DEFAULT_SEVERITY: Severity = "SEV3";

/** "sev1", "SEV1", "1", "s1" -> "SEV1"; anything else -> undefined. */
export function parseSeverity(text: string): Severity | undefined {
  const match = /^(?:sev|s)?([1-4])$/i.exec(text.trim());
  return match ? (`SEV${match[1]}` as Severity) : undefined;
}

export function incidentRef(number: number): string {
  return `INC-${number}`;
}

/** What the views need of an incident, independent of the database row. */
export interface IncidentSummary {
  description?: string | null;
  services?: string[];
  summary?: string | null;
  acknowledgedAt?: Date | null;
  mitigatedAt?: Date | null;
  resolvedAt?: Date | null;
  lastStatusUpdateAt?: Date | null;
  id: string;
  number: number;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  private: boolean;
  commanderId: string | null;
  declaredById: string | null;
  declaredAt: Date;
  channelId: string | null;
  channelName: string | null;
}

/** An incident with its current role holders, for headers and topics. */
export interface IncidentDetail extends IncidentSummary {
  scribeId: string | null;
  commsId: string | null;
  headerMessageTs: string | null;
  bookmarkId: string | null;
  announcementChannelId: string | null;
  announcementTs: string | null;
}

export const OPEN_STATUSES: readonly IncidentStatus[] = ["INVESTIGATING", "IDENTIFIED", "MONITORING"];
