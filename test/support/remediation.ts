import { randomUUID } from "node:crypto";
import type { ExecutionContext } from "../../src/remediation/ports.ts";

/** An execution's context as the remediation flows build it (INC-42, confirmed by alice), for provider tests. */
export function executionContext(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  return {
    incident: { number: 42, title: "Checkout errors", severity: "SEV1", channelId: "C0INC42", channelName: "inc-42-checkout" },
    confirmedBy: { userId: "U0ALICE", name: "alice" },
    idempotencyKey: randomUUID(),
    dryRun: false,
    ...overrides,
  };
}
