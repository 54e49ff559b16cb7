/**
 * Pieces shared by the rollback providers (kubernetes, argocd,
 * github-actions): YAML field schemas with messages people can act on, and
 * the words for transport failures, so that every provider says "did not
 * answer within 5000 ms" the same way and none leaks a credential.
 */
import { z } from "zod";
import { PermanentOutboundError, RateLimitedError, TransientOutboundError, errorMessage } from "../../lib/errors.ts";
import { excerpt } from "../../lib/outbound.ts";
import type { ActionBase, ExecutionContext, Outcome } from "../ports.ts";

/** An environment variable's name, e.g. ARGOCD_TOKEN (its value is read through ProviderDeps.secrets, never from the YAML). */
export function envName(holds: string): z.ZodString {
  return z
    .string({ error: `must be the name of an environment variable holding ${holds}` })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, `must be the name of an environment variable (letters, digits and _), holding ${holds}; never the value itself`);
}

/** An https URL without credentials, query or fragment; the trailing slash is dropped. */
export function httpsUrl(example: string): z.ZodType<string> {
  const message = `must be an https URL such as ${example} (no credentials, query or fragment)`;
  return z
    .string({ error: message })
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === "https:" && url.username === "" && url.password === "" && url.search === "" && url.hash === "";
      } catch {
        return false;
      }
    }, message)
    .transform((value) => value.replace(/\/+$/, ""));
}

/** The `error` of a strict object: names the unknown keys and the ones the kind accepts. */
export function unknownFields(kind: string, known: readonly string[]) {
  return (issue: { code?: string; keys?: string[] }): string | undefined =>
    issue.code === "unrecognized_keys" ? `unknown field${(issue.keys?.length ?? 0) > 1 ? "s" : ""} ${(issue.keys ?? []).join(", ")} for kind ${kind} (its fields: ${known.join(", ")})` : undefined;
}

/** Per action or per execution: either asks to call nothing that changes anything. */
export function isDryRun(action: ActionBase, context: Pick<ExecutionContext, "dryRun">): boolean {
  return action.dryRun || context.dryRun;
}

/** Replaces every occurrence of a secret (token, password, key) by [redacted]; short values are left alone (they would match everywhere). */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 6) out = out.split(secret).join("[redacted]");
  }
  return out;
}

/** The vendor's own message, short, single-line and without secrets. */
export function vendorDetail(text: string | undefined, secrets: readonly (string | undefined)[]): string | undefined {
  if (text === undefined) return undefined;
  const line = excerpt(redact(text, secrets), 500);
  return line === "" ? undefined : line;
}

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  415: "Unsupported Media Type",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** "403 Forbidden", "418". */
export function httpStatus(status: number): string {
  const reason = REASONS[status];
  return reason ? `${status} ${reason}` : String(status);
}

export function failed(summary: string, retryable: boolean, detail?: string): Outcome {
  return detail === undefined ? { status: "failed", summary, retryable } : { status: "failed", summary, detail, retryable };
}

export function refused(summary: string): Outcome {
  return { status: "refused", summary };
}

/**
 * An exception from the outbound client (or anything else thrown around a
 * call) as a failed Outcome. `call` names what was being done ("read
 * application checkout"); `changing` says the call may have changed something,
 * so a lost answer leaves the result unknown: the words say so, and the
 * outcome is not offered for a blind retry.
 */
export function transportFailure(vendor: string, call: string, error: unknown, options: { changing?: boolean; check?: string; secrets?: readonly (string | undefined)[] } = {}): Outcome {
  const secrets = options.secrets ?? [];
  const unknownResult = options.changing ? ` It may or may not have been done: ${options.check ?? `check in ${vendor}`} before trying again.` : "";
  if (error instanceof RateLimitedError) {
    return failed(`${vendor} is rate-limiting Firebreak and did not ${call}: try again in ${Math.ceil(error.retryAfterMs / 1_000)} s.`, true, vendorDetail(error.message, secrets));
  }
  if (error instanceof TransientOutboundError) {
    const timedOut = error.code === "outbound_timeout";
    const what = timedOut ? `${vendor} did not answer in time to ${call}` : `Could not reach ${vendor} to ${call}`;
    return failed(`${what}.${unknownResult}`, !options.changing, vendorDetail(error.message, secrets));
  }
  if (error instanceof PermanentOutboundError) {
    return failed(`Firebreak could not ${call}: ${redact(error.message, secrets)}`, false);
  }
  return failed(`Firebreak could not ${call} (${vendor}): ${vendorDetail(errorMessage(error), secrets) ?? "unknown error"}.${unknownResult}`, false);
}

/** "abc1234" for a 40-character Git SHA, anything else (a chart version, a tag) as it is. */
export function shortRevision(revision: string): string {
  return /^[0-9a-f]{40}$/i.test(revision) ? revision.slice(0, 7) : revision;
}
