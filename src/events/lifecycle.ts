import type { Db } from "../db/client.ts";
import type { EventSource, IncidentStatus, Severity } from "../generated/prisma/enums.ts";

/**
 * The incident lifecycle's domain events. The incident capability publishes
 * them inside the transaction of the change; subscribers (paging,
 * remediation, the post-mortem, the incident's own follow-ups) react in that
 * same transaction, typically by enqueueing durable jobs, so a change and
 * everything it sets off commit together or not at all.
 */

/** Who did it: a person in Slack, or a system acting on its own. */
export type Actor = { kind: "user"; userId: string } | { kind: "system"; source: Exclude<EventSource, "SLACK"> };

export const userActor = (userId: string): Actor => ({ kind: "user", userId });
export const systemActor = (source: Exclude<EventSource, "SLACK">): Actor => ({ kind: "system", source });

/** The source recorded on the timeline for an actor. */
export function sourceOf(actor: Actor): EventSource {
  return actor.kind === "user" ? "SLACK" : actor.source;
}

/** The incident as it is after the change. */
export interface IncidentSnapshot {
  readonly id: string;
  readonly number: number;
  readonly title: string;
  readonly severity: Severity;
  readonly status: IncidentStatus;
  readonly private: boolean;
  readonly channelId: string | null;
  readonly commanderId: string | null;
  readonly services: readonly string[];
}

export type LifecycleEvent =
  | { type: "incident.declared"; incident: IncidentSnapshot; actor: Actor; alertDeclared: boolean }
  | { type: "incident.severity_changed"; incident: IncidentSnapshot; actor: Actor; from: Severity; to: Severity }
  | { type: "incident.status_changed"; incident: IncidentSnapshot; actor: Actor; from: IncidentStatus; to: IncidentStatus }
  | { type: "incident.role_changed"; incident: IncidentSnapshot; actor: Actor; role: "COMMANDER" | "SCRIBE" | "COMMS"; from: string | null; to: string }
  | { type: "incident.resolved"; incident: IncidentSnapshot; actor: Actor; eventId: string }
  | { type: "incident.reopened"; incident: IncidentSnapshot; actor: Actor };

export type LifecycleEventType = LifecycleEvent["type"];

export type LifecycleHandlers = {
  [T in LifecycleEventType]?: (tx: Db, event: Extract<LifecycleEvent, { type: T }>) => Promise<void>;
};

export interface LifecycleSubscriber {
  /** Names the subscriber in errors and logs. */
  readonly name: string;
  readonly on: LifecycleHandlers;
}

export interface LifecycleBus {
  /** Runs every subscriber's handler for the event, in registration order, inside `tx`; a failure rolls the change back. */
  publish(tx: Db, event: LifecycleEvent): Promise<void>;
  subscribe(...subscribers: readonly LifecycleSubscriber[]): void;
}

export function createLifecycleBus(): LifecycleBus {
  const subscribers: LifecycleSubscriber[] = [];
  return {
    async publish(tx, event) {
      for (const subscriber of subscribers) {
        const handler = subscriber.on[event.type] as ((tx: Db, event: LifecycleEvent) => Promise<void>) | undefined;
        if (handler) await handler(tx, event);
      }
    },
    subscribe(...more) {
      subscribers.push(...more);
    },
  };
}

export function snapshot(incident: Omit<IncidentSnapshot, "services"> & { services?: readonly string[] | null }): IncidentSnapshot {
  return {
    id: incident.id,
    number: incident.number,
    title: incident.title,
    severity: incident.severity,
    status: incident.status,
    private: incident.private,
    channelId: incident.channelId,
    commanderId: incident.commanderId,
    services: [...(incident.services ?? [])],
  };
}
