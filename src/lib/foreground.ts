/**
 * Requests someone is waiting on right now: a slash command or an interaction, before Slack is
 * answered (within its 3 s). Background work nobody waits for (alert processing: tens of queries
 * and milliseconds of CPU on the same thread) holds back before it starts while any is in flight,
 * as it does for Alertmanager's webhook (src/alert/ingest.ts, "Ingest first"), so a command
 * answered from the database is not queued behind it.
 */
export interface Foreground {
  /** Marks one request in flight; call the returned function once it is answered (a second call does nothing). */
  begin(): () => void;
  /** Requests in flight. */
  active(): number;
  /** Calls `listener` each time the last request in flight is answered. */
  onIdle(listener: () => void): void;
}

export function createForeground(): Foreground {
  let active = 0;
  const listeners: Array<() => void> = [];
  return {
    begin() {
      active += 1;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        active -= 1;
        if (active === 0) for (const listener of listeners) listener();
      };
    },
    active: () => active,
    onIdle(listener) {
      listeners.push(listener);
    },
  };
}
