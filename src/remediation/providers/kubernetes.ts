/**
 * kind: kubernetes — what `kubectl rollout undo deployment/<name>` does,
 * through the Kubernetes API (@kubernetes/client-node):
 *
 * 1. GET the Deployment; refuse when it is paused (kubectl refuses too).
 * 2. LIST the ReplicaSets matching its label selector and controlled by it
 *    (ownerReferences), ordered by their `deployment.kubernetes.io/revision`.
 * 3. Take the newest revision below the Deployment's current one; refuse
 *    when there is none, or when its template is already the Deployment's.
 * 4. PATCH the Deployment (application/json-patch+json): spec.template =
 *    that ReplicaSet's template without its `pod-template-hash` label,
 *    metadata.annotations = the ReplicaSet's (keeping the Deployment's own
 *    revision bookkeeping), as kubectl does; plus metadata.resourceVersion
 *    as read, so a deploy in between is a 409 Conflict instead of a silent
 *    overwrite, and an annotation naming the execution, so that a retry
 *    after a lost answer sees its own change instead of undoing it.
 *
 * Credentials: `kubeconfigEnv` names an environment variable holding the
 * path of a kubeconfig file (as KUBECONFIG does), optionally with `context`;
 * without it, the in-cluster service account. Every call has the deadline
 * `timeoutMs` (an AbortSignal passed to the client's fetch, and a race).
 * Responses are read as raw JSON (a middleware keeps the body), so the
 * template patched back is exactly the ReplicaSet's, fields the client's
 * models do not know included.
 */
import { ApiException, AppsV1Api, KubeConfig, Observable, type ConfigurationOptions, type ObservableMiddleware, type ResponseContext } from "@kubernetes/client-node";
import { z } from "zod";
import { errorMessage } from "../../lib/errors.ts";
import { record } from "../../lib/outbound.ts";
import type { ActionBase, ExecutionContext, Outcome, Preview, ProviderDefinition, ProviderDeps, RemediationProvider } from "../ports.ts";
import { envName, failed, httpStatus, isDryRun, refused, unknownFields, vendorDetail } from "./rollback-common.ts";

export interface KubernetesAction extends ActionBase {
  kind: "kubernetes";
  namespace: string;
  deployment: string;
  /** Names the environment variable holding the kubeconfig file's path; in-cluster credentials when absent. */
  kubeconfigEnv?: string;
  /** The kubeconfig context to use (default: its current-context). */
  context?: string;
}

const REVISION = "deployment.kubernetes.io/revision";
const HASH_LABEL = "pod-template-hash";
/** Set on the Deployment by the rollback patch: the execution that made it. */
export const EXECUTION_ANNOTATION = "firebreak.dev/remediation-execution";
/** The Deployment's own bookkeeping, kept when the ReplicaSet's annotations are restored (as kubectl does). */
const KEEP_FROM_DEPLOYMENT = new Set([
  "kubectl.kubernetes.io/last-applied-configuration",
  REVISION,
  "deployment.kubernetes.io/revision-history",
  "deployment.kubernetes.io/desired-replicas",
  "deployment.kubernetes.io/max-replicas",
  "deprecated.deployment.rollback.to",
]);
const JSON_PATCH = "application/json-patch+json";
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const fields = z
  .object(
    {
      namespace: z
        .string({ error: "is required: the namespace of the Deployment, e.g. prod" })
        .max(63, "must be at most 63 characters (a Kubernetes namespace name)")
        .regex(dnsLabel, "must be a Kubernetes namespace name: lowercase letters, digits and '-', e.g. prod"),
      deployment: z
        .string({ error: "is required: the name of the Deployment to roll back, e.g. checkout-api" })
        .max(253, "must be at most 253 characters (a Kubernetes object name)")
        .regex(dnsSubdomain, "must be a Deployment name: lowercase letters, digits, '-' and '.', e.g. checkout-api"),
      kubeconfigEnv: envName("the path of a kubeconfig file, like KUBECONFIG").optional(),
      context: z.string().min(1, "must name a context of the kubeconfig").optional(),
    },
    { error: unknownFields("kubernetes", ["namespace", "deployment", "kubeconfigEnv", "context"]) },
  )
  .strict()
  .refine((value) => value.context === undefined || value.kubeconfigEnv !== undefined, { message: "context needs kubeconfigEnv (in-cluster credentials have no contexts)", path: ["context"] });

