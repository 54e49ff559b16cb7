import type { PrismaClient } from "../db/client.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { AlertStatus } from "../generated/prisma/enums.ts";
import { alertGroupsText, type AlertView } from "./views.ts";

/** Reading stored alerts and groups back, and clearing out old deliveries. */

export function labelsOf(value: Prisma.JsonValue): Record<string, string> {
  if (!value || typeof value !== "object" || Array.isArray(value)) return {};
  const out: Record<string, string> = {};
  for (const [key, inner] of Object.entries(value)) if (typeof inner === "string") out[key] = inner;
  return out;
}

export function toAlertView(alert: { fingerprint: string; status: AlertStatus; labels: Prisma.JsonValue; annotations: Prisma.JsonValue; startsAt: Date; generatorUrl: string | null }): AlertView {
  return { fingerprint: alert.fingerprint, status: alert.status, labels: labelsOf(alert.labels), annotations: labelsOf(alert.annotations), startsAt: alert.startsAt, generatorUrl: alert.generatorUrl };
}

/** `/incident alerts`: the most recently seen alert groups. */
export async function recentGroups(prisma: PrismaClient, limit: number): Promise<string> {
  const groups = await prisma.alertGroup.findMany({
    orderBy: { lastSeenAt: "desc" },
    take: limit,
    include: { incident: { select: { number: true } }, alerts: { select: { status: true } } },
  });
  return alertGroupsText(
    groups.map((group) => ({
      status: group.status,
      route: group.route,
      disposition: group.disposition,
      severity: group.severity,
      alertname: labelsOf(group.groupLabels).alertname ?? labelsOf(group.commonLabels).alertname ?? group.groupKey,
      firing: group.alerts.filter((alert) => alert.status === "FIRING").length,
      total: group.alerts.length,
      incidentNumber: group.incident?.number ?? null,
      lastSeenAt: group.lastSeenAt,
    })),
  );
}

/**
 * Deletes processed deliveries (the raw payloads) received more than
 * `retentionDays` ago, a bounded number at a time. Alerts, groups and the
 * timeline keep what they said; unprocessed deliveries are never deleted.
 */
export async function purgeOldDeliveries(prisma: PrismaClient, retentionDays: number, batch = 5_000): Promise<number> {
  return prisma.$executeRaw`
    DELETE FROM alert_deliveries WHERE id IN (
      SELECT id FROM alert_deliveries
      WHERE processed_at IS NOT NULL AND received_at < now() - (${retentionDays}::int * interval '1 day')
      LIMIT ${batch})`;
}
