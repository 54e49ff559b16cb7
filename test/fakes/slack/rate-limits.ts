/**
 * Slack's Web API rate limits, as the fake enforces them by default.
 *
 * Slack limits each method per app per workspace in tiers (docs.slack.dev/apis/web-api/rate-limits):
 * Tier 1 "1+ per minute, a small amount of burst behavior is tolerated", Tier 2 "20+ per minute,
 * occasional bursts of more", Tier 3 "50+ per minute, sporadic bursts are welcome", Tier 4
 * "100+ per minute, generous burst behavior", and special limits: chat.postMessage "generally
 * allows posting one message per second per channel" ("short bursts >1 allowed") under a
 * workspace-wide limit of "several hundred messages per minute"; auth.test and chat.getPermalink
 * "hundreds of requests per minute". Each method's tier is the one on its page
 * (docs.slack.dev/reference/methods/<method>, "Rate limits"), the same table as the official Java
 * SDK's MethodsRateLimits.
 *
 * Slack publishes no burst sizes. The fake models each limit as a token bucket that refills at
 * the documented rate and holds `burst` calls, on the strict side of the documented tolerance:
 * an app that copes with the fake copes with Slack. A refused call answers like Slack: HTTP 429,
 * `Retry-After: <seconds>` (until the bucket holds a call again, at least 1) and
 * `{"ok":false,"error":"ratelimited"}`; it does not use up a call. Every other call counts,
 * failed ones too (name_taken, invalid_arguments...), as they do at Slack.
 */

export interface RateLimit {
  /** Sustained rate. */
  readonly perMinute: number;
  /** Calls accepted at once (the bucket's size). */
  readonly burst: number;
}

export type Tier = "tier1" | "tier2" | "tier3" | "tier4" | "special";

export interface MethodRateLimit {
  readonly tier: Tier;
  /** Per app per workspace, all channels together. */
  readonly workspace: RateLimit;
  /** Per channel as well (chat.postMessage). */
  readonly perChannel?: RateLimit;
}

export const TIER_LIMITS: Readonly<Record<Exclude<Tier, "special">, RateLimit>> = {
  tier1: { perMinute: 1, burst: 2 },
  tier2: { perMinute: 20, burst: 2 },
  tier3: { perMinute: 50, burst: 5 },
  tier4: { perMinute: 100, burst: 10 },
};

function tier(name: Exclude<Tier, "special">): MethodRateLimit {
  return { tier: name, workspace: TIER_LIMITS[name] };
}

/** "Hundreds of requests per minute" (auth.test, chat.getPermalink). */
const HUNDREDS_PER_MINUTE: MethodRateLimit = { tier: "special", workspace: { perMinute: 600, burst: 60 } };

/** The limit of every method the fake implements (fake-slack.test.ts checks that none is missing). */
export const METHOD_RATE_LIMITS: Readonly<Record<string, MethodRateLimit>> = {
  // Tier 1 (1+ per minute, "a small amount of burst behavior is tolerated"): room for a start and
  // a couple of reconnects (disconnect, dropped connection) in quick succession, no more.
  "apps.connections.open": { tier: "tier1", workspace: { perMinute: 1, burst: 3 } },
  "auth.test": HUNDREDS_PER_MINUTE,
  "bookmarks.add": tier("tier2"),
  "bookmarks.edit": tier("tier2"),
  "bookmarks.list": tier("tier3"),
  "chat.getPermalink": HUNDREDS_PER_MINUTE,
  "chat.postEphemeral": tier("tier4"),
  "chat.postMessage": { tier: "special", workspace: { perMinute: 300, burst: 30 }, perChannel: { perMinute: 60, burst: 3 } },
  "chat.update": tier("tier3"),
  "conversations.create": tier("tier2"),
  "conversations.history": tier("tier3"),
  "conversations.info": tier("tier3"),
  "conversations.invite": tier("tier3"),
  "conversations.join": tier("tier3"),
  "conversations.list": tier("tier2"),
  "conversations.members": tier("tier4"),
  "conversations.replies": tier("tier3"),
  "conversations.setPurpose": tier("tier2"),
  "conversations.setTopic": tier("tier2"),
  "files.completeUploadExternal": tier("tier4"),
  "files.getUploadURLExternal": tier("tier4"),
  "pins.add": tier("tier2"),
  "pins.remove": tier("tier2"),
  "reactions.add": tier("tier3"),
  "usergroups.users.list": tier("tier2"),
  "users.info": tier("tier4"),
  "users.lookupByEmail": tier("tier3"),
  "views.open": tier("tier4"),
  "views.publish": tier("tier4"),
  "views.update": tier("tier4"),
};

