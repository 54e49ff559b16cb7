import { loadConfig } from "./config/env.ts";
import { startFirebreak, type RunningFirebreak } from "./app.ts";
import { ConfigError, FirebreakError } from "./lib/errors.ts";
import { createLogger } from "./lib/logger.ts";

/**
 * Process entry point: the one place that reads process.env, installs signal
 * handlers and decides the exit code. Configuration problems are printed as
 * one sentence each, without a stack trace.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Firebreak cannot start: fix the configuration below.\n${error.problems.map((problem) => `  - ${problem}`).join("\n")}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }

  const logger = createLogger(config.log);

  // Signal handlers first: a SIGTERM that arrives while Firebreak is still starting (its
  // /readyz can already answer while the job worker starts) waits for the start to finish,
  // then drains like any other, instead of killing the process mid-way.
  let app: RunningFirebreak | undefined;
  let pending: NodeJS.Signals | undefined;
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    if (!app) {
      pending = signal;
      logger.info({ signal }, "signal during start-up: stopping as soon as started");
      return;
    }
    logger.info({ signal }, "shutting down: draining requests and jobs");
    app.stop().then(
      () => {
        logger.info("stopped cleanly");
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  try {
    app = await startFirebreak(config, { logger });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Firebreak cannot start: fix the configuration below.\n${error.problems.map((problem) => `  - ${problem}`).join("\n")}\n`);
      logger.flush();
      process.exit(78);
    }
    if (error instanceof FirebreakError) {
      process.stderr.write(`Firebreak cannot start: ${error.message}\n`);
      logger.flush();
      process.exit(1);
    }
    logger.fatal({ err: error }, "Firebreak failed to start");
    logger.flush();
    process.exit(1);
  }
  if (pending) {
    signals = 0;
    shutdown(pending);
  }
}

await main();