type Labels = Record<string, string>;
interface Meta { name?: string; uid?: string; resourceVersion?: string; labels?: Labels; annotations?: Labels; ownerReferences?: Array<{ uid?: string; controller?: boolean }> }
interface Template { metadata?: Meta; spec?: { containers?: Array<{ name?: string; image?: string }> } }
interface Selector { matchLabels?: Labels; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> }
interface Deployment { metadata?: Meta; spec?: { paused?: boolean; selector?: Selector; template?: Template } }
interface ReplicaSet { metadata?: Meta; spec?: { template?: Template } }
interface Revision { number: number; images: string }
type PatchOp = { op: "replace" | "add"; path: string; value: unknown };
type Plan =
  | { ok: true; from: Revision; to: Revision; patch: PatchOp[] }
  | { ok: false; outcome: Outcome; current?: string };
type Op = { verb: "get" | "list" | "patch"; resource: "deployments" | "replicasets"; what: string };

class DeadlineExceeded extends Error {}

function revisionOf(meta: Meta | undefined): number | undefined {
  const value = Number(meta?.annotations?.[REVISION]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

function imagesOf(template: Template | undefined): string {
  const containers = template?.spec?.containers ?? [];
  if (containers.length === 1) return `image ${containers[0]?.image ?? "?"}`;
  return `images ${containers.map((c) => `${c.name ?? "?"}=${c.image ?? "?"}`).join(", ")}`;
}

const describe = (revision: Revision) => `revision ${revision.number} (${revision.images})`;

/** The template without the pod-template-hash label (the ReplicaSet's own; a Deployment's template never has it). */
function withoutHash(template: Template | undefined): Template {
  const copy = structuredClone(template ?? {});
  if (copy.metadata?.labels) delete copy.metadata.labels[HASH_LABEL];
  return copy;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The Deployment's label selector as a query (`app=checkout,tier in (web,api)`). */
function selectorQuery(selector: Selector | undefined): string | undefined {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    if (operator === "In") parts.push(`${key} in (${values.join(",")})`);
    else if (operator === "NotIn") parts.push(`${key} notin (${values.join(",")})`);
    else if (operator === "Exists") parts.push(key);
    else if (operator === "DoesNotExist") parts.push(`!${key}`);
  }
  return parts.length > 0 ? parts.join(",") : undefined;
}

/** Status.message and reason of an error answer (the API server answers a Status object). */
function statusOf(body: unknown): { message?: string; reason?: string } {
  let parsed: unknown = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body) as unknown;
    } catch {
      return body.trim() === "" ? {} : { message: body };
    }
  }
  const status = record(parsed);
  return { message: typeof status.message === "string" ? status.message : undefined, reason: typeof status.reason === "string" ? status.reason : undefined };
}

