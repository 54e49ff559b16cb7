import { spawn, type ChildProcess } from "node:child_process";
import { TEST_BOT_TOKEN, TEST_SIGNING_SECRET } from "./slack-requests.ts";

/** The real entry point (src/main.ts) as a child process, with its output kept for the test. */
export interface StartedMain {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exit: Promise<number | null>;
}

/** Starts src/main.ts with only `env` (plus PATH, HOME, JSON logs, production mode) in its environment. */
export function startMain(env: Record<string, string>): StartedMain {
  let out = "";
  let err = "";
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_FORMAT: "json", NODE_ENV: "production", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** The environment of a Firebreak on 127.0.0.1:`port`, against the fake Slack at `slackUrl`, its embedded database in `dataDir`. */
export function mainEnv(port: number, slackUrl: string, dataDir: string): Record<string, string> {
  return {
    HOST: "127.0.0.1",
    PORT: String(port),
    SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
    SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
    SLACK_API_URL: slackUrl,
    DATA_DIR: dataDir,
  };
}
