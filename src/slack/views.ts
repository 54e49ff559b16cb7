/** Messages the Slack transport itself sends (not tied to a domain). */
export interface EphemeralResponse {
  response_type: "ephemeral";
  text: string;
  blocks?: unknown[];
}

export function ephemeral(text: string, blocks?: unknown[]): EphemeralResponse {
  return blocks ? { response_type: "ephemeral", text, blocks } : { response_type: "ephemeral", text };
}

/** What a person sees when Firebreak fails or is too slow to answer within Slack's 3 seconds. */
export function apologyFor(kind: "error" | "slow"): EphemeralResponse {
  return kind === "slow"
    ? ephemeral(
        ":hourglass: Firebreak is slow to answer right now. If your request went through you will see it in a moment; otherwise please try again.",
      )
    : ephemeral(
        ":warning: Sorry, Firebreak could not complete that request (it may be unable to reach its database). Nothing was changed. Please try again in a minute.",
      );
}
