export { parseSelector, startFakeKubernetes, statusAnswer, type Deployment, type FakeKubernetes, type FakeKubernetesOptions, type ReplicaSet, type Revision, type Rule } from "./server.ts";
export { PatchError, applyJsonPatch, applyMergePatch, decodeJsonPatch } from "./patch.ts";
