// kind: kubernetes against a fake API server over HTTPS (the run's test CA), reached through a
// kubeconfig file named by an environment variable, as a self-hoster would configure it.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import type { Outcome, Preview } from "../../../src/remediation/ports.ts";
import { EXECUTION_ANNOTATION, kubernetesProvider, type KubernetesAction } from "../../../src/remediation/providers/kubernetes.ts";
import { startFakeKubernetes, type FakeKubernetes, type ReplicaSet } from "../../fakes/kubernetes/index.ts";
import { createTestTls } from "../../setup/tls.global.ts";
import { executionContext } from "../../support/remediation.ts";

const tls = inject("tls");
const READ_ONLY = "fake-k8s-readonly-token-51c0ffee";
let fake: FakeKubernetes;
let dir: string;
const env: Record<string, string | undefined> = {};

const action = (overrides: Partial<KubernetesAction> = {}): KubernetesAction => ({
  id: "checkout-rollback",
  label: "Roll back checkout-api",
  kind: "kubernetes",
  allowed: ["S0SRE"],
  dryRun: false,
  namespace: "prod",
  deployment: "checkout-api",
  kubeconfigEnv: "KUBECONFIG_PROD",
  ...overrides,
});

const context = executionContext;

const provider = (timeoutMs = 5_000) => kubernetesProvider.create({ secrets: (name) => env[name], timeoutMs });

/** No token, no kubeconfig content in anything a person reads. */
function expectNoSecret(result: Outcome | Preview): void {
  const text = JSON.stringify(result);
  for (const secret of [fake.token, READ_ONLY, Buffer.from(tls.caPem).toString("base64").slice(0, 40), "certificate-authority-data"]) expect(text).not.toContain(secret);
}

async function useKubeconfig(text: string): Promise<void> {
  const file = path.join(dir, `kubeconfig-${randomUUID()}.yaml`);
  await writeFile(file, text);
  env.KUBECONFIG_PROD = file;
}

const withoutHash = (rs: ReplicaSet | undefined) => {
  const template = structuredClone(rs?.spec.template);
  if (template) delete template.metadata.labels["pod-template-hash"];
  return template;
};
const revisionOf = (rs: ReplicaSet) => rs.metadata.annotations?.["deployment.kubernetes.io/revision"];
const rsAt = (revision: string) => fake.replicaSets("prod").find((rs) => revisionOf(rs) === revision);
const patches = () => fake.requests.filter((request) => request.method === "PATCH");

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "fb-k8s-"));
  fake = await startFakeKubernetes({
    tls: inject("tls"),
    tokens: {
      "fake-k8s-token-7f3a9c1e5b2d4680": { user: "system:serviceaccount:firebreak:firebreak", rules: "*" },
      [READ_ONLY]: { user: "system:serviceaccount:firebreak:viewer", rules: [{ verbs: ["get"], resources: ["deployments"] }, { verbs: ["list"], resources: ["replicasets"] }] },
    },
  });
});

afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  fake.reset();
  fake.seedRollout({
    namespace: "prod",
    name: "checkout-api",
    revisions: [
      { image: "checkout:1.4.1", changeCause: "deploy 1.4.1" },
      { image: "checkout:1.4.2", changeCause: "deploy 1.4.2" },
      { image: "checkout:1.4.3", changeCause: "deploy 1.4.3" },
    ],
  });
  await useKubeconfig(fake.kubeconfig({ caPem: tls.caPem, namespace: "prod" }));
});

describe("kind: kubernetes, YAML fields", () => {
  it("accepts the documented fields and names the credentials variable", () => {
    expect(kubernetesProvider.fields.safeParse({ namespace: "prod", deployment: "checkout-api", kubeconfigEnv: "KUBECONFIG" }).success).toBe(true);
    expect(kubernetesProvider.credentials(action())).toEqual(["KUBECONFIG_PROD"]);
    expect(kubernetesProvider.credentials(action({ kubeconfigEnv: undefined }))).toEqual([]);
  });

  it("rejects unknown keys, bad names and a context without a kubeconfig, with messages that say what to write", () => {
    const unknown = kubernetesProvider.fields.safeParse({ namespace: "prod", deployment: "checkout-api", deploymnet: "x" });
    expect(unknown.error?.issues[0]?.message).toMatch(/unknown field deploymnet for kind kubernetes \(its fields: namespace, deployment, kubeconfigEnv, context\)/);
    const badNamespace = kubernetesProvider.fields.safeParse({ namespace: "Prod_1", deployment: "checkout-api" });
    expect(badNamespace.error?.issues[0]?.message).toMatch(/Kubernetes namespace name/);
    const missing = kubernetesProvider.fields.safeParse({ namespace: "prod" });
    expect(missing.error?.issues[0]?.message).toMatch(/is required: the name of the Deployment/);
    const contextOnly = kubernetesProvider.fields.safeParse({ namespace: "prod", deployment: "checkout-api", context: "prod-eu" });
    expect(contextOnly.error?.issues[0]?.message).toMatch(/context needs kubeconfigEnv/);
  });
});

