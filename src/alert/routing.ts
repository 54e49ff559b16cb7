import type { Severity } from "../generated/prisma/enums.ts";

/**
 * Where an alert group goes, decided from its labels by the `alerts.routes`
 * of the YAML config (first match wins), else the default route. Pure.
 */
export type AlertAction = "declare" | "triage" | "record";

export interface AlertRoute {
  name: string;
  /** Label equality: every pair must match. */
  match: Readonly<Record<string, string>>;
  /** Label regex, anchored like Alertmanager's (^(?:re)$): every pair must match. */
  matchRe: Readonly<Record<string, string>>;
  service: string | undefined;
  severity: Severity | undefined;
  action: AlertAction | undefined;
  autoResolve: boolean;
}

export interface AlertRoutingConfig {
  routes: readonly AlertRoute[];
  /** Alertmanager `severity` label -> incident severity. */
  severityMap: Readonly<Record<string, Severity>>;
  triageChannel: string | undefined;
  /** Whether a routing config was given at all (changes the default for non-critical alerts). */
  configured: boolean;
  defaultAction: AlertAction | undefined;
}

export interface RoutingDecision {
  route: string;
  action: AlertAction;
  severity: Severity;
  service: string | undefined;
  autoResolve: boolean;
}

export const DEFAULT_SEVERITY_MAP: Readonly<Record<string, Severity>> = { critical: "SEV1", error: "SEV2", warning: "SEV3", info: "SEV4" };

const compiled = new Map<string, RegExp>();

function regex(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^(?:${pattern})$`);
    compiled.set(pattern, re);
  }
  return re;
}

export function routeMatches(route: Pick<AlertRoute, "match" | "matchRe">, labels: Readonly<Record<string, string>>): boolean {
  for (const [name, value] of Object.entries(route.match)) if (labels[name] !== value) return false;
  for (const [name, pattern] of Object.entries(route.matchRe)) if (!regex(pattern).test(labels[name] ?? "")) return false;
  return true;
}

export function decideRoute(config: AlertRoutingConfig, labels: Readonly<Record<string, string>>): RoutingDecision {
  const route = config.routes.find((candidate) => routeMatches(candidate, labels));
  const labelSeverity = (labels.severity ?? "").toLowerCase();
  // Own keys only: a label value such as "constructor" or "__proto__" must not find Object's members.
  const mapped = Object.hasOwn(config.severityMap, labelSeverity) ? config.severityMap[labelSeverity] : undefined;
  const severity = route?.severity ?? mapped ?? "SEV3";
  const fallbackAction: AlertAction =
    config.defaultAction ?? (labelSeverity === "critical" ? "declare" : config.triageChannel ? "triage" : "record");
  const action = route?.action ?? fallbackAction;
  return {
    route: route?.name ?? "default",
    action: action === "triage" && !config.triageChannel ? "record" : action,
    severity,
    service: route?.service ?? labels.service,
    autoResolve: route?.autoResolve ?? false,
  };
}
