import { firingNotification } from "../support/alert-payloads.ts";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FIELDS, VIEWS } from "../../src/incident/views.ts";
import { signPagerDutyWebhook, type FakePagerDuty } from "../fakes/pagerduty/index.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { startPagerDutyForApp } from "../support/pagerduty.ts";
import { fromFakeView, sendViewSubmission } from "../support/slack-payloads.ts";
import { sendCommand } from "../support/slack-requests.ts";
import { mrkdwnTexts } from "../support/blocks.ts";

/**
 * Paging through the real app: incidents declared by alert and by the modal
 * page a fake PagerDuty (a real HTTPS server on 127.0.0.1 with a certificate
 * from the run's private CA, trusted through NODE_EXTRA_CA_CERTS, enforcing
 * PagerDuty's published contract), the on-call engineer is looked up and
 * brought in, and PagerDuty's signed v3 webhooks land on the timeline.
 */

const AM_TOKEN = "am-bearer-0123456789abcdef0123";
const WEBHOOK_SECRET = "pd-webhook-secret-0f1e2d3c4b5a69788796";
/** Events API v2 integration keys: 32 characters. */
const routingKey = (name: string, n: number) => `R0UTE${name}`.padEnd(31, "0") + String(n);
const CHECKOUT_KEY = routingKey("CHECKOUT", 1);
const SEARCH_KEY = routingKey("SEARCH", 2);
const PAYMENTS_KEY = routingKey("PAYMENTS", 3);
/** Well formed, but no PagerDuty service has it (the fake refuses it, as a 400). */
const GHOST_KEY = routingKey("GHOST", 4);
const SLACK_ANA = "U0ANAONCAL";
const SLACK_BOB = "U0BOBDECLR";

let slack: FakeSlack;
let pd: FakePagerDuty;
let app: TestApp;
let dataDir: string;
let configDir: string;
let env: Record<string, string>;
let anaId: string;

beforeAll(async () => {
  const pagerDuty = await startPagerDutyForApp(
    [
      { id: "PCHKSVC1", name: "Checkout", policyId: "PCHKPOL1", routingKey: CHECKOUT_KEY },
      { id: "PSRCSVC2", name: "Search", policyId: "PSRCPOL2", routingKey: SEARCH_KEY },
      { id: "PPAYSVC3", name: "Payments", policyId: "PPAYPOL3", routingKey: PAYMENTS_KEY },
    ],
    { unknownRoutingKeys: "reject" },
  );
  pd = pagerDuty.pd;
  const ana = pd.addUser({ name: "Ana Oncall", email: "ana@example.com" });
  anaId = ana.id;
  pd.addUser({ name: "Bob Declarer", email: "bob@example.com" });
  // On call for payments, but not in the Slack workspace.
  const carol = pd.addUser({ name: "Carol Contractor", email: "carol@contractor.example" });
  pd.setOnCall("PCHKPOL1", ana.id, { level: 1 });
  pd.setOnCall("PPAYPOL3", carol.id, { level: 1 });
  // Search: nobody on call at level 1.

  slack = await startFakeSlack({
    users: [
      { id: SLACK_ANA, name: "ana", email: "ana@example.com" },
      { id: SLACK_BOB, name: "bob", email: "bob@example.com" },
    ],
    // This file declares a dozen incidents in a few seconds, each with a header, notices and a bookmark.
    rateLimits: { "chat.postMessage": { perMinute: 6_000, burst: 600 }, "conversations.setTopic": TEST_SPEED, "bookmarks.add": TEST_SPEED, "bookmarks.edit": TEST_SPEED, "chat.update": TEST_SPEED, "conversations.create": TEST_SPEED, "conversations.invite": TEST_SPEED, "views.open": TEST_SPEED, "pins.add": TEST_SPEED, "users.info": TEST_SPEED, "users.lookupByEmail": TEST_SPEED },
  });
  configDir = await mkdtemp(join(tmpdir(), "firebreak-paging-"));
  const configFile = join(configDir, "firebreak.yml");
  await writeFile(
    configFile,
    [
      "paging:",
      "  severities: [SEV1, SEV2]",
      "  commander: oncall",
      "  userPages:",
      "    service: PCHKSVC1",
      "    from: bob@example.com",
      "services:",
      "  - { key: checkout, name: Checkout, pagerduty: { routingKey: " + CHECKOUT_KEY + ", escalationPolicy: PCHKPOL1 } }",
      "  - { key: search, name: Search, pagerduty: { routingKey: " + SEARCH_KEY + ", escalationPolicy: PSRCPOL2 } }",
      "  - { key: payments, name: Payments, pagerduty: { routingKey: " + PAYMENTS_KEY + ", escalationPolicy: PPAYPOL3 } }",
      "  - { key: docs, name: Docs }",
      "  - { key: ghost, name: Ghost, pagerduty: { routingKey: " + GHOST_KEY + " } }",
      "alerts:",
      "  routes:",
      "    - { name: checkout-down, match: { alertname: CheckoutDown }, service: checkout, severity: SEV1, action: declare }",
    ].join("\n"),
  );
  env = {
    ...pagerDuty.env,
    FIREBREAK_CONFIG: configFile,
    ALERTMANAGER_TOKEN: AM_TOKEN,
    PAGERDUTY_TOKEN: pd.token,
    PAGERDUTY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PAGERDUTY_TIMEOUT_MS: "3000",
    PAGERDUTY_DELAY_WARNING_SECONDS: "1",
  };
  app = await startTestApp({ slack, env });
  dataDir = app.dataDir;
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await pd?.close();
  if (dataDir) await removeDir(dataDir);
  if (configDir) await removeDir(configDir);
});