describe("kind: kubernetes, preview", () => {
  it("shows the current and the target revision with their images, reading only", async () => {
    const preview = await provider().preview(action(), {});
    expect(preview).toEqual({
      target: "Kubernetes Deployment prod/checkout-api",
      effect: "Roll back to revision 2 (image checkout:1.4.2)",
      current: "Revision 3 (image checkout:1.4.3)",
      credentials: ["KUBECONFIG_PROD"],
    });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /apis/apps/v1/namespaces/prod/deployments/checkout-api", "GET /apis/apps/v1/namespaces/prod/replicasets"]);
    expect(fake.requests[1]?.query.get("labelSelector")).toBe("app=checkout-api");
    expectNoSecret(preview);
  });

  it("says why it could not read, without throwing", async () => {
    const preview = await provider().preview(action({ deployment: "payments-api" }), {});
    expect(preview.current).toBeUndefined();
    expect(preview.problem).toBe("Kubernetes has no Deployment prod/payments-api (404 NotFound).");
  });
});

describe("kind: kubernetes, execute", () => {
  it("restores the previous ReplicaSet's template, as kubectl rollout undo does", async () => {
    const before = fake.deployment("prod", "checkout-api");
    const key = randomUUID();
    const outcome = await provider().execute(action(), context({ idempotencyKey: key }));
    expect(outcome).toMatchObject({ status: "succeeded", details: { fromRevision: "3", toRevision: "2" } });
    expect(outcome.summary).toBe("Rolled back Deployment prod/checkout-api to the template of revision 2 (image checkout:1.4.2); it was at revision 3 (image checkout:1.4.3). Kubernetes is rolling out the pods.");

    const after = fake.deployment("prod", "checkout-api");
    // The template is the old ReplicaSet's, without its pod-template-hash; the controller made that ReplicaSet revision 4.
    expect(after?.spec.template).toEqual(withoutHash(rsAt("4")));
    expect(after?.spec.template.spec.containers[0]?.image).toBe("checkout:1.4.2");
    expect(after?.spec.template.metadata.labels).toEqual({ app: "checkout-api" });
    expect(after?.metadata.annotations).toMatchObject({ "deployment.kubernetes.io/revision": "4", "kubernetes.io/change-cause": "deploy 1.4.2", [EXECUTION_ANNOTATION]: key });
    expect(after?.metadata.resourceVersion).not.toBe(before?.metadata.resourceVersion);

    const [patch] = patches();
    expect(patches()).toHaveLength(1);
    expect(patch?.headers["content-type"]).toMatch(/^application\/json-patch\+json/);
    expect(patch?.headers.authorization).toBe(`Bearer ${fake.token}`);
    expect(patch?.query.get("fieldManager")).toBe("firebreak");
    expect(patch?.json).toContainEqual({ op: "replace", path: "/metadata/resourceVersion", value: before?.metadata.resourceVersion });
    expectNoSecret(outcome);
  });

  it("takes only the ReplicaSets the Deployment controls, newest revision below the current one", async () => {
    const ours2 = rsAt("2");
    if (!ours2) throw new Error("seed has revision 2");
    fake.deleteReplicaSet("prod", ours2.metadata.name);
    // Same labels and revision, but another owner: not part of this Deployment's history.
    fake.putReplicaSet({
      ...ours2,
      metadata: { ...ours2.metadata, name: "checkout-api-impostor", uid: randomUUID(), ownerReferences: [{ ...ours2.metadata.ownerReferences![0]!, name: "other", uid: randomUUID() }] },
      spec: { ...ours2.spec, template: { ...ours2.spec.template, spec: { containers: [{ name: "checkout-api", image: "impostor:9.9.9" }] } } },
    });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "succeeded", details: { toRevision: "1" } });
    expect(fake.deployment("prod", "checkout-api")?.spec.template.spec.containers[0]?.image).toBe("checkout:1.4.1");
  });

  it("a second execution with the same key sees its own change instead of undoing it", async () => {
    const key = randomUUID();
    await provider().execute(action(), context({ idempotencyKey: key }));
    const again = await provider().execute(action(), context({ idempotencyKey: key }));
    expect(again.status).toBe("succeeded");
    expect(again.summary).toMatch(/already rolled back by this execution/);
    expect(patches()).toHaveLength(1);
    expect(fake.deployment("prod", "checkout-api")?.spec.template.spec.containers[0]?.image).toBe("checkout:1.4.2");
  });

  it("dry run reads, names the exact call, and changes nothing", async () => {
    const before = fake.deployment("prod", "checkout-api");
    for (const outcome of [await provider().execute(action(), context({ dryRun: true })), await provider().execute(action({ dryRun: true }), context())]) {
      expect(outcome.status).toBe("dry_run");
      expect(outcome.summary).toMatch(/^Would PATCH \/apis\/apps\/v1\/namespaces\/prod\/deployments\/checkout-api \(application\/json-patch\+json\): replace spec\.template with the template of revision 2 \(image checkout:1\.4\.2\)/);
      expect(outcome.summary).toContain("now at revision 3 (image checkout:1.4.3)");
    }
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(fake.requests.every((request) => request.method === "GET")).toBe(true);
    expect(fake.deployment("prod", "checkout-api")).toEqual(before);
  });
});

