/**
 * kind: argocd — rolls an Argo CD Application back to its previous
 * deployment, what `argocd app rollback <name>` does, through the REST API
 * (bearer token):
 *
 * - GET /api/v1/applications/{name}?appNamespace=&project= reads
 *   status.history (one entry per sync: id, revision(s), deployedAt) and
 *   spec.syncPolicy.automated;
 * - POST /api/v1/applications/{name}/rollback {name, id, prune,
 *   appNamespace?, project?} starts a sync to the chosen history entry.
 *
 * The target is the newest history entry older than the current one (the
 * last) whose revision differs from it. Refused, with nothing called that
 * changes anything: auto-sync on (Argo CD would redeploy the bad revision
 * straight away; it refuses too), an operation already running, the
 * application being deleted, no earlier revision. Argo CD applies the
 * rollback asynchronously: success means "started", and links the
 * application in the Argo CD UI.
 *
 * RBAC: `applications, get` and `applications, sync` on the application
 * (`applications, rollback` instead of sync where the server sets
 * server.rbac.rollback.enforce.enable).
 */
import { z } from "zod";
import { createVendorClient, record, type OutboundClient, type OutboundResponse } from "../../lib/outbound.ts";
import type { ActionBase, ExecutionContext, Outcome, Preview, ProviderDefinition, ProviderDeps, RemediationProvider } from "../ports.ts";
import { envName, failed, httpStatus, httpsUrl, isDryRun, refused, shortRevision, transportFailure, unknownFields, vendorDetail } from "./rollback-common.ts";

export interface ArgoCdAction extends ActionBase {
  kind: "argocd";
  /** The Argo CD server, e.g. https://argocd.example.com (what `argocd login` is given, with https://). */
  url: string;
  /** Names the environment variable holding the API token. */
  tokenEnv: string;
  application: string;
  /** The namespace of the Application when it is not the control plane's (apps in any namespace). */
  appNamespace?: string;
  /** The Application's project: when set, Argo CD also checks the application is in it. */
  project?: string;
  /** Delete resources that are not in the rolled-back revision (`argocd app rollback --prune`). Default false. */
  prune?: boolean;
}

const USER_AGENT = "Firebreak/0.1 (incident management; remediation)";
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const fields = z
  .object(
    {
      url: httpsUrl("https://argocd.example.com"),
      tokenEnv: envName("an Argo CD API token (e.g. from argocd proj role create-token)"),
      application: z
        .string({ error: "is required: the name of the Argo CD Application, e.g. checkout" })
        .max(253, "must be at most 253 characters")
        .regex(dnsSubdomain, "must be an Argo CD Application name: lowercase letters, digits, '-' and '.'"),
      appNamespace: z.string().max(63, "must be at most 63 characters").regex(dnsLabel, "must be a Kubernetes namespace name: lowercase letters, digits and '-'").optional(),
      project: z.string().min(1, "must name an Argo CD project").max(253, "must be at most 253 characters").optional(),
      prune: z.boolean({ error: "must be true or false" }).optional(),
    },
    { error: unknownFields("argocd", ["url", "tokenEnv", "application", "appNamespace", "project", "prune"]) },
  )
  .strict();

interface HistoryEntry { id: number; revision?: string; revisions?: string[]; deployedAt?: string }
interface Application {
  metadata?: { deletionTimestamp?: string };
  spec?: { syncPolicy?: { automated?: { enabled?: boolean } } };
  status?: { history?: HistoryEntry[] };
  operation?: unknown;
}
type Read = { ok: true; app: Application } | { ok: false; outcome: Outcome };
type Plan = { ok: true; from: HistoryEntry; to: HistoryEntry } | { ok: false; outcome: Outcome; current?: string };

const revisionKey = (entry: HistoryEntry) => (entry.revisions && entry.revisions.length > 0 ? entry.revisions.join(",") : (entry.revision ?? ""));
const revisionWords = (entry: HistoryEntry) => {
  const revisions = entry.revisions && entry.revisions.length > 0 ? entry.revisions : [entry.revision ?? "?"];
  return `${revisions.length > 1 ? "revisions" : "revision"} ${revisions.map(shortRevision).join(", ")}`;
};
const describe = (entry: HistoryEntry) => `history ${entry.id} (${revisionWords(entry)}${entry.deployedAt ? `, deployed ${entry.deployedAt}` : ""})`;

