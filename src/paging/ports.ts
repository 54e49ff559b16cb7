/**
 * The paging seam. The paging flows depend on this port, never on the vendor
 * SDK; the PagerDuty implementation is ./pagerduty.ts (through
 * @pagerduty/pdjs), tested against a local HTTPS fake that enforces
 * PagerDuty's published contract.
 */

/** Who is on call at level 1 of an escalation policy, right now. */
export interface OnCallResponder {
  /** PagerDuty's user id. */
  userId: string;
  name: string;
  /** Present when the on-call answer carried it. */
  email: string | undefined;
  /** The escalation policy's name, for messages. */
  policyName: string;
  /** When this on-call shift ends (nothing is cached past it). */
  until: Date | undefined;
}

export interface PagerDutyUser {
  id: string;
  name: string;
  email: string;
  url?: string;
}

/** An Events API v2 event about one incident's page. */
export interface PageEvent {
  action: "trigger" | "resolve";
  routingKey: string;
  /** Stable per incident and service: a repeated trigger is one page; the resolve closes it. */
  dedupKey: string;
  summary: string;
  severity: "critical" | "error" | "warning" | "info";
  /** Where the problem is (the service's name). */
  source: string;
  component: string | undefined;
  details: Readonly<Record<string, string | number>>;
  links: ReadonlyArray<{ href: string; text: string }>;
}

/** A PagerDuty incident opened on a service and assigned to one person (`/incident page @user`). */
export interface UserPage {
  serviceId: string;
  userId: string;
  /** A PagerDuty user's email, sent as `From`. */
  from: string;
  title: string;
  dedupKey: string;
  urgency: "high" | "low";
  details: string;
}

export interface Pager {
  sendEvent(page: PageEvent): Promise<void>;
  findOnCall(escalationPolicyId: string): Promise<OnCallResponder | undefined>;
  getUser(id: string): Promise<PagerDutyUser>;
  findUserByEmail(email: string): Promise<PagerDutyUser | undefined>;
  pageUser(page: UserPage): Promise<{ incidentId: string; url: string | undefined }>;
}