describe("kind: kubernetes, refusals", () => {
  it("refuses a paused Deployment, saying how to resume it", async () => {
    fake.reset();
    fake.seedRollout({ namespace: "prod", name: "checkout-api", revisions: [{ image: "checkout:1.4.2" }, { image: "checkout:1.4.3" }], paused: true });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({ status: "refused", summary: expect.stringContaining("Deployment prod/checkout-api is paused") as string });
    expect(outcome.summary).toContain("kubectl rollout resume deployment/checkout-api -n prod");
    expect(patches()).toHaveLength(0);
    const preview = await provider().preview(action(), {});
    expect(preview.problem).toContain("is paused");
    expect(preview.current).toBe("Revision 2 (image checkout:1.4.3)");
  });

  it("refuses when there is no earlier revision", async () => {
    fake.reset();
    fake.seedRollout({ namespace: "prod", name: "checkout-api", revisions: [{ image: "checkout:1.4.3" }] });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({ status: "refused", summary: expect.stringContaining("has no revision before 1 to roll back to") as string });
    expect(patches()).toHaveLength(0);
  });

  it("refuses when the previous revision's template is already the Deployment's", async () => {
    const current = rsAt("3");
    if (!current) throw new Error("seed has revision 3");
    fake.deleteReplicaSet("prod", rsAt("2")!.metadata.name);
    fake.putReplicaSet({ ...current, metadata: { ...current.metadata, name: "checkout-api-copy", uid: randomUUID(), annotations: { "deployment.kubernetes.io/revision": "2" } } });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toEqual({ status: "refused", summary: expect.stringContaining("already runs the template of revision 2") as string });
    expect(patches()).toHaveLength(0);
  });
});