function createProvider(deps: ProviderDeps): RemediationProvider<KubernetesAction> {
  const { timeoutMs } = deps;

  /** Credentials (never in messages: only the variable's name, the file's error code). */
  function connect(action: KubernetesAction): { api: AppsV1Api; server: string; secrets: string[]; who: string } | Outcome {
    const kc = new KubeConfig();
    const env = action.kubeconfigEnv;
    const who = env ? `the credentials from ${env}` : "Firebreak's service account";
    try {
      if (env) {
        const file = deps.secrets(env);
        if (!file) return failed(`${env} is not set: it should hold the path of the kubeconfig file for Deployment ${action.namespace}/${action.deployment}.`, false);
        try {
          kc.loadFromFile(file);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          return failed(`Firebreak could not read the kubeconfig file named by ${env}${typeof code === "string" ? ` (${code})` : ": it is not a valid kubeconfig"}.`, false);
        }
        if (action.context !== undefined) {
          if (!kc.getContextObject(action.context)) return failed(`The kubeconfig named by ${env} has no context ${action.context}.`, false);
          kc.setCurrentContext(action.context);
        }
      } else {
        kc.loadFromCluster();
      }
      const cluster = kc.getCurrentCluster();
      const server = cluster?.server ?? "";
      if (!/^https?:\/\/[^/]*[^/:]/.test(server) || server.includes("undefined")) {
        return failed(env ? `The kubeconfig named by ${env} has no current context with a cluster server.` : "Firebreak is not running inside Kubernetes (no in-cluster service account): set kubeconfigEnv on this action.", false);
      }
      const user = kc.getCurrentUser();
      const secrets = [user?.token, user?.password, user?.keyData, user?.certData].filter((s): s is string => typeof s === "string");
      return { api: kc.makeApiClient(AppsV1Api), server, secrets, who };
    } catch (error) {
      return failed(`Firebreak could not load the Kubernetes credentials${env ? ` named by ${env}` : ""}: ${vendorDetail(errorMessage(error), []) ?? "unknown error"}.`, false);
    }
  }

  /** One API call with the deadline; resolves with the raw JSON body. */
  async function call(run: (options: ConfigurationOptions) => Promise<unknown>, contentType?: string): Promise<unknown> {
    const controller = new AbortController();
    let raw = "";
    const middleware: ObservableMiddleware = {
      pre(request) {
        request.setSignal(controller.signal);
        if (contentType) request.setHeaderParam("Content-Type", contentType);
        return new Observable(Promise.resolve(request));
      },
      post(response: ResponseContext) {
        return new Observable(
          response.body.text().then((text) => {
            raw = text;
            response.body = { text: async () => text, binary: async () => Buffer.from(text), stream: () => null };
            return response;
          }),
        );
      },
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort(new DeadlineExceeded());
        reject(new DeadlineExceeded());
      }, timeoutMs);
    });
    try {
      await Promise.race([run({ middleware: [middleware], middlewareMergeStrategy: "append" }), deadline]);
    } finally {
      clearTimeout(timer);
    }
    return raw === "" ? undefined : (JSON.parse(raw) as unknown);
  }

  function failure(action: KubernetesAction, op: Op, error: unknown, server: string, who: string, secrets: string[]): Outcome {
    const target = `Deployment ${action.namespace}/${action.deployment}`;
    const patching = op.verb === "patch";
    const unknown = patching ? " The rollback may or may not have been applied; running it again is safe (Firebreak recognizes its own change)." : "";
    if (error instanceof DeadlineExceeded || (error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError"))) {
      return failed(`Kubernetes did not answer within ${timeoutMs} ms to ${op.what}.${unknown}`, true);
    }
    if (error instanceof ApiException) {
      const code = (error as ApiException<unknown>).code;
      const status = statusOf((error as ApiException<unknown>).body);
      const detail = vendorDetail(status.message, secrets);
      const words = `${code} ${status.reason ?? httpStatus(code).replace(/^\d+ /, "")}`;
      if (code === 401) return failed(`Kubernetes did not accept ${who} (${words}): the token may have expired or been revoked.`, false, detail);
      if (code === 403) return failed(`Kubernetes refused: ${who} may not ${op.verb} ${op.resource} in ${action.namespace} (${words}).`, false, detail);
      if (code === 404) return failed(`Kubernetes has no ${target} (${words}).`, false, detail);
      if (code === 409) return failed(`${target} changed while Firebreak was rolling it back (${words}): someone may have deployed; look at it before trying again.`, true, detail);
      if (code === 422) return failed(`Kubernetes rejected the rolled-back ${target} as invalid (${words}).`, false, detail);
      if (code === 429 || code >= 500) return failed(`Kubernetes could not ${op.what} (${words}); try again shortly.${code >= 500 ? unknown : ""}`, true, detail);
      return failed(`Kubernetes refused to ${op.what} (${words}).`, false, detail);
    }
    const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
    const code = typeof cause?.code === "string" ? cause.code : undefined;
    if (code && TLS_CODES.test(code)) return failed(`The Kubernetes API server at ${server} presented a certificate its configured certificate authority does not trust (${code}).`, false);
    if (code) return failed(`Could not reach the Kubernetes API server at ${server} to ${op.what} (${code}).${unknown}`, true);
    return failed(`Firebreak could not ${op.what}: ${vendorDetail(errorMessage(error), secrets) ?? "unknown error"}.${unknown}`, !patching);
  }

  /** Reads the Deployment and its ReplicaSets; the patch of `kubectl rollout undo`, or why not. */
  async function plan(action: KubernetesAction, executionKey?: string): Promise<Plan & { client?: { api: AppsV1Api; server: string; who: string; secrets: string[] } }> {
    const client = connect(action);
    if ("status" in client) return { ok: false, outcome: client };
    const { api, server, who, secrets } = client;
    const { namespace, deployment: name } = action;
    const target = `Deployment ${namespace}/${name}`;
    const getOp: Op = { verb: "get", resource: "deployments", what: `read ${target}` };
    let deployment: Deployment;
    try {
      deployment = record(await call((options) => api.readNamespacedDeployment({ name, namespace }, options)));
    } catch (error) {
      return { ok: false, outcome: failure(action, getOp, error, server, who, secrets) };
    }
    if (executionKey !== undefined && deployment.metadata?.annotations?.[EXECUTION_ANNOTATION] === executionKey) {
      return { ok: false, outcome: { status: "succeeded", summary: `${target} was already rolled back by this execution (revision ${revisionOf(deployment.metadata) ?? "?"}, ${imagesOf(deployment.spec?.template)}).` } };
    }
    const selector = selectorQuery(deployment.spec?.selector);
    if (selector === undefined) return { ok: false, outcome: failed(`${target} has no label selector: Firebreak cannot find its ReplicaSets.`, false) };
    const listOp: Op = { verb: "list", resource: "replicasets", what: `list the ReplicaSets of ${target}` };
    let owned: ReplicaSet[];
    try {
      const list = record(await call((options) => api.listNamespacedReplicaSet({ namespace, labelSelector: selector }, options)));
      const items = (Array.isArray(list.items) ? list.items : []) as ReplicaSet[];
      const uid = deployment.metadata?.uid;
      owned = items.filter((rs) => (rs.metadata?.ownerReferences ?? []).some((ref) => ref.controller === true && ref.uid === uid));
    } catch (error) {
      return { ok: false, outcome: failure(action, listOp, error, server, who, secrets) };
    }
    const templateKey = canonical(withoutHash(deployment.spec?.template));
    const matching = owned.find((rs) => canonical(withoutHash(rs.spec?.template)) === templateKey);
    const revisions = owned.flatMap((rs) => (revisionOf(rs.metadata) === undefined ? [] : [{ rs, number: revisionOf(rs.metadata) ?? 0 }]));
    const currentNumber = revisionOf(deployment.metadata) ?? revisionOf(matching?.metadata) ?? Math.max(0, ...revisions.map((r) => r.number));
    const from: Revision = { number: currentNumber, images: imagesOf(deployment.spec?.template) };
    const current = `Revision ${from.number} (${from.images})`;
    if (deployment.spec?.paused) {
      return { ok: false, current, outcome: refused(`${target} is paused: Kubernetes would not roll it out. Resume it first (kubectl rollout resume deployment/${name} -n ${namespace}), then roll back.`) };
    }
    const previous = revisions.filter((r) => r.number < currentNumber).sort((a, b) => b.number - a.number)[0];
    if (!previous) {
      return { ok: false, current, outcome: refused(`${target} has no revision before ${from.number} to roll back to (older ReplicaSets are gone, or it was only ever deployed once).`) };
    }
    const to: Revision = { number: previous.number, images: imagesOf(previous.rs.spec?.template) };
    const template = withoutHash(previous.rs.spec?.template);
    if (canonical(template) === templateKey) {
      return { ok: false, current, outcome: refused(`${target} already runs the template of revision ${to.number} (${to.images}); there is nothing to roll back.`) };
    }
    const annotations: Labels = {};
    for (const [key, value] of Object.entries(deployment.metadata?.annotations ?? {})) if (KEEP_FROM_DEPLOYMENT.has(key)) annotations[key] = value;
    for (const [key, value] of Object.entries(previous.rs.metadata?.annotations ?? {})) if (!KEEP_FROM_DEPLOYMENT.has(key)) annotations[key] = value;
    if (executionKey !== undefined) annotations[EXECUTION_ANNOTATION] = executionKey;
    const patch: PatchOp[] = [
      { op: "replace", path: "/metadata/resourceVersion", value: deployment.metadata?.resourceVersion },
      { op: "replace", path: "/spec/template", value: template },
      { op: "add", path: "/metadata/annotations", value: annotations },
    ];
    return { ok: true, from, to, patch, client };
  }

  return {
    kind: "kubernetes",
    async preview(action) {
      const target = `Kubernetes Deployment ${action.namespace}/${action.deployment}`;
      const credentials = kubernetesProvider.credentials(action);
      const planned = await plan(action);
      if (planned.ok) return { target, effect: `Roll back to ${describe(planned.to)}`, current: `Revision ${planned.from.number} (${planned.from.images})`, credentials } satisfies Preview;
      const effect = `Roll back to the previous revision (kubectl rollout undo deployment/${action.deployment} -n ${action.namespace})`;
      return { target, effect, ...(planned.current ? { current: planned.current } : {}), problem: planned.outcome.summary, credentials };
    },
    async execute(action, context: ExecutionContext) {
      const planned = await plan(action, context.idempotencyKey);
      if (!planned.ok) return planned.outcome;
      const { namespace, deployment: name } = action;
      const target = `Deployment ${namespace}/${name}`;
      const details = { namespace, deployment: name, fromRevision: String(planned.from.number), toRevision: String(planned.to.number) };
      const path = `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;
      if (isDryRun(action, context)) {
        return {
          status: "dry_run",
          summary: `Would PATCH ${path} (${JSON_PATCH}): replace spec.template with the template of ${describe(planned.to)} — it is now at ${describe(planned.from)} — and metadata.annotations with revision ${planned.to.number}'s, as kubectl rollout undo does. Nothing was changed.`,
          details,
        };
      }
      const client = planned.client;
      if (!client) return failed(`Firebreak could not connect to Kubernetes for ${target}.`, true);
      const patchOp: Op = { verb: "patch", resource: "deployments", what: `roll back ${target}` };
      try {
        await call((options) => client.api.patchNamespacedDeployment({ name, namespace, body: planned.patch, fieldManager: "firebreak" }, options), JSON_PATCH);
      } catch (error) {
        return failure(action, patchOp, error, client.server, client.who, client.secrets);
      }
      return {
        status: "succeeded",
        summary: `Rolled back ${target} to the template of ${describe(planned.to)}; it was at ${describe(planned.from)}. Kubernetes is rolling out the pods.`,
        details,
      };
    },
  };
}

export const kubernetesProvider: ProviderDefinition<KubernetesAction> = {
  kind: "kubernetes",
  fields,
  flag: false,
  credentials: (action) => (action.kubeconfigEnv ? [action.kubeconfigEnv] : []),
  create: createProvider,
};
