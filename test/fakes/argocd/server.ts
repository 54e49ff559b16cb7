/**
 * A fake Argo CD API server (over HTTPS with the run's test CA) for the calls
 * `argocd app get` and `argocd app rollback` make, enforcing what Argo CD's
 * server does (server/application/application.go):
 *
 * - bearer tokens (401 "no session information" / "invalid session"), each
 *   with RBAC policies `applications, <action>, <project>/<app>` (globs);
 * - GET /api/v1/applications/{name}?appNamespace=&project=: without a
 *   project, a denied or missing application is 403 "permission denied"
 *   (Argo CD does not reveal whether it exists); with a project, 404 when it
 *   is missing or in another project;
 * - POST /api/v1/applications/{name}/rollback {name, id, dryRun, prune,
 *   appNamespace, project}: a JSON body with only those fields and a
 *   required integer id (400 otherwise); the `sync` action (or `rollback`
 *   when the server enforces it); 400 FailedPrecondition while auto-sync is on
 *   ("rollback cannot be initiated when auto-sync is enabled"), while another
 *   operation runs, or while the application is deleted; 400 InvalidArgument
 *   for an id not in the history. Success sets the application's operation
 *   (a sync to that history entry's revision) and answers the Application.
 *
 * Errors are grpc-gateway's {error, code, message, details}. `completeOperation`
 * plays the application controller (the sync finishes: a new history entry).
 */
import { isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";

export interface FakeHistoryEntry { id: number; revision: string; deployedAt: string; source: { repoURL: string; path: string; targetRevision: string } }
export interface FakeApplication {
  name: string;
  /** Default "argocd" (the control plane's namespace). */
  namespace?: string;
  project: string;
  /** true → spec.syncPolicy.automated {prune, selfHeal}; an object is used as automated as is (e.g. {enabled: false}). */
  autoSync?: boolean | Record<string, unknown>;
  history: Array<{ id: number; revision: string; deployedAt?: string }>;
  operation?: Record<string, unknown>;
  deleting?: boolean;
}
export interface Policy { action: "get" | "sync" | "rollback" | "*"; object: string }
export interface FakeArgoCdOptions {
  tls: { certPem: string; keyPem: string };
  /** token → its subject and policies; default one token allowed everything. */
  tokens?: Record<string, { subject: string; policies: Policy[] }>;
  /** server.rbac.rollback.enforce.enable: rollback needs the `rollback` action instead of `sync`. */
  rollbackEnforce?: boolean;
}
export interface FakeArgoCd {
  readonly url: string;
  readonly token: string;
  readonly requests: readonly RecordedRequest[];
  addApp(app: FakeApplication): void;
  /** The Application as the API answers it. */
  app(name: string, namespace?: string): Record<string, unknown> | undefined;
  /** The controller finishes the running operation: a new history entry with the synced revision. */
  completeOperation(name: string, namespace?: string): void;
  failNext(options: { status: number; code: number; message: string; method?: string }): void;
  hang(options?: { method?: string }): void;
  reset(): void;
  close(): Promise<void>;
}

const CONTROL_PLANE = "argocd";
const REPO = "https://github.com/acme/deploy.git";
const ROLLBACK_FIELDS = new Set(["name", "id", "dryRun", "prune", "appNamespace", "project"]);

export function grpcError(status: number, code: number, message: string): Answer {
  return { status, body: { error: message, code, message, details: [] } };
}
const denied = () => grpcError(403, 7, "permission denied");
const notFound = (name: string) => grpcError(404, 5, `applications.argoproj.io "${name}" not found`);

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return re.test(value);
}

