// The fake Kubernetes API server answers as the real one does for what the rollback provider
// relies on: auth, RBAC, patch content types, optimistic concurrency, validation, dry run.
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { startFakeKubernetes, type FakeKubernetes } from "./index.ts";

let fake: FakeKubernetes;
const VIEWER = "viewer-token-0000000000";
const path = "/apis/apps/v1/namespaces/prod/deployments/checkout-api";

async function call(method: string, url: string, options: { body?: string; contentType?: string; token?: string } = {}) {
  const response = await fetch(`${fake.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${options.token ?? fake.token}`, accept: "application/json", ...(options.contentType ? { "content-type": options.contentType } : {}) },
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  fake = await startFakeKubernetes({
    tls: inject("tls"),
    tokens: {
      "fake-k8s-token-7f3a9c1e5b2d4680": { user: "admin", rules: "*" },
      [VIEWER]: { user: "system:serviceaccount:ops:viewer", rules: [{ verbs: ["get"], resources: ["deployments"], resourceNames: ["checkout-api"] }] },
    },
  });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  fake.seedRollout({ namespace: "prod", name: "checkout-api", revisions: [{ image: "checkout:1" }, { image: "checkout:2" }] });
});

describe("fake Kubernetes API server", () => {
  it("seeds a Deployment with one controlled ReplicaSet per revision", () => {
    const deployment = fake.deployment("prod", "checkout-api");
    expect(deployment?.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("2");
    const sets = fake.replicaSets("prod");
    expect(sets.map((rs) => rs.metadata.annotations?.["deployment.kubernetes.io/revision"]).sort()).toEqual(["1", "2"]);
    expect(sets.every((rs) => rs.metadata.ownerReferences?.[0]?.uid === deployment?.metadata.uid && rs.spec.template.metadata.labels["pod-template-hash"])).toBe(true);
  });

  it("answers Status objects: 401 without a known token, 403 naming user, verb and resource, 404", async () => {
    expect(await call("GET", path, { token: "nope" })).toMatchObject({ status: 401, body: { kind: "Status", reason: "Unauthorized", code: 401 } });
    const forbidden = await call("GET", "/apis/apps/v1/namespaces/prod/replicasets", { token: VIEWER });
    expect(forbidden).toMatchObject({ status: 403, body: { reason: "Forbidden", message: 'replicasets.apps is forbidden: User "system:serviceaccount:ops:viewer" cannot list resource "replicasets" in API group "apps" in the namespace "prod"' } });
    expect(await call("GET", "/apis/apps/v1/namespaces/prod/deployments/nope")).toMatchObject({ status: 404, body: { reason: "NotFound", message: 'deployments.apps "nope" not found' } });
  });

  it("filters ReplicaSets by label selector and rejects a selector it cannot parse", async () => {
    const listed = await call("GET", "/apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%3Dcheckout-api%2Ctier%20notin%20(db)");
    expect((listed.body.items as unknown[]).length).toBe(2);
    expect(((await call("GET", "/apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%3Dother")).body.items as unknown[]).length).toBe(0);
    expect(await call("GET", "/apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%20%3D%3D%3D")).toMatchObject({ status: 400, body: { reason: "BadRequest" } });
  });

  it("rejects a patch malformed for its content type", async () => {
    expect((await call("PATCH", path, { contentType: "application/json", body: "{}" })).status).toBe(415);
    expect(await call("PATCH", path, { contentType: "application/json-patch+json", body: '{"spec":{}}' })).toMatchObject({ status: 400, body: { reason: "BadRequest" } });
    expect(await call("PATCH", path, { contentType: "application/merge-patch+json", body: "[]" })).toMatchObject({ status: 400, body: { reason: "BadRequest" } });
    expect(await call("PATCH", path, { contentType: "application/json-patch+json", body: "[{" })).toMatchObject({ status: 400 });
    expect(await call("PATCH", path, { contentType: "application/json-patch+json", body: '[{"op":"replace","path":"/spec/nothing/here","value":1}]' })).toMatchObject({ status: 422 });
  });

  it("409 for a stale resourceVersion, 422 for an invalid result, nothing stored on dry run", async () => {
    const stale = JSON.stringify([{ op: "replace", path: "/metadata/resourceVersion", value: "1" }]);
    expect(await call("PATCH", path, { contentType: "application/json-patch+json", body: stale })).toMatchObject({ status: 409, body: { reason: "Conflict" } });
    const noContainers = JSON.stringify({ spec: { template: { spec: { containers: [] } } } });
    expect(await call("PATCH", path, { contentType: "application/merge-patch+json", body: noContainers })).toMatchObject({ status: 422, body: { reason: "Invalid" } });
    const wrongLabels = JSON.stringify({ spec: { template: { metadata: { labels: { app: "other" } } } } });
    expect((await call("PATCH", path, { contentType: "application/strategic-merge-patch+json", body: wrongLabels })).body.message).toMatch(/`selector` does not match template `labels`/);
    const before = fake.deployment("prod", "checkout-api");
    const image = JSON.stringify([{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "checkout:3" }]);
    expect((await call("PATCH", `${path}?dryRun=All`, { contentType: "application/json-patch+json", body: image })).status).toBe(200);
    expect(fake.deployment("prod", "checkout-api")).toEqual(before);
  });

  it("a new template becomes the next revision, with a new ReplicaSet", async () => {
    const image = JSON.stringify([{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "checkout:3" }]);
    expect((await call("PATCH", path, { contentType: "application/json-patch+json", body: image })).status).toBe(200);
    expect(fake.deployment("prod", "checkout-api")?.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("3");
    expect(fake.replicaSets("prod")).toHaveLength(3);
  });
});