/**
 * A test's own limits for some methods, replacing the defaults (say why next to it): `false`
 * lifts a method's limit; `perChannel: false` lifts only chat.postMessage's per-channel one.
 */
export type RateLimitOverride = false | { readonly perMinute?: number; readonly burst?: number; readonly perChannel?: false | Partial<RateLimit> };

export type RateLimitOverrides = Readonly<Record<string, RateLimitOverride>>;

/** Float dust: a call that waited exactly the refill time is accepted. */
const EPSILON = 1e-9;

interface Bucket {
  tokens: number;
  at: number;
}

function checkLimit(method: string, limit: RateLimit): RateLimit {
  if (!(limit.perMinute > 0) || !Number.isFinite(limit.perMinute) || !Number.isInteger(limit.burst) || limit.burst < 1) {
    throw new TypeError(`Fake Slack rate limit for ${method}: perMinute must be a positive number and burst a positive integer`);
  }
  return limit;
}

/** The effective limits: the defaults with a test's overrides applied (undefined: not limited). */
export function effectiveLimits(overrides: RateLimitOverrides = {}): Map<string, MethodRateLimit> {
  const limits = new Map<string, MethodRateLimit>();
  for (const method of Object.keys(overrides)) {
    if (METHOD_RATE_LIMITS[method] === undefined) {
      throw new TypeError(`Fake Slack rateLimits: "${method}" is not a method the fake implements`);
    }
  }
  for (const [method, base] of Object.entries(METHOD_RATE_LIMITS)) {
    const override = overrides[method];
    if (override === false) continue;
    if (override === undefined) {
      limits.set(method, base);
      continue;
    }
    const { perChannel, ...workspace } = override;
    const channel =
      perChannel === false || base.perChannel === undefined ? undefined : checkLimit(method, { ...base.perChannel, ...perChannel });
    limits.set(method, {
      tier: base.tier,
      workspace: checkLimit(method, { ...base.workspace, ...workspace }),
      ...(channel !== undefined ? { perChannel: channel } : {}),
    });
  }
  return limits;
}

/** Token buckets per method (and per channel where Slack limits per channel), on an injectable clock. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: ReadonlyMap<string, MethodRateLimit>,
    private readonly clock: () => number,
  ) {}

  private level(key: string, limit: RateLimit, now: number): Bucket {
    const bucket = this.buckets.get(key) ?? { tokens: limit.burst, at: now };
    const refilled = Math.min(limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) * limit.perMinute) / 60_000);
    return { tokens: refilled, at: now };
  }

  /**
   * Counts one call to `method` (in `channel`, an ID, when given). Returns undefined when
   * accepted, else the whole seconds after which the refused call would be accepted.
   */
  take(method: string, channel: string | undefined): number | undefined {
    const limit = this.limits.get(method);
    if (limit === undefined) return undefined;
    const now = this.clock();
    const checks: Array<{ key: string; limit: RateLimit }> = [{ key: method, limit: limit.workspace }];
    if (limit.perChannel !== undefined && channel !== undefined) checks.push({ key: `${method} ${channel}`, limit: limit.perChannel });
    const levels = checks.map((check) => ({ ...check, bucket: this.level(check.key, check.limit, now) }));
    const waitMs = Math.max(0, ...levels.map(({ bucket, limit: l }) => (bucket.tokens >= 1 - EPSILON ? 0 : ((1 - bucket.tokens) * 60_000) / l.perMinute)));
    // Whole milliseconds first: float dust (1000.0000001 ms) must not add a second.
    if (waitMs > 0) return Math.max(1, Math.ceil(Math.round(waitMs) / 1_000));
    for (const { key, bucket } of levels) this.buckets.set(key, { tokens: Math.max(0, bucket.tokens - 1), at: bucket.at });
    return undefined;
  }

  reset(): void {
    this.buckets.clear();
  }
}
