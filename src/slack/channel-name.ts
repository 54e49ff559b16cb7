import { SLACK_LIMITS } from "./text.ts";

/**
 * Incident channel names: `inc-<number>-<slug>`, lowercase, only a-z, 0-9 and
 * hyphens (Slack also allows underscores; we don't produce them), at most 80
 * characters. When Slack answers `name_taken`, the next attempt appends
 * `-2`, `-3`... while keeping the name within the limit.
 */
export function slugify(title: string): string {
  return title
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

export function incidentChannelName(number: number, title: string, attempt = 1, prefix = "inc"): string {
  const base = `${prefix}-${number}`;
  const suffix = attempt > 1 ? `-${attempt}` : "";
  const room = SLACK_LIMITS.channelName - base.length - suffix.length - 1;
  const slug = slugify(title).slice(0, Math.max(0, room)).replace(/-+$/g, "");
  return slug ? `${base}-${slug}${suffix}` : `${base}${suffix}`;
}

/** Slack's own rule for channel names, used to validate the configured prefix. */
export function isValidChannelName(name: string): boolean {
  return name.length > 0 && name.length <= SLACK_LIMITS.channelName && /^[a-z0-9][a-z0-9_-]*$/.test(name);
}