/** The Argo CD API's error: {error, code (gRPC), message}. */
function argoMessage(response: OutboundResponse): string | undefined {
  const body = record(response.json);
  const message = typeof body.message === "string" ? body.message : typeof body.error === "string" ? body.error : undefined;
  return message ?? (response.text.trim() === "" ? undefined : response.text);
}

function createProvider(deps: ProviderDeps): RemediationProvider<ArgoCdAction> {
  function connect(action: ArgoCdAction): { client: OutboundClient; token: string } | Outcome {
    const token = deps.secrets(action.tokenEnv);
    if (!token) return failed(`${action.tokenEnv} is not set: it should hold the Argo CD API token for application ${action.application}.`, false);
    const client = createVendorClient("argocd", { timeoutMs: deps.timeoutMs }, { authorization: `Bearer ${token}`, "user-agent": USER_AGENT });
    return { client, token };
  }

  const name = (action: ArgoCdAction) => (action.appNamespace ? `${action.appNamespace}/${action.application}` : action.application);
  const appPath = (action: ArgoCdAction) => `/api/v1/applications/${encodeURIComponent(action.application)}`;
  const uiLink = (action: ArgoCdAction) => `${action.url}/applications/${action.appNamespace ? `${encodeURIComponent(action.appNamespace)}/` : ""}${encodeURIComponent(action.application)}`;

  /** A non-2xx answer in words; `verb` is the RBAC action the call needs. */
  function refusal(action: ArgoCdAction, response: OutboundResponse, verb: "get" | "sync", token: string, changing: boolean): Outcome {
    const { status } = response;
    const detail = vendorDetail(argoMessage(response), [token]);
    const words = httpStatus(status);
    const app = `application ${name(action)}`;
    if (status === 401) return failed(`Argo CD did not accept the token in ${action.tokenEnv} (${words}): it may have expired or been revoked; create a new one (argocd proj role create-token).`, false, detail);
    if (status === 403) {
      return failed(`Argo CD refused: the token in ${action.tokenEnv} may not ${verb === "get" ? "read" : "sync (roll back)"} ${app}, or there is no such application (${words}).`, false, detail);
    }
    if (status === 404) return failed(`Argo CD has no ${app}${action.project ? ` in project ${action.project}` : ""} (${words}).`, false, detail);
    if (status >= 300 && status < 400) return failed(`Argo CD at ${action.url} redirected the call (${words}): check the action's url (the Argo CD server's address, not a login page).`, false);
    if (status === 429) return failed(`Argo CD is rate-limiting Firebreak (${words}); try again shortly.`, true, detail);
    if (status >= 500) {
      const unknown = changing ? ` The rollback may or may not have started: check ${uiLink(action)} before trying again.` : "";
      return failed(`Argo CD failed to ${verb === "get" ? "read" : "roll back"} ${app} (${words}).${unknown}`, !changing, detail);
    }
    return failed(`Argo CD refused to ${verb === "get" ? "read" : "roll back"} ${app} (${words}${detail ? `: ${detail}` : ""}).`, false, detail);
  }

  async function read(action: ArgoCdAction, client: OutboundClient, token: string): Promise<Read> {
    const query = new URLSearchParams();
    if (action.appNamespace) query.set("appNamespace", action.appNamespace);
    if (action.project) query.set("project", action.project);
    const url = `${action.url}${appPath(action)}${query.size > 0 ? `?${query.toString()}` : ""}`;
    let response: OutboundResponse;
    try {
      response = await client.send({ operation: "read application", method: "GET", url });
    } catch (error) {
      return { ok: false, outcome: transportFailure("Argo CD", `read application ${name(action)}`, error, { secrets: [token] }) };
    }
    if (response.status !== 200) return { ok: false, outcome: refusal(action, response, "get", token, false) };
    const app = record(response.json);
    if (!("spec" in app) && !("status" in app)) {
      return { ok: false, outcome: failed(`Argo CD at ${action.url} answered something that is not an application: check the action's url (the Argo CD server's address).`, false) };
    }
    return { ok: true, app };
  }

  function plan(action: ArgoCdAction, app: Application): Plan {
    // int64 ids: numbers in Argo CD's JSON, but a string is read the same way.
    const history = (app.status?.history ?? [])
      .map((entry) => ({ ...entry, id: Number(entry.id) }))
      .filter((entry) => Number.isSafeInteger(entry.id))
      .sort((a, b) => a.id - b.id);
    const from = history[history.length - 1];
    const current = from ? `Deployed ${describe(from)}` : undefined;
    const app_ = `Argo CD application ${name(action)}`;
    const automated = app.spec?.syncPolicy?.automated;
    if (automated && automated.enabled !== false) {
      return {
        ok: false,
        current,
        outcome: refused(
          `${app_} has auto-sync on: Argo CD would redeploy the bad revision right after a rollback, so nothing was done. Turn auto-sync off first (argocd app set ${action.application} --sync-policy none, or syncPolicy.automated.enabled: false where the Application is defined), then roll back.`,
        ),
      };
    }
    if (app.metadata?.deletionTimestamp) return { ok: false, current, outcome: refused(`${app_} is being deleted; there is nothing to roll back.`) };
    if (app.operation) {
      return { ok: false, current, outcome: refused(`${app_} has an operation running (a sync or another rollback): wait for it to finish, or stop it (argocd app terminate-op ${action.application}), then roll back.`) };
    }
    if (!from) return { ok: false, outcome: refused(`${app_} has no deployment history: it was never synced, so there is nothing to roll back to.`) };
    const to = history.filter((entry) => entry.id < from.id && revisionKey(entry) !== revisionKey(from)).pop();
    if (!to) {
      return { ok: false, current, outcome: refused(`${app_} has no earlier deployment of another revision in its history (Argo CD keeps the last revisionHistoryLimit syncs, 10 by default).`) };
    }
    return { ok: true, from, to };
  }

  return {
    kind: "argocd",
    async preview(action) {
      const target = `Argo CD application ${name(action)} (${new URL(action.url).host})`;
      const credentials = argocdProvider.credentials(action);
      const effect = "Roll back to the previous deployment (argocd app rollback)";
      const connection = connect(action);
      if ("status" in connection) return { target, effect, problem: connection.summary, credentials };
      const result = await read(action, connection.client, connection.token);
      if (!result.ok) return { target, effect, problem: result.outcome.summary, credentials };
      const planned = plan(action, result.app);
      if (!planned.ok) return { target, effect, ...(planned.current ? { current: planned.current } : {}), problem: planned.outcome.summary, credentials };
      return { target, effect: `Roll back to ${describe(planned.to)}${action.prune ? ", pruning resources not in it" : ""}`, current: `Deployed ${describe(planned.from)}`, credentials } satisfies Preview;
    },
    async execute(action, context: ExecutionContext) {
      const connection = connect(action);
      if ("status" in connection) return connection;
      const { client, token } = connection;
      const result = await read(action, client, token);
      if (!result.ok) return result.outcome;
      const planned = plan(action, result.app);
      if (!planned.ok) return planned.outcome;
      const { from, to } = planned;
      const body = { name: action.application, id: to.id, prune: action.prune ?? false, ...(action.appNamespace ? { appNamespace: action.appNamespace } : {}), ...(action.project ? { project: action.project } : {}) };
      const details = { application: name(action), fromHistoryId: String(from.id), toHistoryId: String(to.id), revision: revisionKey(to) };
      if (isDryRun(action, context)) {
        return {
          status: "dry_run",
          summary: `Would POST ${appPath(action)}/rollback ${JSON.stringify(body)}: Argo CD would sync application ${name(action)} back to ${describe(to)}; it is now at ${describe(from)}. Nothing was changed.`,
          details,
        };
      }
      let response: OutboundResponse;
      try {
        response = await client.send({ operation: "roll back application", method: "POST", url: `${action.url}${appPath(action)}/rollback`, body });
      } catch (error) {
        return transportFailure("Argo CD", `roll back application ${name(action)}`, error, { changing: true, check: `look at ${uiLink(action)}`, secrets: [token] });
      }
      if (response.status !== 200) return refusal(action, response, "sync", token, true);
      return {
        status: "succeeded",
        summary: `Argo CD started rolling application ${name(action)} back to ${describe(to)}; it was at ${describe(from)}.`,
        link: uiLink(action),
        details,
      };
    },
  };
}

export const argocdProvider: ProviderDefinition<ArgoCdAction> = {
  kind: "argocd",
  fields,
  flag: false,
  credentials: (action) => [action.tokenEnv],
  create: createProvider,
};
