/**
 * The remediation seam: rolling back a deploy or switching a feature flag from
 * a button in the incident channel. Each action in the YAML names a `kind`;
 * each kind is one provider (src/remediation/providers/<kind>.ts) that knows
 * its vendor's API and nothing about Slack, incidents or the database. The
 * flows (authorization, confirmation, exactly-once, recording, messages) are
 * the module's, the same for every kind.
 */
import type { z } from "zod";

export type RemediationKind = "kubernetes" | "argocd" | "github-actions" | "unleash" | "launchdarkly" | "flagsmith" | "webhook";

/** What every action has in the YAML, whatever its kind (the kind's own fields come on top). */
export interface ActionBase {
  id: string;
  label: string;
  kind: RemediationKind;
  /** Slack user ids (U…/W…) or user group ids (S…) who may press it, besides the commander and admins. */
  allowed: readonly string[];
  /** Per action: show what would be called, call nothing that changes anything. */
  dryRun: boolean;
}

/** Reads `...Env` secrets: the composition root passes a lookup over the validated environment (providers never read process.env). */
export type SecretLookup = (name: string) => string | undefined;

export interface ProviderDeps {
  secrets: SecretLookup;
  /** Deadline of one whole call to the vendor (all attempts). */
  timeoutMs: number;
}

/** Who and what an execution is for; providers that carry context (webhook body, workflow inputs) send it. */
export interface ExecutionContext {
  incident: { number: number; title: string; severity: string; channelId: string | null; channelName: string | null };
  /** The person who confirmed. */
  confirmedBy: { userId: string; name: string };
  /** The same for every attempt of one execution (sent as `Idempotency-Key` where the vendor supports one). */
  idempotencyKey: string;
  /** Call nothing that changes anything; reads are allowed. */
  dryRun: boolean;
  /** For flags: the state to set, when it is not the action's own `state` (the opposite change offered afterwards). */
  flagState?: "on" | "off";
}

/** For the confirmation modal: exactly what will happen where. All plain text, no secrets (name the env variable). */
export interface Preview {
  /** e.g. "Kubernetes Deployment prod/checkout-api". */
  target: string;
  /** e.g. "Roll back to revision 41 (image checkout:1.4.2)". */
  effect: string;
  /** What could be read now, e.g. "On in production", "Revision 42 (image checkout:1.4.3)"; undefined when it could not be read (with `problem` saying why). */
  current?: string;
  problem?: string;
  /** The environment variables holding the credentials this action uses, e.g. ["UNLEASH_ADMIN_TOKEN"]. */
  credentials: readonly string[];
}

/**
 * How an execution ended, in plain words for the channel, the timeline and the
 * post-mortem. `summary` never carries a secret; `detail` is the vendor's own
 * error message when there is one.
 */
export type Outcome =
  | { status: "succeeded"; summary: string; link?: string; details?: Readonly<Record<string, string>> }
  | { status: "dry_run"; summary: string; details?: Readonly<Record<string, string>> }
  /** The vendor said no, or failed: worth a retry when `retryable`. */
  | { status: "failed"; summary: string; detail?: string; retryable: boolean }
  /** The change needs an approval or change request first (a flag environment's policy). */
  | { status: "approval_required"; summary: string; link?: string }
  /** Nothing was called because it would be wrong: Argo CD auto-sync on, no previous revision, flag already in that state. */
  | { status: "refused"; summary: string };

export interface RemediationProvider<A extends ActionBase = ActionBase> {
  readonly kind: RemediationKind;
  /** Reads what it can (current revision, flag state) for the confirmation; never throws: a failed read is `problem`. */
  preview(action: A, context: Pick<ExecutionContext, "flagState">): Promise<Preview>;
  /** Runs the action once (or only describes it when `context.dryRun`); never throws for a vendor answer: the answer is the Outcome. */
  execute(action: A, context: ExecutionContext): Promise<Outcome>;
}

/** One kind: its YAML fields (on top of ActionBase, validated when the config loads) and its provider. */
export interface ProviderDefinition<A extends ActionBase = ActionBase> {
  readonly kind: RemediationKind;
  /** zod schema of the kind's own fields, e.g. `{ namespace, deployment, kubeconfigEnv? }`; strict (unknown keys are a config error). */
  readonly fields: z.ZodType<Omit<A, keyof ActionBase>>;
  /** Is it a feature flag (offers the opposite change afterwards)? */
  readonly flag: boolean;
  /** The environment variables an action of this kind reads (for the startup check and the confirmation). */
  credentials(action: A): readonly string[];
  create(deps: ProviderDeps): RemediationProvider<A>;
}
