/**
 * A fake Kubernetes API server for Deployments and ReplicaSets (apps/v1),
 * over HTTPS with the run's test CA, reached through a kubeconfig
 * (`fake.kubeconfig({ caPem })`). It enforces what the API server does for
 * the calls `kubectl rollout undo` makes:
 *
 * - bearer tokens (401 Unauthorized), and per-token RBAC rules (403 Forbidden
 *   naming the user, verb, resource and namespace, as the server words it);
 * - GET deployments/{name} (404 NotFound), LIST replicasets with a
 *   labelSelector (=, ==, !=, in, notin, exists, !exists; 400 on a bad one);
 * - PATCH deployments/{name} with application/json-patch+json,
 *   application/merge-patch+json or application/strategic-merge-patch+json
 *   (415 for any other Content-Type; 400 for a body that does not decode as
 *   that type; 422 for a JSON Patch that does not apply), `dryRun=All`,
 *   `fieldManager`; then the API server's checks: a changed
 *   metadata.resourceVersion is a 409 Conflict, a changed selector or a
 *   template whose labels do not match it or without containers is 422
 *   Invalid;
 * - and the deployment controller's part: a new template gets the matching
 *   ReplicaSet (an existing one, or a new one with its pod-template-hash)
 *   and the next revision, as the real controller numbers them.
 *
 * Errors are Status objects ({kind: "Status", status: "Failure", message,
 * reason, details, code}). `failNext` and `hang` inject answers.
 */
import { createHash, randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";
import { PatchError, applyJsonPatch, applyMergePatch, decodeJsonPatch } from "./patch.ts";

export type Labels = Record<string, string>;
export interface Container { name: string; image: string; [key: string]: unknown }
export interface PodTemplate { metadata: { labels: Labels; annotations?: Labels; [key: string]: unknown }; spec: { containers: Container[]; [key: string]: unknown } }
export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  labels?: Labels;
  annotations?: Labels;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }>;
  creationTimestamp: string;
}
export interface Deployment {
  apiVersion: "apps/v1";
  kind: "Deployment";
  metadata: ObjectMeta;
  spec: { replicas: number; paused?: boolean; selector: { matchLabels?: Labels; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> }; template: PodTemplate; [key: string]: unknown };
  status?: Record<string, unknown>;
}
export interface ReplicaSet {
  apiVersion: "apps/v1";
  kind: "ReplicaSet";
  metadata: ObjectMeta;
  spec: { replicas: number; selector: { matchLabels: Labels }; template: PodTemplate };
}

/** An RBAC rule, as in a Role: verbs on resources, optionally limited to namespaces and object names. */
export interface Rule { verbs: string[]; resources: string[]; namespaces?: string[]; resourceNames?: string[] }
export interface FakeKubernetesOptions {
  tls: { certPem: string; keyPem: string };
  /** token → its user name and rules ("*" = everything); default one token that may do everything. */
  tokens?: Record<string, { user: string; rules: Rule[] | "*" }>;
}
export interface Revision { image?: string; images?: Record<string, string>; changeCause?: string }
export interface FakeKubernetes {
  readonly url: string;
  /** The default token (may do everything). */
  readonly token: string;
  readonly requests: readonly RecordedRequest[];
  /** A kubeconfig (YAML/JSON text) for this server: certificate-authority-data of `caPem`, a bearer-token user. */
  kubeconfig(options: { caPem: string; token?: string; namespace?: string }): string;
  /** A Deployment `name` (labels app=name) deployed once per entry of `revisions` (1, 2, …), with a ReplicaSet per revision. */
  seedRollout(options: { namespace: string; name: string; revisions: Revision[]; paused?: boolean; keepReplicaSets?: number }): void;
  deployment(namespace: string, name: string): Deployment | undefined;
  replicaSets(namespace: string): ReplicaSet[];
  putDeployment(deployment: Deployment): void;
  putReplicaSet(replicaSet: ReplicaSet): void;
  deleteReplicaSet(namespace: string, name: string): void;
  /** Called with every request before it is answered (e.g. to change state between a read and a patch). */
  onRequest(listener: ((request: { method: string; path: string }) => void) | undefined): void;
  /** Changes the stored Deployment as someone else would (bumps resourceVersion). */
  touchDeployment(namespace: string, name: string, change: (deployment: Deployment) => void): void;
  /** The next `times` requests (matching `method`) get this Status answer. */
  failNext(options: { status: number; reason: string; message: string; method?: string; times?: number }): void;
  /** Requests matching `method` are never answered (until reset). */
  hang(options?: { method?: string }): void;
  reset(): void;
  close(): Promise<void>;
}