afterEach(async () => {
  pd.restore();
  await waitForIdleJobs(app, 30_000);
  // The canary: no PagerDuty secret in any log line or Slack message.
  const said = JSON.stringify([...slack.calls.map((call) => call.args)]);
  for (const secret of [pd.token, CHECKOUT_KEY, SEARCH_KEY, PAYMENTS_KEY, GHOST_KEY, WEBHOOK_SECRET]) {
    expect(app.logs.text()).not.toContain(secret);
    expect(said).not.toContain(secret);
  }
  expect(pd.contractViolations).toEqual([]);
});

// ---- helpers ------------------------------------------------------------------------------------

async function deliver(body: unknown): Promise<number> {
  const response = await fetch(`${app.url}/webhooks/alertmanager`, { method: "POST", headers: { authorization: `Bearer ${AM_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  await response.text();
  return response.status;
}

/** Declares through the modal, as `bob`, for one service at one severity; resolves with the incident once its header is posted. */
async function declareByModal(title: string, severity: string, service: string) {
  await sendCommand(app.url, "declare", { trigger_id: slack.newTriggerId(SLACK_BOB), user_id: SLACK_BOB });
  const view = slack.views
    .modals()
    .filter((candidate) => candidate.callback_id === VIEWS.declare)
    .at(-1);
  if (!view) throw new Error("the declare modal was not opened");
  const response = await sendViewSubmission(app.url, {
    user: SLACK_BOB,
    values: {
      [FIELDS.title.block]: { [FIELDS.title.action]: { type: "plain_text_input", value: title } },
      [FIELDS.severity.block]: { [FIELDS.severity.action]: { type: "static_select", selected_option: { value: severity, text: severity } } },
      [FIELDS.service.block]: { [FIELDS.service.action]: { type: "static_select", selected_option: { value: service, text: service } } },
      [FIELDS.private.block]: { [FIELDS.private.action]: { type: "checkboxes", selected_options: [] } },
    },
    ...fromFakeView(view),
  });
  expect(response.status).toBe(200);
  return eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title, channelId: { not: null } } })) ?? undefined, 15_000, `incident "${title}" with its channel`);
}

const dedupKeyOf = (incidentId: string, service: string) => `firebreak-${incidentId}-${service}`;

function triggers(dedupKey: string) {
  return pd.events.filter((event) => event.dedupKey === dedupKey && event.eventAction === "trigger");
}

async function eventsOf(incidentId: string, type: string) {
  return app.database.prisma.timelineEvent.findMany({ where: { incidentId, type }, orderBy: { id: "asc" } });
}

function channelTexts(channelId: string): string[] {
  // The notice as people see it: the mrkdwn of its blocks (the `text` fallback drops the bold).
  return slack
    .callsTo("chat.postMessage")
    .filter((call) => call.ok && call.args["channel"] === channelId)
    .map((call) => mrkdwnTexts(call.args["blocks"]).join("\n") || (typeof call.args["text"] === "string" ? call.args["text"] : ""));
}

async function channelSays(channelId: string, fragment: string, timeoutMs = 15_000): Promise<string> {
  return eventually(async () => channelTexts(channelId).find((text) => text.includes(fragment)), timeoutMs, `the channel to say "${fragment}"`);
}

function webhookUrl() {
  return `${app.url}/webhooks/pagerduty`;
}

// ---- tests --------------------------------------------------------------------------------------

describe("an alert-declared SEV1 for a paged service", () => {
  it("pages once however often Alertmanager delivers, and the on-call engineer is invited and leads", async () => {
    const body = firingNotification("CheckoutDown", "checkout-1");
    // Alertmanager HA: the same notification twice, and once more after the first is stored.
    const answers = await Promise.all([deliver(body), deliver(body)]);
    expect(answers.every((status) => status >= 200 && status < 300)).toBe(true);
    const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { services: { has: "checkout" }, source: "ALERT", channelId: { not: null } } })) ?? undefined, 15_000, "the alert's incident");
    expect(await deliver(body)).toBeLessThan(300);
    const dedupKey = dedupKeyOf(incident.id, "checkout");

    const trigger = await pd.waitForEvent({ dedupKey, eventAction: "trigger" });
    expect(trigger.routingKey).toBe(CHECKOUT_KEY);
    expect(trigger.payload).toMatchObject({ severity: "critical", source: "Checkout", component: "checkout" });
    expect(trigger.payload?.summary).toContain(`INC-${incident.number}`);
    expect(trigger.payload?.custom_details).toMatchObject({ incident: `INC-${incident.number}`, severity: "SEV1" });
    expect(pd.incidents.filter((candidate) => candidate.incidentKey === dedupKey)).toHaveLength(1);

    // The on-call engineer (Ana, by her PagerDuty email) is invited and leads.
    const led = await eventually(async () => {
      const row = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
      return row.commanderId === SLACK_ANA ? row : undefined;
    }, 15_000, "Ana to be commander");
    await eventually(async () => slack.channels.get(incident.channelId!).members.includes(SLACK_ANA), 10_000, "Ana invited");
    await channelSays(incident.channelId!, "is on call for *Checkout*");
    // Being made commander by paging is not an acknowledgement: PagerDuty's is.
    expect(led.acknowledgedAt).toBeNull();
    await waitForIdleJobs(app, 30_000);
    expect(triggers(dedupKey)).toHaveLength(1);
    const requests = pd.requests.filter((request) => request.api === "rest" && request.path === "/oncalls");
    expect(requests.at(-1)?.query.getAll("escalation_policy_ids[]")).toEqual(["PCHKPOL1"]);
  });

  it("records PagerDuty's acknowledgement once, sets the acknowledged time, and refuses a forged one", async () => {
    await deliver(firingNotification("CheckoutDown", "checkout-2"));
    const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: { contains: "checkout-2" }, channelId: { not: null } } })) ?? undefined, 15_000, "the incident");
    const dedupKey = dedupKeyOf(incident.id, "checkout");
    await pd.waitForEvent({ dedupKey, eventAction: "trigger" });
    await waitForIdleJobs(app, 30_000);
    const before = await app.database.prisma.timelineEvent.count({ where: { incidentId: incident.id } });

    const forged = await pd.sendWebhook(webhookUrl(), { event_type: "incident.acknowledged", incident: dedupKey, agent: anaId }, { secret: WEBHOOK_SECRET, forge: "bad-signature" });
    expect(forged.status).toBe(401);
    const unsigned = await pd.sendWebhook(webhookUrl(), { event_type: "incident.acknowledged", incident: dedupKey, agent: anaId }, { secret: WEBHOOK_SECRET, forge: "no-signature" });
    expect(unsigned.status).toBe(401);
    expect(await app.database.prisma.timelineEvent.count({ where: { incidentId: incident.id } })).toBe(before);
    expect((await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).acknowledgedAt).toBeNull();

    const acked = await pd.sendWebhook(webhookUrl(), { event_type: "incident.acknowledged", incident: dedupKey, agent: anaId }, { secret: WEBHOOK_SECRET });
    expect(acked.status).toBe(202);
    // PagerDuty retries a delivery it thinks failed: the same event, recorded once.
    const again = await fetch(webhookUrl(), { method: "POST", headers: acked.delivery.headers, body: acked.delivery.rawBody });
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ outcome: "duplicate" });

    const recorded = await eventsOf(incident.id, "pagerduty.incident");
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.data).toMatchObject({ event: "acknowledged", agent: "Ana Oncall", target: "Checkout" });
    const row = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    const sent = JSON.parse(acked.delivery.rawBody) as { event: { occurred_at: string } };
    expect(row.acknowledgedAt?.getTime()).toBe(Date.parse(sent.event.occurred_at));
    await channelSays(incident.channelId!, "acknowledged the PagerDuty page to *Checkout*");

    // An event about an incident Firebreak did not page is accepted (PagerDuty must not retry it) and ignored.
    const foreign = JSON.stringify({ event: { id: "01FOREIGNEVENT", event_type: "incident.acknowledged", resource_type: "incident", occurred_at: new Date().toISOString(), agent: null, client: null, data: { id: "PNOTOURS", type: "incident", incident_key: "not-from-firebreak", status: "acknowledged" } } });
    const ignored = await fetch(webhookUrl(), { method: "POST", headers: { "content-type": "application/json", "x-pagerduty-signature": signPagerDutyWebhook(foreign, WEBHOOK_SECRET) }, body: foreign });
    expect(ignored.status).toBe(202);
    expect(await ignored.json()).toMatchObject({ outcome: "unknown_incident" });
  });

  it("resolving sends resolve with the same key; reopening triggers again", async () => {
    await deliver(firingNotification("CheckoutDown", "checkout-3"));
    const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: { contains: "checkout-3" }, channelId: { not: null } } })) ?? undefined, 15_000, "the incident");
    const dedupKey = dedupKeyOf(incident.id, "checkout");
    await pd.waitForEvent({ dedupKey, eventAction: "trigger" });
    await waitForIdleJobs(app, 30_000);

    const resolved = await sendCommand(app.url, "resolve Rolled back", { channel_id: incident.channelId!, user_id: SLACK_ANA });
    expect(resolved.status).toBe(200);
    await pd.waitForEvent({ dedupKey, eventAction: "resolve" });
    await eventually(async () => pd.incidents.find((candidate) => candidate.incidentKey === dedupKey)?.status === "resolved", 10_000, "PagerDuty incident resolved");

    const reopened = await sendCommand(app.url, "reopen", { channel_id: incident.channelId!, user_id: SLACK_ANA });
    expect(reopened.status).toBe(200);
    await eventually(async () => triggers(dedupKey).length === 2, 15_000, "a second trigger");
    await eventually(async () => pd.incidents.filter((candidate) => candidate.incidentKey === dedupKey).length === 2, 10_000, "a new PagerDuty incident");
    await channelSays(incident.channelId!, "Paged again");
  });
});

describe("a hand-declared incident", () => {
  it("pages when declared at a paging severity; the on-call engineer takes over from the declarer (commander: oncall)", async () => {
    const incident = await declareByModal("Checkout latency", "SEV2", "checkout");
    expect(incident.commanderId).toBe(SLACK_BOB);
    await pd.waitForEvent({ dedupKey: dedupKeyOf(incident.id, "checkout"), eventAction: "trigger" });
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).commanderId === SLACK_ANA, 15_000, "Ana takes command");
  });

  it("pages nobody below the paging severities, and pages when raised into them", async () => {
    const incident = await declareByModal("Checkout slow for some", "SEV3", "checkout");
    const dedupKey = dedupKeyOf(incident.id, "checkout");
    await waitForIdleJobs(app, 30_000);
    expect(triggers(dedupKey)).toHaveLength(0);
    expect(await app.database.prisma.page.count({ where: { incidentId: incident.id } })).toBe(0);

    await sendCommand(app.url, "sev 1", { channel_id: incident.channelId!, user_id: SLACK_BOB });
    const trigger = await pd.waitForEvent({ dedupKey, eventAction: "trigger" });
    expect(trigger.payload?.severity).toBe("critical");
  });

  it("says in the channel who to page by hand when nobody is on call, or the on-call engineer has no Slack account; the incident carries on", async () => {
    const search = await declareByModal("Search is down", "SEV1", "search");
    await channelSays(search.channelId!, "Could not bring in the on-call engineer for *Search*");
    const payments = await declareByModal("Payments are down", "SEV1", "payments");
    const said = await channelSays(payments.channelId!, "Could not bring in the on-call engineer for *Payments*");
    expect(said).toContain("Carol Contractor");
    // Both were paged anyway, and both kept their declarer as commander.
    await pd.waitForEvent({ dedupKey: dedupKeyOf(search.id, "search"), eventAction: "trigger" });
    await pd.waitForEvent({ dedupKey: dedupKeyOf(payments.id, "payments"), eventAction: "trigger" });
    for (const id of [search.id, payments.id]) {
      const row = await app.database.prisma.incident.findUniqueOrThrow({ where: { id } });
      expect(row.commanderId).toBe(SLACK_BOB);
      expect(row.headerMessageTs).not.toBeNull();
    }
  });

  it("pages nothing for a service without a PagerDuty integration", async () => {
    const incident = await declareByModal("Docs typo storm", "SEV1", "docs");
    await waitForIdleJobs(app, 30_000);
    expect(await app.database.prisma.page.count({ where: { incidentId: incident.id } })).toBe(0);
    expect(pd.events.some((event) => event.payload?.summary.includes(`INC-${incident.number}:`))).toBe(false);
  });
});

describe("PagerDuty down or rate limiting", () => {
  it("delays the page without holding up the channel, says so, survives a restart, and pages exactly once when PagerDuty is back", async () => {
    pd.outage({ status: 503, api: "events" });
    const incident = await declareByModal("Checkout 500s everywhere", "SEV1", "checkout");
    const dedupKey = dedupKeyOf(incident.id, "checkout");
    // The channel and its header did not wait for the page.
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).headerMessageTs ?? undefined, 15_000, "header posted");
    expect(pd.events.filter((event) => event.dedupKey === dedupKey)).toHaveLength(0);
    expect(pd.requests.some((request) => request.api === "events" && request.injected === "outage")).toBe(true);
    await channelSays(incident.channelId!, "has not gone out yet");
    // What an SRE alerts on: a page PagerDuty has not accepted, and an open SEV1.
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/^firebreak_pages_pending [1-9]\d*$/m);
    expect(metrics).toMatch(/^firebreak_incidents_open\{severity="SEV1",status="INVESTIGATING"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^firebreak_jobs_pending\{kind="paging.send",state="(due|scheduled|running)"\} [1-9]\d*$/m);
    // PagerDuty's errors and latency, by operation.
    expect(metrics).toMatch(/^firebreak_outbound_calls_total\{vendor="pagerduty",operation="[^"]+",outcome="http_5xx"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^firebreak_outbound_call_duration_seconds_count\{vendor="pagerduty",operation="[^"]+"\} [1-9]\d*$/m);

    // Firebreak restarts while the page is pending.
    await app.stop();
    app = await startTestApp({ slack, env, dataDir });
    pd.restore();
    const trigger = await pd.waitForEvent({ dedupKey, eventAction: "trigger" }, { timeoutMs: 30_000 });
    expect(trigger.routingKey).toBe(CHECKOUT_KEY);
    await channelSays(incident.channelId!, "through PagerDuty", 20_000);
    await waitForIdleJobs(app, 30_000);
    expect(triggers(dedupKey)).toHaveLength(1);
    const page = await app.database.prisma.page.findUniqueOrThrow({ where: { dedupKey } });
    expect(page.status).toBe("TRIGGERED");
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^firebreak_outbound_calls_total\{vendor="pagerduty",operation="[^"]+",outcome="ok"\} [1-9]\d*$/m);
  }, 90_000);

  it("waits out 429s and a lost answer: the page goes out once", async () => {
    pd.failNext(2, { api: "events", status: 429, retryAfter: 1 });
    pd.failNext(1, { api: "events", drop: "after" });
    const incident = await declareByModal("Checkout cart empty", "SEV1", "checkout");
    const dedupKey = dedupKeyOf(incident.id, "checkout");
    await eventually(async () => (await app.database.prisma.page.findUnique({ where: { dedupKey } }))?.status === "TRIGGERED", 30_000, "the page accepted");
    expect(pd.requests.filter((request) => request.api === "events" && request.status === 429).length).toBeGreaterThanOrEqual(2);
    // The answer was lost once, so PagerDuty saw the trigger twice: one incident (dedup key).
    expect(pd.incidents.filter((candidate) => candidate.incidentKey === dedupKey)).toHaveLength(1);
    expect(triggers(dedupKey).map((event) => event.outcome)).toContain("triggered");
  }, 60_000);

  it("reports a page PagerDuty refuses for good at once, and the incident carries on", async () => {
    const incident = await declareByModal("Ghost service down", "SEV1", "ghost");
    // (The refusal usually comes before the channel exists: the notice waits for it.)
    const said = await channelSays(incident.channelId!, "Could not page *Ghost*");
    expect(said).toContain("(400)");
    // PagerDuty's answer quoted the routing key: Firebreak never repeats it (the afterEach canary checks every message and log line).
    expect(said).toContain("[routing key]");
    const page = await app.database.prisma.page.findUniqueOrThrow({ where: { dedupKey: dedupKeyOf(incident.id, "ghost") } });
    expect(page.status).toBe("FAILED");
    expect(pd.requests.filter((request) => request.api === "events" && request.status === 400)).toHaveLength(1);
  });
});

describe("Slack down", () => {
  it("never delays the page: PagerDuty has it while the channel still cannot be created", async () => {
    // Slack answers request_timeout (transient) to the next channel creations.
    slack.failNext("conversations.create", "request_timeout", 3);
    await deliver(firingNotification("CheckoutDown", "checkout-slack-down"));
    const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title: { contains: "checkout-slack-down" } } })) ?? undefined, 15_000, "the incident");
    await pd.waitForEvent({ dedupKey: dedupKeyOf(incident.id, "checkout"), eventAction: "trigger" });
    // The page went out before Slack let the channel be created.
    const when = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
    expect(when.channelId).toBeNull();
    // Slack comes back: the channel follows, and the on-call engineer joins it.
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).channelId ?? undefined, 30_000, "the channel, once Slack answers");
  }, 60_000);
});

describe("/incident page", () => {
  it("pages another service with a message, and one person through their PagerDuty account", async () => {
    const incident = await declareByModal("Search results empty", "SEV3", "search");
    const response = await sendCommand(app.url, "page checkout Cart also failing", { channel_id: incident.channelId!, user_id: SLACK_BOB });
    expect(response.status).toBe(200);
    expect(JSON.stringify(response.body)).toContain("Paging *Checkout*");
    const extra = await pd.waitFor(() => pd.events.find((event) => event.routingKey === CHECKOUT_KEY && event.payload?.summary.includes(`INC-${incident.number}:`)));
    expect(extra.payload?.custom_details).toMatchObject({ message: "Cart also failing" });
    await channelSays(incident.channelId!, "Paged *Checkout* through PagerDuty");

    const person = await sendCommand(app.url, `page <@${SLACK_ANA}|ana> please join`, { channel_id: incident.channelId!, user_id: SLACK_BOB });
    expect(JSON.stringify(person.body)).toContain(`Paging <@${SLACK_ANA}>`);
    const opened = await pd.waitFor(() => pd.incidents.find((candidate) => candidate.createdVia === "rest_api" && candidate.title.includes(`INC-${incident.number}:`)));
    expect(opened.assigneeIds).toEqual([anaId]);
    expect(opened.serviceId).toBe("PCHKSVC1");
    const create = pd.requests.find((request) => request.api === "rest" && request.method === "POST" && request.path === "/incidents" && request.status === 201);
    expect(create?.headers["from"]).toBe("bob@example.com");
    await channelSays(incident.channelId!, `Paged <@${SLACK_ANA}> through PagerDuty`);

    const unknown = await sendCommand(app.url, "page nosuch", { channel_id: incident.channelId!, user_id: SLACK_BOB });
    expect(JSON.stringify(unknown.body)).toContain("is not a service Firebreak can page");
  });
});

describe("paging.commander: declarer", () => {
  it("keeps the declarer in command of a hand-declared incident and invites the on-call engineer", async () => {
    const configFile = join(configDir, "firebreak-declarer.yml");
    await writeFile(
      configFile,
      [
        "paging:",
        "  commander: declarer",
        "services:",
        "  - { key: checkout, name: Checkout, pagerduty: { routingKey: " + CHECKOUT_KEY + ", escalationPolicy: PCHKPOL1 } }",
      ].join("\n"),
    );
    const declarerApp = await startTestApp({ slack, env: { ...env, FIREBREAK_CONFIG: configFile } });
    const previous = app;
    app = declarerApp;
    try {
      const incident = await declareByModal("Checkout declarer keeps command", "SEV1", "checkout");
      await pd.waitForEvent({ dedupKey: dedupKeyOf(incident.id, "checkout"), eventAction: "trigger" });
      await eventually(async () => slack.channels.get(incident.channelId!).members.includes(SLACK_ANA), 15_000, "Ana invited");
      const said = await channelSays(incident.channelId!, "is on call for *Checkout*");
      expect(said).toContain("has been invited");
      await waitForIdleJobs(app, 30_000);
      expect((await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).commanderId).toBe(SLACK_BOB);
    } finally {
      app = previous;
      await waitForIdleJobs(declarerApp, 30_000);
      await declarerApp.stop();
      await removeDir(declarerApp.dataDir);
    }
  }, 60_000);
});
