import type { Config } from "../config/env.ts";
import type { FileConfig } from "../config/file.ts";
import type { Database, Db, PrismaClient } from "../db/client.ts";
import type { EventCatalogue, EventKinds } from "../events/catalogue.ts";
import type { TimelineEventType } from "../events/models.ts";
import type { LifecycleBus, LifecycleSubscriber } from "../events/lifecycle.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Foreground } from "../lib/foreground.ts";
import type { Logger } from "../lib/logger.ts";
import type { SlackApi } from "../slack/api.ts";
import type { Clock } from "./clock.ts";
import type { HttpServer } from "../http/server.ts";
import type { JobDefinition } from "../queue/models.ts";
import type { RegisteredSubcommand } from "../slack/commands.ts";
import type { SlackListeners } from "../slack/listeners.ts";

/**
 * What a capability contributes to Firebreak. Each capability folder exposes
 * one factory returning a module; the composition root (src/app.ts) lists
 * the modules and wires what they declare: nothing else names a capability.
 */
export type FirebreakModule<E extends TimelineEventType = never> = ModuleContributions &
  // A module that declares event types must bring their kinds (its share of the event catalogue).
  ([E] extends [never] ? { readonly events?: undefined } : { readonly events: EventKinds<E> });

/** Any module, whatever event types it brings. */
export type AnyModule = ModuleContributions & { readonly events?: object };

export interface ModuleContributions {
  /** Names the module in logs and start-up errors. */
  readonly name: string;
  /** Its job kinds, each declared once (`jobType(kind, schema).handler(...)`). */
  readonly jobs?: readonly JobDefinition[];
  /** Its `/incident` subcommands; `/incident help` lists them. */
  readonly subcommands?: readonly RegisteredSubcommand[];
  /** Registers its Slack listeners (actions, views, shortcuts, events). */
  readonly slack?: (app: SlackListeners) => void;
  /** Registers its HTTP routes. */
  readonly routes?: (server: HttpServer) => void;
  /** Reacts to lifecycle changes inside their transaction. */
  readonly subscribers?: readonly LifecycleSubscriber[];
  /** Housekeeping run with the job worker's periodic sweep; returns how many rows it removed. */
  readonly maintenance?: ReadonlyArray<{ name: string; run(): Promise<number> }>;
  /**
   * Runs the module's busiest database path (the declare, say) inside `tx`, a transaction that is
   * always rolled back, once at start-up before the app listens: the first real request finds
   * Prisma's query plans made and the code run once. Nothing it writes stays; it must not call
   * out of the process (Slack, PagerDuty...). See src/core/rehearsal.ts.
   */
  readonly rehearse?: (tx: Db) => Promise<void>;
  /** Blocks under an open incident's header buttons (Block Kit, built by the module's views). */
  readonly header?: (incident: HeaderIncident) => readonly unknown[];
}

type EventsOf<M> = M extends { readonly events?: infer K } ? keyof K & TimelineEventType : never;
/** The event types no module defines. */
export type MissingEventKinds<M extends readonly AnyModule[]> = Exclude<TimelineEventType, EventsOf<M[number]>>;

/**
 * The event catalogue, from the modules' kinds. Checked by the compiler: when
 * a type declared in TimelineEventData has no kind in any listed module, this
 * call asks for a second argument naming the missing types, and does not compile.
 */
export function catalogueOf<const M extends readonly AnyModule[]>(
  modules: M,
  ..._complete: [MissingEventKinds<M>] extends [never] ? [] : [missingEventKinds: MissingEventKinds<M>]
): EventCatalogue {
  return Object.freeze(Object.assign({}, ...modules.map((module) => module.events ?? {})) as EventCatalogue);
}

/** What a module sees of the incident whose header it adds to. */
export interface HeaderIncident {
  readonly id: string;
  readonly number: number;
  readonly services?: readonly string[] | null | undefined;
}

/** Everything the modules declare, gathered for the composition root. */
export function gather(modules: readonly AnyModule[]) {
  return {
    jobs: modules.flatMap((module) => module.jobs ?? []),
    subcommands: modules.flatMap((module) => module.subcommands ?? []),
    slack: modules.flatMap((module) => (module.slack ? [module.slack] : [])),
    routes: modules.flatMap((module) => (module.routes ? [module.routes] : [])),
    subscribers: modules.flatMap((module) => module.subscribers ?? []),
    maintenance: modules.flatMap((module) => module.maintenance ?? []),
    header: modules.flatMap((module) => (module.header ? [module.header] : [])),
    rehearsals: modules.flatMap((module) => (module.rehearse ? [{ name: module.name, run: module.rehearse }] : [])),
  };
}

/**
 * The shared infrastructure every module factory may draw on (each takes a
 * `Pick` of what it uses). Capabilities' own services are passed explicitly,
 * e.g. the incident module's lifecycle to the alert module.
 */
export interface Core {
  readonly config: Config;
  readonly fileConfig: FileConfig;
  readonly prisma: PrismaClient;
  readonly sql: Database["sql"];
  readonly slack: SlackApi;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly bus: LifecycleBus;
  /** Every timeline event type's kind, assembled from the modules once they are all built (read it when handling, not while constructing). */
  readonly events: () => EventCatalogue;
  /** Wakes the job worker after a commit that enqueued jobs. */
  readonly wakeJobs: () => void;
  /** Slack commands and interactions waiting for their answer (background work may hold back for them). */
  readonly foreground: Foreground;
  /** The bot's own Slack user id (from auth.test). */
  readonly botUserId: () => string;
  /** The Slack workspace id (from auth.test), for links into Slack. */
  readonly teamId: () => string | undefined;
  /** The blocks the modules add to an open incident's header (each module's `header`), read when a header is built. */
  readonly headerBlocks: (incident: HeaderIncident) => readonly unknown[];
}