const REVISION = "deployment.kubernetes.io/revision";
const HASH = "pod-template-hash";
const PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml", "application/strategic-merge-patch+json"];

export function statusAnswer(code: number, reason: string, message: string, details?: Record<string, unknown>): Answer {
  return { status: code, body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code } };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isRecord(value)) return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(",")}}`;
  return JSON.stringify(value);
}

function withoutHash(template: PodTemplate): PodTemplate {
  const copy = structuredClone(template);
  delete copy.metadata.labels[HASH];
  return copy;
}

const templateHash = (template: PodTemplate) => createHash("sha256").update(canonical(withoutHash(template))).digest("hex").slice(0, 10);

/** Parses a label selector query into a predicate; throws on syntax the API server rejects. */
export function parseSelector(query: string): (labels: Labels) => boolean {
  const parts = query.match(/(?:[^,(]|\([^)]*\))+/g) ?? [];
  const tests = parts.map((raw) => {
    const part = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(part))) {
      const [, key = "", op, value] = m;
      return (labels: Labels) => (op === "!=" ? labels[key] !== value : labels[key] === value);
    }
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part))) {
      const [, key = "", op, list = ""] = m;
      const values = list.split(",").map((v) => v.trim());
      return (labels: Labels) => (op === "in" ? values.includes(labels[key] ?? "\0") : !values.includes(labels[key] ?? "\0"));
    }
    if ((m = /^(!?)([\w./-]+)$/.exec(part))) {
      const [, not, key = ""] = m;
      return (labels: Labels) => (not ? !(key in labels) : key in labels);
    }
    throw new Error(`unable to parse requirement: ${JSON.stringify(part)}`);
  });
  return (labels) => tests.every((test) => test(labels));
}

function selectorMatches(selector: Deployment["spec"]["selector"], labels: Labels): boolean {
  const query = [
    ...Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(selector.matchExpressions ?? []).map(({ key, operator, values = [] }) =>
      operator === "In" ? `${key} in (${values.join(",")})` : operator === "NotIn" ? `${key} notin (${values.join(",")})` : operator === "Exists" ? key : `!${key}`,
    ),
  ].join(",");
  return query !== "" && parseSelector(query)(labels);
}

export async function startFakeKubernetes(options: FakeKubernetesOptions): Promise<FakeKubernetes> {
  const token = "fake-k8s-token-7f3a9c1e5b2d4680";
  const tokens = options.tokens ?? { [token]: { user: "system:serviceaccount:firebreak:firebreak", rules: "*" } };
  const deployments = new Map<string, Deployment>();
  const replicaSets = new Map<string, ReplicaSet>();
  let resourceVersion = 1000;
  let failures: Array<{ status: number; reason: string; message: string; method?: string; times: number }> = [];
  let hanging: { method?: string } | undefined;
  let listener: ((request: { method: string; path: string }) => void) | undefined;
  const nextVersion = () => String((resourceVersion += 1));
  const key = (namespace: string, name: string) => `${namespace}/${name}`;
  const owned = (deployment: Deployment) => [...replicaSets.values()].filter((rs) => rs.metadata.namespace === deployment.metadata.namespace && rs.metadata.ownerReferences?.some((ref) => ref.controller && ref.uid === deployment.metadata.uid));

  function allowed(rules: Rule[] | "*", verb: string, resource: string, namespace: string, name?: string): boolean {
    if (rules === "*") return true;
    return rules.some((rule) => rule.verbs.includes(verb) && rule.resources.includes(resource) && (!rule.namespaces || rule.namespaces.includes(namespace)) && (!rule.resourceNames || (name !== undefined && rule.resourceNames.includes(name))));
  }

  /** What the deployment controller does with a new template: the matching ReplicaSet becomes the newest revision. */
  function reconcile(deployment: Deployment): void {
    if (deployment.spec.paused) return;
    const mine = owned(deployment);
    const wanted = canonical(withoutHash(deployment.spec.template));
    const max = Math.max(0, ...mine.map((rs) => Number(rs.metadata.annotations?.[REVISION] ?? 0)));
    let current = mine.find((rs) => canonical(withoutHash(rs.spec.template)) === wanted);
    if (!current) {
      const hash = templateHash(deployment.spec.template);
      const template = structuredClone(deployment.spec.template);
      template.metadata.labels[HASH] = hash;
      current = {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name: `${deployment.metadata.name}-${hash}`,
          namespace: deployment.metadata.namespace,
          uid: randomUUID(),
          resourceVersion: nextVersion(),
          labels: { ...template.metadata.labels },
          annotations: {},
          ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name, uid: deployment.metadata.uid, controller: true, blockOwnerDeletion: true }],
          creationTimestamp: new Date().toISOString(),
        },
        spec: { replicas: 0, selector: { matchLabels: { ...template.metadata.labels } }, template },
      };
      replicaSets.set(key(current.metadata.namespace, current.metadata.name), current);
    }
    const revision = Number(current.metadata.annotations?.[REVISION] ?? 0) === max && max > 0 ? max : max + 1;
    const copied = Object.fromEntries(Object.entries(deployment.metadata.annotations ?? {}).filter(([k]) => !k.startsWith("deployment.kubernetes.io/") && k !== "kubectl.kubernetes.io/last-applied-configuration"));
    current.metadata.annotations = { ...copied, [REVISION]: String(revision) };
    for (const rs of mine) rs.spec.replicas = rs === current ? deployment.spec.replicas : 0;
    current.spec.replicas = deployment.spec.replicas;
    current.metadata.resourceVersion = nextVersion();
    deployment.metadata.annotations = { ...deployment.metadata.annotations, [REVISION]: String(revision) };
  }

  function patchDeployment(request: Parameters<Parameters<typeof startFake>[0]>[0], namespace: string, name: string): Answer {
    const stored = deployments.get(key(namespace, name));
    const notFound = statusAnswer(404, "NotFound", `deployments.apps "${name}" not found`, { name, group: "apps", kind: "deployments" });
    if (!stored) return notFound;
    const contentType = (request.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (!PATCH_TYPES.includes(contentType)) {
      return statusAnswer(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`);
    }
    if (contentType === "application/apply-patch+yaml") return statusAnswer(415, "UnsupportedMediaType", "this fake does not implement server-side apply");
    const dryRun = request.query.get("dryRun");
    if (dryRun !== null && dryRun !== "All") return statusAnswer(400, "BadRequest", `Invalid dry run value: ${dryRun}: supported values are All`);
    const fieldManager = request.query.get("fieldManager");
    if (fieldManager !== null && (fieldManager.length > 128 || !/^[\x20-\x7e]+$/.test(fieldManager))) return statusAnswer(422, "Invalid", "fieldManager: Invalid value: must be at most 128 printable characters");
    if (request.json === undefined) return statusAnswer(400, "BadRequest", `error decoding patch: invalid character in ${JSON.stringify(request.rawBody.slice(0, 20))}`);
    let patched: Deployment;
    try {
      if (contentType === "application/json-patch+json") patched = applyJsonPatch(stored, decodeJsonPatch(request.json));
      else if (!isRecord(request.json)) throw new PatchError(400, `json: cannot unmarshal ${Array.isArray(request.json) ? "array" : typeof request.json} into Go value of type map[string]interface {}`);
      else patched = applyMergePatch(stored, request.json);
    } catch (error) {
      if (error instanceof PatchError) return statusAnswer(error.status, error.status === 400 ? "BadRequest" : "Invalid", error.message);
      throw error;
    }
    const invalid = (field: string, message: string) =>
      statusAnswer(422, "Invalid", `Deployment.apps "${name}" is invalid: ${field}: ${message}`, { name, group: "apps", kind: "Deployment", causes: [{ reason: "FieldValueInvalid", message, field }] });
    if (!isRecord(patched) || !isRecord(patched.metadata) || !isRecord(patched.spec)) return statusAnswer(400, "BadRequest", "the patched object is not a Deployment");
    if (patched.metadata.name !== name || patched.metadata.namespace !== namespace || patched.metadata.uid !== stored.metadata.uid) return invalid("metadata", "Invalid value: name, namespace and uid cannot be changed");
    if (patched.metadata.resourceVersion !== stored.metadata.resourceVersion) {
      return statusAnswer(409, "Conflict", `Operation cannot be fulfilled on deployments.apps "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: "apps", kind: "deployments" });
    }
    if (!isDeepStrictEqual(patched.spec.selector, stored.spec.selector)) return invalid("spec.selector", "Invalid value: field is immutable");
    const template = patched.spec.template as unknown;
    if (!isRecord(template) || !isRecord(template.metadata) || !isRecord(template.spec)) return invalid("spec.template", "Required value");
    const labels = template.metadata.labels;
    if (!isRecord(labels) || !Object.values(labels).every((v) => typeof v === "string") || !selectorMatches(stored.spec.selector, labels as Labels)) {
      return invalid("spec.template.metadata.labels", `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``);
    }
    const containers = template.spec.containers;
    if (!Array.isArray(containers) || containers.length === 0) return invalid("spec.template.spec.containers", "Required value");
    if (!containers.every((c) => isRecord(c) && typeof c.name === "string" && c.name !== "" && typeof c.image === "string" && c.image !== "")) return invalid("spec.template.spec.containers", "Required value: name and image");
    const annotations = patched.metadata.annotations;
    if (annotations !== undefined && (!isRecord(annotations) || !Object.values(annotations).every((v) => typeof v === "string"))) {
      return statusAnswer(400, "BadRequest", "json: cannot unmarshal into Go struct field ObjectMeta.metadata.annotations of type string");
    }
    if (dryRun === "All") return { status: 200, body: patched };
    const specChanged = !isDeepStrictEqual(patched.spec, stored.spec);
    patched.metadata.resourceVersion = nextVersion();
    if (specChanged) patched.metadata.generation = (stored.metadata.generation ?? 1) + 1;
    if (!isDeepStrictEqual(withoutHash(patched.spec.template), withoutHash(stored.spec.template))) reconcile(patched);
    deployments.set(key(namespace, name), patched);
    return { status: 200, body: patched };
  }

  const fake = await startFake(
    (request) => {
      listener?.({ method: request.method, path: request.path });
      if (hanging && (!hanging.method || hanging.method === request.method)) return new Promise<Answer>(() => undefined);
      const failure = failures.find((f) => f.times > 0 && (!f.method || f.method === request.method));
      if (failure) {
        failure.times -= 1;
        return statusAnswer(failure.status, failure.reason, failure.message);
      }
      const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
      const identity = bearer === undefined ? undefined : tokens[bearer];
      if (!identity) return statusAnswer(401, "Unauthorized", "Unauthorized");
      const accept = request.headers.accept ?? "*/*";
      if (!/application\/json|\*\/\*/.test(accept)) return statusAnswer(406, "NotAcceptable", `only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
      const route = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|replicasets)(?:\/([^/]+))?$/.exec(request.path);
      if (!route) return statusAnswer(404, "NotFound", "the server could not find the requested resource");
      const [, namespace = "", resource = "", name] = route;
      const verb = request.method === "GET" ? (name ? "get" : "list") : request.method === "PATCH" ? "patch" : request.method.toLowerCase();
      if (!allowed(identity.rules, verb, resource, namespace, name)) {
        const object = name ? `${resource}.apps "${name}"` : `${resource}.apps`;
        return statusAnswer(403, "Forbidden", `${object} is forbidden: User "${identity.user}" cannot ${verb} resource "${resource}" in API group "apps" in the namespace "${namespace}"`, {
          ...(name ? { name } : {}),
          group: "apps",
          kind: resource,
        });
      }
      if (resource === "deployments" && name && request.method === "GET") {
        const deployment = deployments.get(key(namespace, name));
        return deployment ? { status: 200, body: deployment } : statusAnswer(404, "NotFound", `deployments.apps "${name}" not found`, { name, group: "apps", kind: "deployments" });
      }
      if (resource === "deployments" && name && request.method === "PATCH") return patchDeployment(request, namespace, name);
      if (resource === "replicasets" && !name && request.method === "GET") {
        let matches: (labels: Labels) => boolean = () => true;
        const selector = request.query.get("labelSelector");
        try {
          if (selector) matches = parseSelector(selector);
        } catch (error) {
          return statusAnswer(400, "BadRequest", (error as Error).message);
        }
        const items = [...replicaSets.values()].filter((rs) => rs.metadata.namespace === namespace && matches(rs.metadata.labels ?? {}));
        return { status: 200, body: { kind: "ReplicaSetList", apiVersion: "apps/v1", metadata: { resourceVersion: String(resourceVersion) }, items } };
      }
      return statusAnswer(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
    },
    { tls: options.tls },
  );

  return {
    url: fake.url,
    token,
    requests: fake.requests,
    kubeconfig({ caPem, token: use = token, namespace = "default" }) {
      return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "fake", cluster: { server: fake.url, "certificate-authority-data": Buffer.from(caPem).toString("base64") } }],
        users: [{ name: "firebreak", user: { token: use } }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "firebreak", namespace } }],
        "current-context": "fake",
      });
    },
    seedRollout({ namespace, name, revisions, paused, keepReplicaSets }) {
      const uid = randomUUID();
      const templateOf = (revision: Revision): PodTemplate => ({
        metadata: { labels: { app: name } },
        spec: { containers: Object.entries(revision.images ?? { [name]: revision.image ?? `${name}:latest` }).map(([container, image]) => ({ name: container, image, ports: [{ containerPort: 8080 }] })) },
      });
      const last = revisions[revisions.length - 1];
      if (!last) throw new Error("seedRollout needs at least one revision");
      const deployment: Deployment = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace, uid, resourceVersion: nextVersion(), generation: revisions.length, labels: { app: name }, annotations: {}, creationTimestamp: new Date().toISOString() },
        spec: { replicas: 3, ...(paused ? { paused } : {}), selector: { matchLabels: { app: name } }, template: templateOf(revisions[0] ?? last) },
      };
      deployments.set(key(namespace, name), deployment);
      for (const revision of revisions) {
        deployment.spec.template = templateOf(revision);
        deployment.metadata.annotations = revision.changeCause ? { "kubernetes.io/change-cause": revision.changeCause } : {};
        const wasPaused = deployment.spec.paused;
        deployment.spec.paused = false;
        reconcile(deployment);
        deployment.spec.paused = wasPaused;
      }
      if (!paused) delete deployment.spec.paused;
      if (keepReplicaSets !== undefined) {
        const old = owned(deployment).sort((a, b) => Number(a.metadata.annotations?.[REVISION]) - Number(b.metadata.annotations?.[REVISION]));
        for (const rs of old.slice(0, Math.max(0, old.length - keepReplicaSets))) replicaSets.delete(key(namespace, rs.metadata.name));
      }
    },
    deployment: (namespace, name) => structuredClone(deployments.get(key(namespace, name))),
    replicaSets: (namespace) => structuredClone([...replicaSets.values()].filter((rs) => rs.metadata.namespace === namespace)),
    putDeployment: (deployment) => void deployments.set(key(deployment.metadata.namespace, deployment.metadata.name), structuredClone(deployment)),
    putReplicaSet: (replicaSet) => void replicaSets.set(key(replicaSet.metadata.namespace, replicaSet.metadata.name), structuredClone(replicaSet)),
    deleteReplicaSet: (namespace, name) => void replicaSets.delete(key(namespace, name)),
    onRequest(next) {
      listener = next;
    },
    touchDeployment(namespace, name, change) {
      const deployment = deployments.get(key(namespace, name));
      if (!deployment) throw new Error(`no Deployment ${namespace}/${name}`);
      change(deployment);
      deployment.metadata.resourceVersion = nextVersion();
    },
    failNext({ status, reason, message, method, times = 1 }) {
      failures.push({ status, reason, message, method, times });
    },
    hang(match = {}) {
      hanging = match;
    },
    reset() {
      deployments.clear();
      replicaSets.clear();
      failures = [];
      hanging = undefined;
      listener = undefined;
      fake.requests.length = 0;
    },
    close: () => fake.close(),
  };
}
