/** Incidents and hostile text shared by the view tests. */
import type { IncidentDetail } from "../../src/incident/models.ts";

/** Typed by a person: must never reach Slack as markup. */
export const HOSTILE = "<!channel> <@U0EVIL99> <https://evil.example|docs> <#C0EVIL99> & more";

/** The pieces of HOSTILE that Slack would act on if they arrived unescaped. */
export const HOSTILE_FRAGMENTS = ["<!channel>", "<@U0EVIL99>", "<https://evil.example|docs>", "<#C0EVIL99>"] as const;

/** HOSTILE as it must appear in mrkdwn: escaped exactly once. */
export const HOSTILE_ESCAPED = "&lt;!channel&gt; &lt;@U0EVIL99&gt; &lt;https://evil.example|docs&gt; &lt;#C0EVIL99&gt; &amp; more";

export const DECLARED_AT = new Date("2026-11-22T10:00:00Z");

export function incident(overrides: Partial<IncidentDetail> = {}): IncidentDetail {
  return {
    scribeId: null,
    commsId: null,
    headerMessageTs: null,
    bookmarkId: null,
    announcementChannelId: null,
    announcementTs: null,
    id: "7d0c8f4e-8f0e-4a59-9a4f-1f0c2d3e4b5a",
    number: 12,
    title: "Checkout is failing",
    severity: "SEV2",
    status: "INVESTIGATING",
    private: false,
    commanderId: "U0COMMAND",
    declaredById: "U0DECLARE",
    declaredAt: DECLARED_AT,
    channelId: "C0INCIDENT",
    channelName: "inc-12-checkout-is-failing",
    ...overrides,
  };
}
