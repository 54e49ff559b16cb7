import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";

export type HttpServer = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger>;
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "./metrics.ts";

/** Slack, Alertmanager and API payloads all fit well under this; larger gets 413 unread. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** A byte count as people write limits: "1 MiB", "256 KiB", "1500 bytes". */
export function humanBytes(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

export interface HttpServerDeps {
  logger: Logger;
  metrics: Metrics;
  /** Resolves when the service can do its job (database reachable). */
  checkReady(): Promise<void>;
}

/**
 * A request's logger, made only when the request logs something. Fastify makes a child logger
 * (with the request id) for every request; with redaction configured that costs about 3 % of the
 * webhook's CPU at full load, for requests that almost never log.
 */
export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Record<string, unknown>): FastifyBaseLogger {
  return new LazyChildLogger(parent, bindings);
}

/** One small object per request; its methods live on the prototype (closures per request cost more than the logger saved). */
class LazyChildLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Record<string, unknown>,
  ) {}

  #real(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings));
  }

  get level(): string {
    return this.#real().level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: Parameters<FastifyBaseLogger["fatal"]>): void {
    this.#real().fatal(...args);
  }

  error(...args: Parameters<FastifyBaseLogger["error"]>): void {
    this.#real().error(...args);
  }

  warn(...args: Parameters<FastifyBaseLogger["warn"]>): void {
    this.#real().warn(...args);
  }

  info(...args: Parameters<FastifyBaseLogger["info"]>): void {
    this.#real().info(...args);
  }

  debug(...args: Parameters<FastifyBaseLogger["debug"]>): void {
    this.#real().debug(...args);
  }

  trace(...args: Parameters<FastifyBaseLogger["trace"]>): void {
    this.#real().trace(...args);
  }

  silent(...args: Parameters<FastifyBaseLogger["silent"]>): void {
    this.#real().silent(...args);
  }

  child(...args: Parameters<FastifyBaseLogger["child"]>): FastifyBaseLogger {
    return this.#real().child(...args);
  }
}

/**
 * The one HTTP server: health, readiness and metrics here; transports
 * (Slack, later Alertmanager and the API) register their own routes.
 */
export function createHttpServer(deps: HttpServerDeps): HttpServer {
  const loggerInstance: FastifyBaseLogger = deps.logger.child({ component: "http" });
  const server = Fastify({
    loggerInstance,
    // No access log line per request (metrics count them); failures are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings) => lazyChildLogger(logger, bindings),
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    requestTimeout: 30_000,
  });

  server.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    deps.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    deps.metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) request.log.warn({ route, status: reply.statusCode }, "request failed");
  });

  server.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, "unhandled error");
    // A route may have a lower limit than the server's (the PagerDuty webhook: 256 KiB).
    const message = status === 413 ? `request body is larger than ${humanBytes(request.routeOptions.bodyLimit ?? BODY_LIMIT_BYTES)}` : status >= 500 ? "internal error" : error.message;
    void reply.status(status).send({ ok: false, error: message });
  });

  server.get("/healthz", async () => ({ status: "ok" }));

  server.get("/readyz", async (_request, reply) => {
    try {
      await deps.checkReady();
      return { status: "ready" };
    } catch (error) {
      return reply.status(503).send({ status: "unavailable", reason: error instanceof Error ? error.message : String(error) });
    }
  });

  server.get("/metrics", async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  return server;
}
