import type { ActionBase, ProviderDefinition, RemediationKind } from "../ports.ts";
import { argocdProvider } from "./argocd.ts";
import { flagsmithProvider } from "./flagsmith.ts";
import { githubActionsProvider } from "./github-actions.ts";
import { kubernetesProvider } from "./kubernetes.ts";
import { launchDarklyProvider } from "./launchdarkly.ts";
import { unleashProvider } from "./unleash.ts";
import { webhookProvider } from "./webhook.ts";

/** Every kind an action may name, with its provider: a new kind is its file plus one line here. */
export const PROVIDERS: { readonly [K in RemediationKind]: ProviderDefinition<ActionBase> } = {
  kubernetes: kubernetesProvider,
  argocd: argocdProvider,
  "github-actions": githubActionsProvider,
  unleash: unleashProvider,
  launchdarkly: launchDarklyProvider,
  flagsmith: flagsmithProvider,
  webhook: webhookProvider,
};
