/**
 * The fake PagerDuty's account: users, escalation policies, schedules, services (with their
 * Events API v2 integration keys), on-call entries, API tokens, incidents, and how they render as
 * PagerDuty's JSON (references, full objects).
 */
import { randomBytes } from "node:crypto";

export interface FakeUser {
  readonly id: string;
  name: string;
  email: string;
  timeZone: string;
  role: "admin" | "limited_user" | "observer" | "owner" | "read_only_user" | "restricted_access" | "read_only_limited_user" | "user";
  jobTitle?: string;
}

export interface FakeEscalationPolicy {
  readonly id: string;
  name: string;
}

export interface FakeSchedule {
  readonly id: string;
  name: string;
  timeZone: string;
}

export interface FakeService {
  readonly id: string;
  name: string;
  escalationPolicyId: string;
  /** The Events API v2 integration key (routing key) that routes to this service: 32 characters. */
  integrationKey: string;
  /** "constant" urgency (PagerDuty's default: high) or urgency from the event's severity (critical/error high, warning/info low). */
  urgency: "high" | "low" | "severity_based";
}

export interface FakeOnCall {
  readonly escalationPolicyId: string;
  readonly userId: string;
  readonly level: number;
  /** null: permanent (a user targeted directly by the policy, not through a schedule). */
  readonly scheduleId: string | null;
  /** Epoch ms, or null for a permanent on-call. */
  readonly start: number | null;
  readonly end: number | null;
}

export interface FakeToken {
  readonly token: string;
  /** `Authorization: Token token=…` (API keys) or `Authorization: Bearer …` (OAuth tokens). */
  readonly scheme: "token" | "bearer";
  readonly readOnly: boolean;
}

export type IncidentStatus = "triggered" | "acknowledged" | "resolved";

export interface IncidentLogEntry {
  readonly at: number;
  readonly type: "trigger" | "acknowledge" | "resolve" | "escalate" | "reassign" | "unacknowledge" | "reopen" | "assign";
  readonly via: "events_api" | "rest_api" | "webhook_scenario";
  readonly by?: string;
  readonly summary?: string;
}

export interface FakeIncident {
  readonly id: string;
  readonly number: number;
  /** The incident key: the Events API dedup_key, or POST /incidents' incident_key (generated when absent). */
  readonly incidentKey: string;
  readonly serviceId: string;
  readonly escalationPolicyId: string;
  title: string;
  status: IncidentStatus;
  urgency: "high" | "low";
  /** User ids currently assigned. */
  assigneeIds: string[];
  escalationLevel: number;
  /** "direct_assignment" when POST /incidents named the assignees. */
  readonly assignedVia: "escalation_policy" | "direct_assignment";
  readonly createdVia: "events_api" | "rest_api";
  readonly createdAt: number;
  updatedAt: number;
  lastStatusChangeAt: number;
  lastStatusChangeBy: string | null;
  resolvedAt: number | null;
  /** Events (and REST calls) that touched this incident, oldest first. */
  readonly log: IncidentLogEntry[];
  /** The Events API routing key of the trigger, when created by an event. */
  readonly routingKey?: string;
  readonly body?: string;
  /** The `From` user of POST /incidents. */
  readonly requesterId?: string;
}

export interface UserSeed {
  id?: string;
  name: string;
  email: string;
  timeZone?: string;
  role?: FakeUser["role"];
  jobTitle?: string;
}

export interface ServiceSeed {
  id?: string;
  name: string;
  /** Default: a policy created for the service ("<name> policy"). */
  escalationPolicyId?: string;
  /** Default: 32 random hex characters. */
  integrationKey?: string;
  urgency?: FakeService["urgency"];
}

export interface OnCallSeed {
  /** Escalation level, 1 (first) by default. */
  level?: number;
  /** Through this schedule (start and end are then required); without one the on-call is permanent. */
  scheduleId?: string;
  start?: Date | string | number;
  end?: Date | string | number;
}

const ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";

