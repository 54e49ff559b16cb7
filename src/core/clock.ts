/**
 * The time, injected: every "now" in src/ comes from a Clock, so tests can
 * run time forward instead of sleeping. Production uses `systemClock`.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
