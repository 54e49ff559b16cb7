/**
 * The REST API operations the fake implements (GET /oncalls, GET /users/{id}, GET /users,
 * POST /incidents). The server checks what the contract states generically (token, Accept,
 * Content-Type, known and well-typed query parameters, the body's schema, and the answer's
 * schema); these handlers add each operation's meaning and the rules PagerDuty documents in prose.
 *
 * Errors use PagerDuty's shape `{ error: { message, code, errors? } }` and the codes of its error
 * table (developer docs, "Errors"): 2001 Invalid Input Provided, 2004 invalid since/until,
 * 2005 Invalid Query Date Range, 2006 Authentication failed, 2010 Access Denied, 2100 Not Found,
 * 1008 Requester User Not Found, 2020 Rate Limit Exceeded.
 */
import type { IncomingHttpHeaders } from "node:http";
import { isEmail, isIsoDateTime, parseIsoDateTime, type OperationContract } from "./contract.ts";
import { formatInZone, type AccountState, type FakeOnCall, type FakeToken } from "./state.ts";

export interface RestAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /**
   * What the contract's response schema is checked against when it differs from `body`: an
   * `include[]` answer puts full objects where the schema has references.
   */
  contractView?: unknown;
  /** Full objects placed by `include[]`, each checked against its own component schema. */
  included?: Array<{ schema: string; value: unknown }>;
}

export interface RestRequest {
  operation: OperationContract;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  json: unknown;
  token: FakeToken;
  now: number;
}

export function restError(status: number, message: string, code: number, errors?: string[]): RestAnswer {
  return { status, body: { error: { message, code, ...(errors && errors.length > 0 ? { errors } : {}) } } };
}

export const invalidInput = (errors: string[]): RestAnswer => restError(400, "Invalid Input Provided", 2001, errors);
export const notFound = (): RestAnswer => restError(404, "Not Found", 2100);

/** Classic pagination: limit defaults to 25 and cannot exceed 100; offset + limit cannot exceed 10000. */
function paginate<T>(items: T[], query: URLSearchParams): { page: T[]; limit: number; offset: number; more: boolean; total: number | null } | RestAnswer {
  const requested = query.get("limit") === null ? 25 : Number(query.get("limit"));
  const offset = query.get("offset") === null ? 0 : Number(query.get("offset"));
  if (requested < 1) return invalidInput(["'limit' must be at least 1"]);
  if (offset < 0) return invalidInput(["'offset' must be at least 0"]);
  // PagerDuty answers with the limit it used: a larger one is lowered to 100.
  const limit = Math.min(requested, 100);
  if (offset + limit > 10_000) return invalidInput(["Offset + limit must not exceed 10000 (classic pagination retrieves at most 10000 records)"]);
  return { page: items.slice(offset, offset + limit), limit, offset, more: offset + limit < items.length, total: query.get("total") === "true" ? items.length : null };
}

function isAnswer(value: unknown): value is RestAnswer {
  return typeof value === "object" && value !== null && "status" in value && "body" in value;
}