function toMs(value: Date | string | number): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === "number" ? value : Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`fake PagerDuty: not a date: ${String(value)}`);
  return ms;
}

/** "2015-03-06T15:28:51-05:00" (or "…Z" in UTC), as PagerDuty renders times in a time zone. */
export function formatInZone(ms: number, timeZone: string): string {
  const date = new Date(ms);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(date)
      .map((part) => [part.type, part.value]),
  );
  const local = Date.UTC(Number(parts["year"]), Number(parts["month"]) - 1, Number(parts["day"]), Number(parts["hour"]), Number(parts["minute"]), Number(parts["second"]));
  const offsetMinutes = Math.round((local - Math.floor(ms / 1000) * 1000) / 60_000);
  const text = `${parts["year"]}-${parts["month"]}-${parts["day"]}T${parts["hour"]}:${parts["minute"]}:${parts["second"]}`;
  if (offsetMinutes === 0) return `${text}Z`;
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${text}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

export function isoUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export class AccountState {
  readonly users = new Map<string, FakeUser>();
  readonly policies = new Map<string, FakeEscalationPolicy>();
  readonly schedules = new Map<string, FakeSchedule>();
  readonly services = new Map<string, FakeService>();
  readonly tokens = new Map<string, FakeToken>();
  readonly onCalls: FakeOnCall[] = [];
  readonly incidents: FakeIncident[] = [];
  private counters = new Map<string, number>();

  constructor(
    readonly apiUrl: () => string,
    readonly webUrl: string,
    readonly accountTimeZone: string,
  ) {}

  /** PagerDuty-style ids: "P" + a kind letter + 5 characters, sequential per kind (PU00001, PS00001…). */
  nextId(kind: string): string {
    const next = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, next);
    let n = next;
    let suffix = "";
    for (let i = 0; i < 5; i += 1) {
      suffix = (ID_ALPHABET[n % ID_ALPHABET.length] ?? "0") + suffix;
      n = Math.floor(n / ID_ALPHABET.length);
    }
    return `P${kind}${suffix}`;
  }

  addUser(seed: UserSeed): FakeUser {
    const id = seed.id ?? this.nextId("U");
    if (this.users.has(id)) throw new Error(`fake PagerDuty: user ${id} exists`);
    if ([...this.users.values()].some((user) => user.email.toLowerCase() === seed.email.toLowerCase())) {
      throw new Error(`fake PagerDuty: a user with email ${seed.email} exists (PagerDuty emails are unique)`);
    }
    const user: FakeUser = { id, name: seed.name, email: seed.email, timeZone: seed.timeZone ?? this.accountTimeZone, role: seed.role ?? "user", ...(seed.jobTitle ? { jobTitle: seed.jobTitle } : {}) };
    this.users.set(id, user);
    return user;
  }

  addEscalationPolicy(seed: { id?: string; name: string }): FakeEscalationPolicy {
    const id = seed.id ?? this.nextId("E");
    if (this.policies.has(id)) throw new Error(`fake PagerDuty: escalation policy ${id} exists`);
    const policy = { id, name: seed.name };
    this.policies.set(id, policy);
    return policy;
  }

  addSchedule(seed: { id?: string; name: string; timeZone?: string }): FakeSchedule {
    const id = seed.id ?? this.nextId("C");
    if (this.schedules.has(id)) throw new Error(`fake PagerDuty: schedule ${id} exists`);
    const schedule = { id, name: seed.name, timeZone: seed.timeZone ?? this.accountTimeZone };
    this.schedules.set(id, schedule);
    return schedule;
  }

  addService(seed: ServiceSeed): FakeService {
    const id = seed.id ?? this.nextId("S");
    if (this.services.has(id)) throw new Error(`fake PagerDuty: service ${id} exists`);
    const escalationPolicyId = seed.escalationPolicyId ?? this.addEscalationPolicy({ name: `${seed.name} policy` }).id;
    if (!this.policies.has(escalationPolicyId)) throw new Error(`fake PagerDuty: no escalation policy ${escalationPolicyId} (addEscalationPolicy first)`);
    const integrationKey = seed.integrationKey ?? randomBytes(16).toString("hex");
    if (this.serviceByRoutingKey(integrationKey)) throw new Error(`fake PagerDuty: integration key ${integrationKey} is already used`);
    const service: FakeService = { id, name: seed.name, escalationPolicyId, integrationKey, urgency: seed.urgency ?? "high" };
    this.services.set(id, service);
    return service;
  }

  serviceByRoutingKey(routingKey: string): FakeService | undefined {
    return [...this.services.values()].find((service) => service.integrationKey === routingKey);
  }

  setOnCall(policyId: string, userId: string, seed: OnCallSeed = {}): FakeOnCall {
    if (!this.policies.has(policyId)) throw new Error(`fake PagerDuty: no escalation policy ${policyId}`);
    if (!this.users.has(userId)) throw new Error(`fake PagerDuty: no user ${userId}`);
    const level = seed.level ?? 1;
    if (!Number.isInteger(level) || level < 1) throw new Error("fake PagerDuty: escalation level must be an integer >= 1");
    if (seed.scheduleId !== undefined && !this.schedules.has(seed.scheduleId)) throw new Error(`fake PagerDuty: no schedule ${seed.scheduleId}`);
    if ((seed.start === undefined) !== (seed.end === undefined)) throw new Error("fake PagerDuty: give both start and end, or neither (permanent)");
    if (seed.scheduleId !== undefined && seed.start === undefined) throw new Error("fake PagerDuty: an on-call through a schedule has a start and an end");
    const start = seed.start === undefined ? null : toMs(seed.start);
    const end = seed.end === undefined ? null : toMs(seed.end);
    if (start !== null && end !== null && end <= start) throw new Error("fake PagerDuty: an on-call ends after it starts");
    const onCall: FakeOnCall = { escalationPolicyId: policyId, userId, level, scheduleId: seed.scheduleId ?? null, start, end };
    this.onCalls.push(onCall);
    return onCall;
  }

  clearOnCalls(filter: { escalationPolicyId?: string; userId?: string } = {}): void {
    for (let i = this.onCalls.length - 1; i >= 0; i -= 1) {
      const onCall = this.onCalls[i];
      if (!onCall) continue;
      if (filter.escalationPolicyId !== undefined && onCall.escalationPolicyId !== filter.escalationPolicyId) continue;
      if (filter.userId !== undefined && onCall.userId !== filter.userId) continue;
      this.onCalls.splice(i, 1);
    }
  }

  /** Users on call at `level` of a policy at `at` (all levels' first on-call users when level is omitted). */
  onCallUsers(policyId: string, level: number, at: number): string[] {
    return this.onCalls
      .filter((onCall) => onCall.escalationPolicyId === policyId && onCall.level === level && (onCall.start === null || onCall.start <= at) && (onCall.end === null || onCall.end > at))
      .map((onCall) => onCall.userId)
      .filter((id, index, all) => all.indexOf(id) === index);
  }

  userByEmail(email: string): FakeUser | undefined {
    return [...this.users.values()].find((user) => user.email.toLowerCase() === email.toLowerCase());
  }

  openIncident(serviceId: string, incidentKey: string): FakeIncident | undefined {
    return this.incidents.find((incident) => incident.serviceId === serviceId && incident.incidentKey === incidentKey && incident.status !== "resolved");
  }

  createIncident(seed: {
    serviceId: string;
    incidentKey: string;
    title: string;
    urgency: "high" | "low";
    assigneeIds?: string[];
    escalationPolicyId?: string;
    createdVia: FakeIncident["createdVia"];
    at: number;
    routingKey?: string;
    body?: string;
    requesterId?: string;
  }): FakeIncident {
    const service = this.services.get(seed.serviceId);
    if (!service) throw new Error(`fake PagerDuty: no service ${seed.serviceId}`);
    const escalationPolicyId = seed.escalationPolicyId ?? service.escalationPolicyId;
    const assigneeIds = seed.assigneeIds ?? this.onCallUsers(escalationPolicyId, 1, seed.at);
    const incident: FakeIncident = {
      id: this.nextId("I"),
      number: this.incidents.length + 1,
      incidentKey: seed.incidentKey,
      serviceId: seed.serviceId,
      escalationPolicyId,
      title: seed.title,
      status: "triggered",
      urgency: seed.urgency,
      assigneeIds,
      escalationLevel: 1,
      assignedVia: seed.assigneeIds ? "direct_assignment" : "escalation_policy",
      createdVia: seed.createdVia,
      createdAt: seed.at,
      updatedAt: seed.at,
      lastStatusChangeAt: seed.at,
      lastStatusChangeBy: null,
      resolvedAt: null,
      log: [{ at: seed.at, type: "trigger", via: seed.createdVia, ...(seed.requesterId ? { by: seed.requesterId } : {}), summary: seed.title }],
      ...(seed.routingKey ? { routingKey: seed.routingKey } : {}),
      ...(seed.body !== undefined ? { body: seed.body } : {}),
      ...(seed.requesterId ? { requesterId: seed.requesterId } : {}),
    };
    this.incidents.push(incident);
    return incident;
  }

  /** An incident by id, incident key (dedup key) or number. */
  findIncident(ref: string | number | FakeIncident): FakeIncident | undefined {
    if (typeof ref === "object") return this.incidents.find((incident) => incident.id === ref.id);
    if (typeof ref === "number") return this.incidents.find((incident) => incident.number === ref);
    // The newest incident with a key wins: a key is reused once its incident is resolved.
    return this.incidents.find((incident) => incident.id === ref) ?? [...this.incidents].reverse().find((incident) => incident.incidentKey === ref);
  }

  // ---- JSON renderings -------------------------------------------------------------------------

  userReference(user: FakeUser): Record<string, unknown> {
    return { id: user.id, type: "user_reference", summary: user.name, self: `${this.apiUrl()}/users/${user.id}`, html_url: `${this.webUrl}/users/${user.id}` };
  }

  userObject(user: FakeUser): Record<string, unknown> {
    return {
      id: user.id,
      type: "user",
      summary: user.name,
      self: `${this.apiUrl()}/users/${user.id}`,
      html_url: `${this.webUrl}/users/${user.id}`,
      name: user.name,
      email: user.email,
      time_zone: user.timeZone,
      color: "green",
      role: user.role,
      avatar_url: `https://secure.gravatar.com/avatar/${Buffer.from(user.email.toLowerCase()).toString("hex").slice(0, 32)}.png?d=mm&r=PG`,
      description: null,
      invitation_sent: false,
      job_title: user.jobTitle ?? "",
      teams: [],
      contact_methods: [],
      notification_rules: [],
    };
  }

  policyReference(policy: FakeEscalationPolicy): Record<string, unknown> {
    return { id: policy.id, type: "escalation_policy_reference", summary: policy.name, self: `${this.apiUrl()}/escalation_policies/${policy.id}`, html_url: `${this.webUrl}/escalation_policies/${policy.id}` };
  }

  policyObject(policy: FakeEscalationPolicy): Record<string, unknown> {
    const levels = [...new Set(this.onCalls.filter((onCall) => onCall.escalationPolicyId === policy.id).map((onCall) => onCall.level))].sort((a, b) => a - b);
    return {
      id: policy.id,
      type: "escalation_policy",
      summary: policy.name,
      self: `${this.apiUrl()}/escalation_policies/${policy.id}`,
      html_url: `${this.webUrl}/escalation_policies/${policy.id}`,
      name: policy.name,
      num_loops: 0,
      on_call_handoff_notifications: "if_has_services",
      escalation_rules: levels.map((level) => {
        const targets = this.onCalls
          .filter((onCall) => onCall.escalationPolicyId === policy.id && onCall.level === level)
          .map((onCall) => {
            const schedule = onCall.scheduleId === null ? undefined : this.schedules.get(onCall.scheduleId);
            if (schedule) return this.scheduleReference(schedule);
            const user = this.users.get(onCall.userId);
            return user ? this.userReference(user) : undefined;
          })
          .filter((target): target is Record<string, unknown> => target !== undefined)
          .filter((target, index, all) => all.findIndex((other) => other["id"] === target["id"]) === index);
        return { id: `${policy.id}R${level}`, escalation_delay_in_minutes: 30, targets };
      }),
      services: [...this.services.values()].filter((service) => service.escalationPolicyId === policy.id).map((service) => this.serviceReference(service)),
      teams: [],
    };
  }

  scheduleReference(schedule: FakeSchedule): Record<string, unknown> {
    return { id: schedule.id, type: "schedule_reference", summary: schedule.name, self: `${this.apiUrl()}/schedules/${schedule.id}`, html_url: `${this.webUrl}/schedules/${schedule.id}` };
  }

  scheduleObject(schedule: FakeSchedule): Record<string, unknown> {
    return { id: schedule.id, type: "schedule", summary: schedule.name, self: `${this.apiUrl()}/schedules/${schedule.id}`, html_url: `${this.webUrl}/schedules/${schedule.id}`, name: schedule.name, time_zone: schedule.timeZone };
  }

  serviceReference(service: FakeService): Record<string, unknown> {
    return { id: service.id, type: "service_reference", summary: service.name, self: `${this.apiUrl()}/services/${service.id}`, html_url: `${this.webUrl}/service-directory/${service.id}` };
  }

  incidentObject(incident: FakeIncident): Record<string, unknown> {
    const service = this.services.get(incident.serviceId);
    const policy = this.policies.get(incident.escalationPolicyId);
    const lastBy = incident.lastStatusChangeBy === null ? undefined : this.users.get(incident.lastStatusChangeBy);
    const assignedAt = isoUtc([...incident.log].reverse().find((entry) => entry.type === "trigger" || entry.type === "assign" || entry.type === "escalate" || entry.type === "reassign")?.at ?? incident.createdAt);
    return {
      id: incident.id,
      type: "incident",
      summary: `[#${incident.number}] ${incident.title}`,
      self: `${this.apiUrl()}/incidents/${incident.id}`,
      html_url: `${this.webUrl}/incidents/${incident.id}`,
      incident_number: incident.number,
      title: incident.title,
      created_at: isoUtc(incident.createdAt),
      updated_at: isoUtc(incident.updatedAt),
      status: incident.status,
      incident_key: incident.incidentKey,
      service: service ? this.serviceReference(service) : { id: incident.serviceId, type: "service_reference" },
      assignments: incident.status === "resolved" ? [] : incident.assigneeIds.flatMap((id) => {
        const user = this.users.get(id);
        return user ? [{ at: assignedAt, assignee: this.userReference(user) }] : [];
      }),
      assigned_via: incident.assignedVia,
      last_status_change_at: isoUtc(incident.lastStatusChangeAt),
      last_status_change_by: lastBy ? this.userReference(lastBy) : service ? this.serviceReference(service) : null,
      resolved_at: incident.resolvedAt === null ? null : isoUtc(incident.resolvedAt),
      first_trigger_log_entry: {
        id: `R${incident.id}T1`,
        type: "trigger_log_entry_reference",
        summary: incident.createdVia === "events_api" ? "Triggered through the API." : "Triggered through the website.",
        self: `${this.apiUrl()}/log_entries/R${incident.id}T1?incident_id=${incident.id}`,
        html_url: `${this.webUrl}/incidents/${incident.id}/log_entries/R${incident.id}T1`,
      },
      escalation_policy: policy ? this.policyReference(policy) : { id: incident.escalationPolicyId, type: "escalation_policy_reference" },
      teams: [],
      urgency: incident.urgency,
      ...(incident.body !== undefined ? { body: { type: "incident_body", details: incident.body } } : {}),
    };
  }

  reset(): void {
    this.users.clear();
    this.policies.clear();
    this.schedules.clear();
    this.services.clear();
    this.onCalls.length = 0;
    this.incidents.length = 0;
    this.counters.clear();
  }
}