describe("kind: kubernetes, vendor errors in plain words", () => {
  it("403: names what the credentials may not do, and leaves the Deployment alone", async () => {
    await useKubeconfig(fake.kubeconfig({ caPem: tls.caPem, token: READ_ONLY }));
    const before = fake.deployment("prod", "checkout-api");
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: "Kubernetes refused: the credentials from KUBECONFIG_PROD may not patch deployments in prod (403 Forbidden)." });
    expect(outcome.status === "failed" && outcome.detail).toContain('User "system:serviceaccount:firebreak:viewer" cannot patch resource "deployments"');
    expect(fake.deployment("prod", "checkout-api")).toEqual(before);
    expectNoSecret(outcome);
  });

  it("401: a token the server does not know", async () => {
    await useKubeconfig(fake.kubeconfig({ caPem: tls.caPem, token: "revoked-token-0123456789" }));
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: expect.stringMatching(/^Kubernetes did not accept the credentials from KUBECONFIG_PROD \(401 Unauthorized\)/) as string });
    expect(JSON.stringify(outcome)).not.toContain("revoked-token-0123456789");
  });

  it("404: no such Deployment", async () => {
    const outcome = await provider().execute(action({ deployment: "payments-api" }), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: "Kubernetes has no Deployment prod/payments-api (404 NotFound)." });
  });

  it("422: the API server finds the restored Deployment invalid", async () => {
    const old = rsAt("2")!;
    fake.putReplicaSet({ ...old, spec: { ...old.spec, template: { ...old.spec.template, spec: { containers: [] } } } });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: "Kubernetes rejected the rolled-back Deployment prod/checkout-api as invalid (422 Invalid)." });
    expect(outcome.status === "failed" && outcome.detail).toContain("spec.template.spec.containers: Required value");
    expect(fake.deployment("prod", "checkout-api")?.spec.template.spec.containers[0]?.image).toBe("checkout:1.4.3");
  });

  it("409: someone deployed between the read and the patch", async () => {
    fake.onRequest((request) => {
      if (request.method === "PATCH") fake.touchDeployment("prod", "checkout-api", (d) => void (d.spec.template.spec.containers[0]!.image = "checkout:1.4.4"));
    });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: expect.stringMatching(/^Deployment prod\/checkout-api changed while Firebreak was rolling it back \(409 Conflict\)/) as string });
    expect(fake.deployment("prod", "checkout-api")?.spec.template.spec.containers[0]?.image).toBe("checkout:1.4.4");
  });

  it("500: worth a retry", async () => {
    fake.failNext({ status: 500, reason: "InternalError", message: "etcdserver: request timed out", method: "GET" });
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: "Kubernetes could not read Deployment prod/checkout-api (500 InternalError); try again shortly.", detail: "etcdserver: request timed out" });
  });

  it("timeout: a server that never answers", async () => {
    fake.hang();
    const started = Date.now();
    const outcome = await provider(300).execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: true, summary: "Kubernetes did not answer within 300 ms to read Deployment prod/checkout-api." });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("timeout on the patch: says the result is unknown", async () => {
    fake.hang({ method: "PATCH" });
    const outcome = await provider(300).execute(action(), context());
    expect(outcome.summary).toMatch(/^Kubernetes did not answer within 300 ms to roll back Deployment prod\/checkout-api\. The rollback may or may not have been applied/);
  });

  it("a server certificate the kubeconfig's CA did not sign", async () => {
    const other = await createTestTls(dir);
    await useKubeconfig(fake.kubeconfig({ caPem: other.caPem }));
    const outcome = await provider().execute(action(), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false });
    expect(outcome.summary).toMatch(new RegExp(`^The Kubernetes API server at ${fake.url.replace(/\./g, "\\.")} presented a certificate its configured certificate authority does not trust \\(`));
  });

  it("credentials missing or unreadable: plain words naming the variable, never the file's content", async () => {
    env.KUBECONFIG_PROD = undefined;
    expect(await provider().execute(action(), context())).toMatchObject({ status: "failed", summary: expect.stringMatching(/^KUBECONFIG_PROD is not set: it should hold the path of the kubeconfig file/) as string });
    env.KUBECONFIG_PROD = path.join(dir, "missing.yaml");
    expect(await provider().execute(action(), context())).toMatchObject({ status: "failed", summary: "Firebreak could not read the kubeconfig file named by KUBECONFIG_PROD (ENOENT)." });
    await useKubeconfig(`clusters: [ {{ token: ${fake.token}`);
    const broken = await provider().execute(action(), context());
    expect(broken).toMatchObject({ status: "failed", summary: "Firebreak could not read the kubeconfig file named by KUBECONFIG_PROD: it is not a valid kubeconfig." });
    expectNoSecret(broken);
    expect(fake.requests).toHaveLength(0);
  });

  it.skipIf(process.env.KUBERNETES_SERVICE_HOST !== undefined)("without kubeconfigEnv outside a cluster: says so", async () => {
    const outcome = await provider().execute(action({ kubeconfigEnv: undefined }), context());
    expect(outcome).toMatchObject({ status: "failed", retryable: false, summary: "Firebreak is not running inside Kubernetes (no in-cluster service account): set kubeconfigEnv on this action." });
    const preview = await provider().preview(action({ kubeconfigEnv: undefined }), {});
    expect(preview).toMatchObject({ credentials: [], problem: outcome.summary });
  });
});