function listOnCalls(state: AccountState, request: RestRequest): RestAnswer {
  const { query, now } = request;
  const sinceText = query.get("since");
  const untilText = query.get("until");
  for (const [name, value] of [["since", sinceText], ["until", untilText]] as const) {
    if (value !== null && !isIsoDateTime(value)) return restError(400, "Invalid time values in 'since' and/or 'until' parameters", 2004, [`'${name}' is not a valid date-time: '${value}'`]);
  }
  // Both default to the current time; an `until` alone still starts at now.
  const since = sinceText === null ? now : parseIsoDateTime(sinceText);
  const until = untilText === null ? Math.max(now, since) : parseIsoDateTime(untilText);
  if (until < since) return restError(400, "Invalid Query Date Range", 2005, ["The 'until' time cannot be before the 'since' time"]);
  if (until > now + 90 * 24 * 3_600_000) return restError(400, "Invalid Query Date Range", 2005, ["On-call shifts are limited to 90 days in the future"]);

  const policies = query.getAll("escalation_policy_ids[]");
  const users = query.getAll("user_ids[]");
  const schedules = query.getAll("schedule_ids[]");
  let matches: FakeOnCall[] = state.onCalls.filter(
    (onCall) =>
      (policies.length === 0 || policies.includes(onCall.escalationPolicyId)) &&
      (users.length === 0 || users.includes(onCall.userId)) &&
      // "If `null` is provided in the array, it includes permanent on-calls due to direct user escalation targets."
      (schedules.length === 0 || (onCall.scheduleId === null ? schedules.includes("null") : schedules.includes(onCall.scheduleId))) &&
      (onCall.start === null || onCall.start <= until) &&
      (onCall.end === null || onCall.end > since),
  );
  matches = [...matches].sort((a, b) => a.escalationPolicyId.localeCompare(b.escalationPolicyId) || a.level - b.level || (a.start ?? -Infinity) - (b.start ?? -Infinity));
  if (query.get("earliest") === "true") {
    // "only the earliest on-call for each combination of escalation policy, escalation level, and user"
    const seen = new Set<string>();
    matches = matches.filter((onCall) => {
      const key = `${onCall.escalationPolicyId}|${onCall.level}|${onCall.userId}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  const page = paginate(matches, query);
  if (isAnswer(page)) return page;

  const timeZone = query.get("time_zone") ?? state.accountTimeZone;
  const include = new Set(query.getAll("include[]"));
  const included: NonNullable<RestAnswer["included"]> = [];
  const plain: Array<Record<string, unknown>> = [];
  const expanded: Array<Record<string, unknown>> = [];
  for (const onCall of page.page) {
    const policy = state.policies.get(onCall.escalationPolicyId);
    const user = state.users.get(onCall.userId);
    const schedule = onCall.scheduleId === null ? undefined : state.schedules.get(onCall.scheduleId);
    if (!policy || !user) continue;
    const entry = {
      escalation_policy: state.policyReference(policy),
      escalation_level: onCall.level,
      schedule: schedule ? state.scheduleReference(schedule) : null,
      user: state.userReference(user),
      start: onCall.start === null ? null : formatInZone(onCall.start, timeZone),
      end: onCall.end === null ? null : formatInZone(onCall.end, timeZone),
    };
    plain.push(entry);
    const full: Record<string, unknown> = { ...entry };
    if (include.has("users")) {
      full["user"] = state.userObject(user);
      included.push({ schema: "User", value: full["user"] });
    }
    if (include.has("escalation_policies")) {
      full["escalation_policy"] = state.policyObject(policy);
      included.push({ schema: "EscalationPolicy", value: full["escalation_policy"] });
    }
    if (include.has("schedules") && schedule) full["schedule"] = state.scheduleObject(schedule);
    expanded.push(full);
  }
  const envelope = { limit: page.limit, offset: page.offset, more: page.more, total: page.total };
  return { status: 200, body: { oncalls: expanded, ...envelope }, contractView: { oncalls: plain, ...envelope }, included };
}

function getUser(state: AccountState, request: RestRequest): RestAnswer {
  const user = state.users.get(request.params["id"] ?? "");
  if (!user) return notFound();
  return { status: 200, body: { user: state.userObject(user) } };
}

function listUsers(state: AccountState, request: RestRequest): RestAnswer {
  const { query } = request;
  const text = (query.get("query") ?? "").toLowerCase();
  const teams = query.getAll("team_ids[]");
  // PagerDuty matches the query against names and email addresses, case-insensitively. The fake's
  // account has no teams: a team filter matches nobody.
  const users = [...state.users.values()]
    .filter((user) => text === "" || user.name.toLowerCase().includes(text) || user.email.toLowerCase().includes(text))
    .filter(() => teams.length === 0)
    .sort((a, b) => a.name.localeCompare(b.name));
  const page = paginate(users, query);
  if (isAnswer(page)) return page;
  return { status: 200, body: { users: page.page.map((user) => state.userObject(user)), limit: page.limit, offset: page.offset, more: page.more, total: page.total } };
}

interface IncidentBody {
  incident: {
    type: "incident";
    title: string;
    service: { id: string; type: string };
    urgency?: "high" | "low";
    incident_key?: string;
    body?: { type: string; details?: string };
    assignments?: Array<{ assignee?: { id: string; type: string } }>;
    escalation_policy?: { id: string; type: string };
  };
}

function createIncident(state: AccountState, request: RestRequest): RestAnswer {
  const { headers, token, now } = request;
  if (token.readOnly) return restError(403, "Access Denied", 2010, ["This API key is read-only"]);
  // The `From` header: required, the email of a valid user of the account.
  const from = headers["from"];
  if (from === undefined || from.trim() === "") return restError(400, "You must specify a user's email address in the \"From\" header to perform this action", 2001);
  if (!isEmail(from.trim())) return restError(400, "Malformed \"From\" header", 2001, [`'${from}' is not an email address`]);
  const requester = state.userByEmail(from.trim());
  if (!requester) return restError(400, "Requester User Not Found", 1008, [`No user of the account has the email '${from}'`]);

  const { incident } = request.json as IncidentBody;
  const errors: string[] = [];
  if (incident.title.trim() === "") errors.push("'incident.title' is missing or blank");
  const service = state.services.get(incident.service.id);
  if (!service) errors.push(`Service Not Found: '${incident.service.id}'`);
  if (incident.assignments !== undefined && incident.escalation_policy !== undefined) errors.push("Assignments cannot be specified if an escalation policy is given");
  const assigneeIds: string[] = [];
  for (const [index, assignment] of (incident.assignments ?? []).entries()) {
    const id = assignment.assignee?.id;
    if (id === undefined) errors.push(`'incident.assignments[${index}].assignee' is required`);
    else if (!state.users.has(id)) errors.push(`Assigned To User Not Found: '${id}'`);
    else assigneeIds.push(id);
  }
  if (incident.escalation_policy !== undefined && !state.policies.has(incident.escalation_policy.id)) errors.push(`Escalation Policy Not Found: '${incident.escalation_policy.id}'`);
  if (service && incident.incident_key !== undefined && state.openIncident(service.id, incident.incident_key)) {
    // "Sending subsequent requests referencing the same service and with the same incident_key will
    // result in those requests being rejected if an open incident matches that incident_key."
    errors.push("Open incident with matching dedup key already exists on this service");
  }
  if (errors.length > 0 || !service) return restError(400, "Incident could not be created", 2001, errors);

  const created = state.createIncident({
    serviceId: service.id,
    incidentKey: incident.incident_key ?? crypto.randomUUID().replace(/-/g, ""),
    title: incident.title,
    urgency: incident.urgency ?? (service.urgency === "low" ? "low" : "high"),
    ...(incident.assignments !== undefined ? { assigneeIds } : {}),
    ...(incident.escalation_policy !== undefined ? { escalationPolicyId: incident.escalation_policy.id } : {}),
    createdVia: "rest_api",
    at: now,
    ...(incident.body?.details !== undefined ? { body: incident.body.details } : {}),
    requesterId: requester.id,
  });
  return { status: 201, body: { incident: state.incidentObject(created) } };
}

export const REST_HANDLERS: Record<string, (state: AccountState, request: RestRequest) => RestAnswer> = {
  "GET /oncalls": listOnCalls,
  "GET /users/{id}": getUser,
  "GET /users": listUsers,
  "POST /incidents": createIncident,
};
