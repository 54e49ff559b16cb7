/**
 * The remediation seam: rolling back a deploy or switching off a feature
 * flag from a button in the incident channel. Each configured action maps to
 * one provider; executions are recorded (RemediationExecution) and audited on
 * the timeline whether they succeed, fail or are refused.
 */
export interface RemediationRequest {
  /** The action key from the YAML config, e.g. "checkout-rollback". */
  actionKey: string;
  params: Readonly<Record<string, string>>;
  /** Sent to the provider so a retried request is applied once. */
  idempotencyKey: string;
  /** Every outbound call has a deadline. */
  timeoutMs: number;
}

export interface RemediationResult {
  ok: boolean;
  /** Shown in the channel and recorded on the timeline. */
  summary: string;
  details?: Readonly<Record<string, unknown>>;
}

export interface RemediationProvider {
  readonly kind: "deploy_rollback" | "feature_flag_off";
  execute(request: RemediationRequest): Promise<RemediationResult>;
}