export async function startFakeArgoCd(options: FakeArgoCdOptions): Promise<FakeArgoCd> {
  const token = "fake-argocd-jwt.eyJzdWIiOiJwcm9qOnBheW1lbnRzOmZpcmVicmVhayJ9.c2lnbmF0dXJl";
  const tokens = options.tokens ?? { [token]: { subject: "proj:payments:firebreak", policies: [{ action: "*", object: "*/*" }] } };
  const apps = new Map<string, FakeApplication>();
  let failures: Array<{ status: number; code: number; message: string; method?: string }> = [];
  let hanging: { method?: string } | undefined;
  const key = (name: string, namespace = CONTROL_PLANE) => `${namespace}/${name}`;
  const rbacName = (project: string, namespace: string, name: string) => (namespace === CONTROL_PLANE ? `${project}/${name}` : `${project}/${namespace}/${name}`);

  function toJson(app: FakeApplication): Record<string, unknown> {
    const namespace = app.namespace ?? CONTROL_PLANE;
    const last = app.history[app.history.length - 1];
    const automated = app.autoSync === true ? { prune: true, selfHeal: true } : isRecord(app.autoSync) ? app.autoSync : undefined;
    return {
      metadata: { name: app.name, namespace, ...(app.deleting ? { deletionTimestamp: "2026-12-01T10:00:00Z" } : {}) },
      spec: { project: app.project, source: { repoURL: REPO, path: `apps/${app.name}`, targetRevision: "HEAD" }, destination: { server: "https://kubernetes.default.svc", namespace: "prod" }, ...(automated ? { syncPolicy: { automated } } : { syncPolicy: {} }) },
      status: {
        sync: { status: "Synced", revision: last?.revision },
        health: { status: "Healthy" },
        history: app.history.map((entry) => ({ ...entry, deployedAt: entry.deployedAt ?? "2026-11-30T12:00:00Z", source: { repoURL: REPO, path: `apps/${app.name}`, targetRevision: "HEAD" } })),
      },
      ...(app.operation ? { operation: app.operation } : {}),
    };
  }

  const fake = await startFake(
    (request) => {
      if (hanging && (!hanging.method || hanging.method === request.method)) return new Promise<Answer>(() => undefined);
      const failure = failures.find((f) => !f.method || f.method === request.method);
      if (failure) {
        failures = failures.filter((f) => f !== failure);
        return grpcError(failure.status, failure.code, failure.message);
      }
      const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
      if (bearer === undefined) return grpcError(401, 16, "no session information");
      const identity = tokens[bearer];
      if (!identity) return grpcError(401, 16, "invalid session: token signature is invalid");
      const enforce = (action: string, object: string) => identity.policies.some((p) => (p.action === "*" || p.action === action) && glob(p.object, object));

      const route = /^\/api\/v1\/applications\/([^/]+)(\/rollback)?$/.exec(request.path);
      if (!route) return { status: 404, body: "404 page not found" };
      const name = decodeURIComponent(route[1] ?? "");
      const rollback = route[2] !== undefined;
      if ((rollback && request.method !== "POST") || (!rollback && request.method !== "GET")) return grpcError(405, 12, "Method Not Allowed");

      let project: string;
      let namespace: string;
      let id: number | undefined;
      let body: Record<string, unknown> = {};
      if (rollback) {
        if (!isRecord(request.json)) return grpcError(400, 3, "invalid character in request body: the body must be a JSON object");
        body = request.json;
        const unknown = Object.keys(body).find((field) => !ROLLBACK_FIELDS.has(field));
        if (unknown) return grpcError(400, 3, `unknown field "${unknown}" in application.ApplicationRollbackRequest`);
        if (body.name !== undefined && body.name !== name) return grpcError(400, 3, "name in the body does not match the path");
        const rawId = body.id;
        id = typeof rawId === "number" ? rawId : typeof rawId === "string" && /^-?\d+$/.test(rawId) ? Number(rawId) : undefined;
        if (rawId === undefined) return grpcError(400, 3, 'proto: required field "id" not set');
        if (id === undefined || !Number.isInteger(id)) return grpcError(400, 3, `json: invalid value for int64 field id: ${JSON.stringify(rawId)}`);
        for (const flag of ["dryRun", "prune"]) if (body[flag] !== undefined && typeof body[flag] !== "boolean") return grpcError(400, 3, `json: invalid value for bool field ${flag}`);
        project = typeof body.project === "string" ? body.project : "";
        namespace = typeof body.appNamespace === "string" && body.appNamespace !== "" ? body.appNamespace : CONTROL_PLANE;
      } else {
        const projects = [...request.query.getAll("project"), ...request.query.getAll("projects")];
        if (projects.length > 1) return grpcError(400, 3, "multiple projects specified - the get endpoint accepts either zero or one project");
        project = projects[0] ?? "";
        namespace = request.query.get("appNamespace") || CONTROL_PLANE;
      }

      // getAppEnforceRBAC: the same answers whether the app is missing or denied, unless a project was named.
      const action = rollback ? (options.rollbackEnforce ? "rollback" : "sync") : "get";
      if (project !== "" && !enforce(action, rbacName(project, namespace, name))) return denied();
      const app = apps.get(key(name, namespace));
      if (!app) return project !== "" ? notFound(name) : denied();
      if (!enforce(action, rbacName(app.project, namespace, name))) return project !== "" ? notFound(name) : denied();
      if (project !== "" && app.project !== project) return notFound(name);
      if (!rollback) return { status: 200, body: toJson(app) };

      if (app.deleting) return grpcError(400, 9, "application is deleting");
      const automated = toJson(app).spec as { syncPolicy?: { automated?: { enabled?: boolean } } };
      if (automated.syncPolicy?.automated && automated.syncPolicy.automated.enabled !== false) return grpcError(400, 9, "rollback cannot be initiated when auto-sync is enabled");
      const entry = app.history.find((h) => h.id === id);
      if (!entry) return grpcError(400, 3, `application ${namespace}/${name} does not have deployment with id ${id}`);
      if (app.operation) return grpcError(400, 9, "another operation is already in progress");
      if (body.dryRun !== true) {
        app.operation = {
          sync: { revision: entry.revision, prune: body.prune === true, syncStrategy: { apply: {} }, source: { repoURL: REPO, path: `apps/${app.name}`, targetRevision: "HEAD" } },
          initiatedBy: { username: identity.subject },
        };
      }
      return { status: 200, body: toJson(app) };
    },
    { tls: options.tls },
  );

  return {
    url: fake.url,
    token,
    requests: fake.requests,
    addApp: (app) => void apps.set(key(app.name, app.namespace), structuredClone(app)),
    app: (name, namespace) => {
      const app = apps.get(key(name, namespace));
      return app ? toJson(app) : undefined;
    },
    completeOperation(name, namespace) {
      const app = apps.get(key(name, namespace));
      const sync = app?.operation?.sync as { revision?: string } | undefined;
      if (!app || !sync?.revision) throw new Error(`no operation running on ${name}`);
      const id = Math.max(0, ...app.history.map((h) => h.id)) + 1;
      app.history.push({ id, revision: sync.revision, deployedAt: new Date().toISOString() });
      delete app.operation;
    },
    failNext({ status, code, message, method }) {
      failures.push({ status, code, message, method });
    },
    hang(match = {}) {
      hanging = match;
    },
    reset() {
      apps.clear();
      failures = [];
      hanging = undefined;
      fake.requests.length = 0;
    },
    close: () => fake.close(),
  };
}
