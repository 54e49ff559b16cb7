import { z } from "zod";
import type { FileConfig } from "../config/file.ts";
import { ConfigError } from "../lib/errors.ts";
import type { ActionBase, ProviderDefinition, RemediationKind } from "./ports.ts";
import { PROVIDERS } from "./providers/index.ts";

/**
 * The remediation section of the YAML, checked when the module starts: each
 * service's `actions` against the fields every action has, then against its
 * kind's own fields (the provider's schema). One sentence per problem, with
 * its path, like the rest of the configuration.
 */

const KINDS = Object.keys(PROVIDERS) as [RemediationKind, ...RemediationKind[]];

const base = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be lowercase letters, digits, - or _ (at most 64), e.g. checkout-rollback"),
  label: z.string().trim().min(1, "is required: the button's text").max(75, "must be at most 75 characters (a Slack button)"),
  kind: z.enum(KINDS, { error: `must be one of ${KINDS.join(", ")}` }),
  allowed: z.array(z.string().regex(/^[UWS][A-Z0-9]{2,}$/, "must be Slack user ids (U...) or user group ids (S...)")).default([]),
  dryRun: z.boolean().default(false),
});

/** A configured action, ready to run: its base fields, its kind's fields, its service. */
export interface ConfiguredAction {
  readonly action: ActionBase;
  readonly service: { key: string; name: string };
  readonly provider: ProviderDefinition<ActionBase>;
}

export function loadActions(config: Pick<FileConfig, "services">, source = "configuration"): ReadonlyMap<string, ConfiguredAction> {
  const problems: string[] = [];
  const actions = new Map<string, ConfiguredAction>();
  config.services.forEach((service, s) => {
    service.actions.forEach((raw, a) => {
      const path = `services.${s}.actions.${a}`;
      const { id, label, kind, allowed, dryRun, ...rest } = raw;
      const parsed = base.safeParse({ id, label, kind, allowed, dryRun });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) problems.push(`${source}: ${path}.${issue.path.join(".")} ${issue.message}`);
        return;
      }
      const provider = PROVIDERS[parsed.data.kind];
      const fields = provider.fields.safeParse(rest);
      if (!fields.success) {
        for (const issue of fields.error.issues) problems.push(`${source}: ${path}${issue.path.length > 0 ? `.${issue.path.join(".")}` : ""} ${issue.message}`);
        return;
      }
      if (actions.has(parsed.data.id)) {
        problems.push(`${source}: ${path}.id "${parsed.data.id}" is used twice: action ids must be unique across services`);
        return;
      }
      const action = Object.freeze({ ...(fields.data as object), ...parsed.data }) as ActionBase;
      actions.set(action.id, Object.freeze({ action, service: { key: service.key, name: service.name }, provider }));
    });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return actions;
}

/** The actions offered for an incident: those of its services, in configuration order. */
export function actionsFor(actions: ReadonlyMap<string, ConfiguredAction>, services: readonly string[]): ConfiguredAction[] {
  return [...actions.values()].filter((configured) => services.includes(configured.service.key));
}
