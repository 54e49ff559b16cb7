/**
 * The paging seam (PagerDuty first, through @pagerduty/pdjs). Incident flows
 * depend on this port, never on a vendor client; tests use a local HTTP fake
 * that enforces the vendor's contract (../shared/contracts/pagerduty-*.json).
 */
export interface OnCallResponder {
  /** The vendor's user id. */
  externalId: string;
  email: string;
  name: string;
}

export interface PageRequest {
  /** Stable per incident, so re-sending pages once (PagerDuty's dedup_key). */
  dedupKey: string;
  summary: string;
  severity: "critical" | "error" | "warning" | "info";
  /** Vendor routing: an Events API integration key or a service id. */
  routingKey: string;
  link?: { href: string; text: string };
}

export interface Pager {
  /** Who is on call for the escalation policy or schedule right now. */
  findOnCall(target: string): Promise<OnCallResponder | undefined>;
  trigger(request: PageRequest): Promise<void>;
  acknowledge(dedupKey: string, routingKey: string): Promise<void>;
  resolve(dedupKey: string, routingKey: string): Promise<void>;
}
