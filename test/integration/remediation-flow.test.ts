import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { startFakeUnleashEnterprise, type FakeUnleashEnterprise } from "../fakes/unleash-enterprise/index.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../fakes/webhook-receiver/index.ts";
import { eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { mrkdwnTexts } from "../support/blocks.ts";
import { fromFakeView, sendBlockAction, sendViewSubmission } from "../support/slack-payloads.ts";
import { sendCommand } from "../support/slack-requests.ts";
import { startUnleash, type RunningUnleash } from "../support/unleash.ts";

/**
 * Remediation through the real app: the buttons on the incident header, the
 * confirmation modal, the execution against a real Unleash server (started
 * by the test on the test PostgreSQL), a signed webhook to a receiver that
 * verifies it, and an Unleash Enterprise fake that demands a change request.
 */

const COMMANDER = "U0COMMANDR";
const SRE = "U0SREMEMBR";
const OUTSIDER = "U0OUTSIDER";
const UNLEASH_TOKEN_ENV = "UNLEASH_ADMIN_TOKEN";
const ENTERPRISE_TOKEN_ENV = "UNLEASH_ENTERPRISE_TOKEN";
const DEPLOY_SECRET = "deploy-hook-secret-5e6f7a8b9c0d1e2f";
const FLAG = "new-checkout-flow";
const API_TOKEN = "api-token-for-postmortems-0123456789";

let slack: FakeSlack;
let unleash: RunningUnleash;
let enterprise: FakeUnleashEnterprise;
let receiver: WebhookReceiver;
let app: TestApp;
let configDir: string;

beforeAll(async () => {
  const tls = inject("tls");
  [unleash, enterprise, receiver] = await Promise.all([
    startUnleash({ postgresUrl: inject("postgresUrl") }),
    startFakeUnleashEnterprise({ tls }),
    startWebhookReceiver({ tls, secret: DEPLOY_SECRET }),
  ]);
  await unleash.createFlag("default", FLAG);
  await unleash.setEnabled("default", FLAG, "production", true);

  slack = await startFakeSlack({
    users: [
      { id: COMMANDER, name: "commander" },
      { id: SRE, name: "sre" },
      { id: OUTSIDER, name: "outsider" },
    ],
    usergroups: [{ id: "S0SREGROUP", handle: "sre", name: "SRE", users: [SRE] }],
    rateLimits: { "chat.postMessage": TEST_SPEED, "chat.postEphemeral": TEST_SPEED, "views.open": TEST_SPEED, "views.update": TEST_SPEED, "conversations.setTopic": TEST_SPEED, "bookmarks.edit": TEST_SPEED, "chat.update": TEST_SPEED },
  });
  configDir = await mkdtemp(join(tmpdir(), "firebreak-remediation-"));
  const configFile = join(configDir, "firebreak.yml");
  await writeFile(
    configFile,
    `services:
  - key: checkout
    name: Checkout
    actions:
      - { id: checkout-flag, label: Disable new-checkout-flow, kind: unleash, url: "${unleash.url}", tokenEnv: ${UNLEASH_TOKEN_ENV}, project: default, feature: ${FLAG}, environment: production, state: "off", allowed: [S0SREGROUP] }
      - { id: checkout-flag-guarded, label: Disable flow (enterprise), kind: unleash, url: "${enterprise.url}", tokenEnv: ${ENTERPRISE_TOKEN_ENV}, project: default, feature: ${FLAG}, environment: production, state: "off" }
      - { id: checkout-deploy-hook, label: Roll back via deploy bot, kind: webhook, url: "${receiver.url}/rollback", secretEnv: DEPLOY_WEBHOOK_SECRET }
      - { id: checkout-deploy-dry, label: Roll back (dry run), kind: webhook, url: "${receiver.url}/rollback", secretEnv: DEPLOY_WEBHOOK_SECRET, dryRun: true }
`,
  );
  app = await startTestApp({
    slack,
    env: {
      FIREBREAK_CONFIG: configFile,
      [UNLEASH_TOKEN_ENV]: unleash.adminToken,
      [ENTERPRISE_TOKEN_ENV]: enterprise.token,
      DEPLOY_WEBHOOK_SECRET: DEPLOY_SECRET,
      REMEDIATION_TIMEOUT_MS: "5000",
      API_TOKEN: API_TOKEN,
    },
  });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await Promise.all([unleash?.stop(), enterprise?.close(), receiver?.close()]);
  if (app) await removeDir(app.dataDir);
  if (configDir) await removeDir(configDir);
});

afterEach(async () => {
  await waitForIdleJobs(app, 30_000);
  // No secret in any log line, Slack call, timeline entry or post-mortem.
  const said = JSON.stringify(slack.calls.map((call) => call.args));
  const timeline = JSON.stringify(await app.database.prisma.timelineEvent.findMany(), (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value));
  for (const secret of [unleash.adminToken, enterprise.token, DEPLOY_SECRET]) {
    expect(app.logs.text()).not.toContain(secret);
    expect(said).not.toContain(secret);
    expect(timeline).not.toContain(secret);
  }
});

// ---- helpers ------------------------------------------------------------------------------------

async function declare(title: string) {
  const response = await sendCommand(app.url, `declare sev2 ${title}`, { user_id: COMMANDER });
  expect(response.status).toBe(200);
  const incident = await eventually(async () => (await app.database.prisma.incident.findFirst({ where: { title, headerMessageTs: { not: null } } })) ?? undefined, 15_000, "incident with header");
  // The service is set the way the modal or an alert route sets it.
  await app.database.prisma.incident.update({ where: { id: incident.id }, data: { services: ["checkout"] } });
  return incident;
}

/** The remediation buttons as they are in a message's blocks: action id, label, value. */
function buttons(blocks: unknown): Array<{ actionId: string; label: string; value: string }> {
  const found: Array<{ actionId: string; label: string; value: string }> = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    const record = node as Record<string, unknown>;
    if (record["type"] === "button" && typeof record["action_id"] === "string" && record["action_id"].startsWith("remediation.")) {
      found.push({ actionId: record["action_id"], label: String((record["text"] as { text?: string } | undefined)?.text ?? ""), value: typeof record["value"] === "string" ? record["value"] : "" });
    }
    Object.values(record).forEach(visit);
  };
  visit(blocks);
  return found;
}

/** Clicks a button of a message in the channel (as Slack sends it), as `user`. */
async function click(channelId: string, messageTs: string, button: { actionId: string; value: string }, user: string) {
  const response = await sendBlockAction(app.url, { user, channel: channelId, messageTs, actionId: button.actionId, value: button.value, triggerId: slack.newTriggerId(user) });
  expect(response.status).toBe(200);
}

/** The header's button for an action (the header is refreshed to show the incident's service's actions). */
async function headerButton(incidentId: string, actionId: string) {
  const incident = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incidentId } });
  // Any header refresh (a status change) rebuilds it; /incident mitigate shows the same buttons.
  const reply = await sendCommand(app.url, "mitigate", { channel_id: incident.channelId!, user_id: COMMANDER });
  const button = buttons(reply.body).find((candidate) => (JSON.parse(candidate.value) as { actionId: string }).actionId === actionId);
  if (!button) throw new Error(`no button for ${actionId} in ${JSON.stringify(reply.body)}`);
  return { incident, button };
}

/** The confirmation modal for the click, once the provider's preview has filled it in. */
async function confirmation(before: number) {
  return eventually(
    async () => {
      const view = slack.views.modals().filter((candidate) => candidate.callback_id === "remediation.confirm").slice(before).at(-1);
      return view && !JSON.stringify(view.view).includes("Reading the current state") ? view : undefined;
    },
    15_000,
    "the confirmation with its preview",
  );
}

function modalCount() {
  return slack.views.modals().filter((candidate) => candidate.callback_id === "remediation.confirm").length;
}

async function run(incidentId: string, actionId: string, user = COMMANDER) {
  const { incident, button } = await headerButton(incidentId, actionId);
  const before = modalCount();
  await click(incident.channelId!, incident.headerMessageTs!, button, user);
  const view = await confirmation(before);
  const submitted = await sendViewSubmission(app.url, { user, values: {}, ...fromFakeView(view) });
  expect(submitted.status).toBe(200);
  return { incident, view };
}

async function finished(incidentId: string, count = 1) {
  return eventually(async () => {
    const rows = await app.database.prisma.timelineEvent.findMany({ where: { incidentId, type: "remediation.finished" }, orderBy: { id: "asc" } });
    return rows.length >= count ? rows : undefined;
  }, 20_000, "the remediation's outcome");
}

function channelTexts(channelId: string): string[] {
  return slack
    .callsTo("chat.postMessage")
    .filter((call) => call.ok && call.args["channel"] === channelId)
    .map((call) => mrkdwnTexts(call.args["blocks"]).join("\n"));
}

// ---- tests --------------------------------------------------------------------------------------

describe("the header and /incident mitigate", () => {
  it("show the actions of the incident's service, by label", async () => {
    const incident = await declare("Checkout flow broken");
    await sendCommand(app.url, "status identified Bad flag", { channel_id: incident.channelId!, user_id: COMMANDER });
    await eventually(async () => {
      const header = slack.messages.get(incident.channelId!, incident.headerMessageTs!);
      const labels = buttons(header?.blocks).map((button) => button.label);
      return labels.includes("Disable new-checkout-flow") && labels.includes("Roll back via deploy bot") ? labels : undefined;
    }, 15_000, "the header's remediation buttons");
  });
});

describe("a feature flag in a real Unleash", () => {
  it("the confirmation says what will happen where; Run turns the flag off once; the opposite is offered", async () => {
    const incident = await declare("Checkout errors after flag");
    const { view } = await run(incident.id, "checkout-flag");
    const shown = mrkdwnTexts(view.view["blocks"]).join("\n");
    expect(shown).toContain("Unleash feature flag");
    expect(shown).toContain(FLAG);
    expect(shown).toContain("production");
    expect(shown).toContain(UNLEASH_TOKEN_ENV);
    expect(shown).not.toContain(unleash.adminToken);

    const [outcome] = await finished(incident.id);
    expect(outcome?.data).toMatchObject({ status: "succeeded", actionId: "checkout-flag", dryRun: false });
    expect(await unleash.isEnabled("default", FLAG, "production")).toBe(false);
    const execution = await app.database.prisma.remediationExecution.findFirstOrThrow({ where: { incidentId: incident.id } });
    expect(execution).toMatchObject({ status: "SUCCEEDED", confirmedById: COMMANDER, kind: "unleash", label: "Disable new-checkout-flow" });
    expect(execution.startedAt).not.toBeNull();
    expect(execution.finishedAt).not.toBeNull();
    // The provider's calls, timed and counted for /metrics.
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/^firebreak_outbound_calls_total\{vendor="unleash",operation="preview",outcome="ok"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^firebreak_outbound_calls_total\{vendor="unleash",operation="execute",outcome="ok"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^firebreak_outbound_call_duration_seconds_count\{vendor="unleash",operation="execute"\} [1-9]\d*$/m);

    // The result in the channel offers the opposite change and Monitoring.
    const result = await eventually(async () => slack.callsTo("chat.postMessage").filter((call) => call.ok && call.args["channel"] === incident.channelId && JSON.stringify(call.args["blocks"]).includes("remediation_next")).at(-1), 10_000, "the result message");
    const next = buttons(result.args["blocks"]);
    expect(next.map((button) => button.label)).toEqual(expect.arrayContaining(["Turn back on: Disable new-checkout-flow"]));
    expect(JSON.stringify(result.args["blocks"])).toContain("Mark Monitoring");

    // The opposite change: a new confirmation, then the flag is on again.
    const turnBack = next.find((button) => button.label.startsWith("Turn back on"))!;
    const before = modalCount();
    await click(incident.channelId!, incident.headerMessageTs!, turnBack, COMMANDER);
    const again = await confirmation(before);
    await sendViewSubmission(app.url, { user: COMMANDER, values: {}, ...fromFakeView(again) });
    await finished(incident.id, 2);
    expect(await unleash.isEnabled("default", FLAG, "production")).toBe(true);

    // Mark Monitoring: the mitigated time feeds the post-mortem's time to mitigate.
    const monitoring = { actionId: "remediation.monitoring", value: incident.id };
    await click(incident.channelId!, incident.headerMessageTs!, monitoring, COMMANDER);
    const after = await eventually(async () => {
      const row = await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } });
      return row.status === "MONITORING" ? row : undefined;
    }, 10_000, "Monitoring");
    expect(after.mitigatedAt).not.toBeNull();

    // The post-mortem lists every remediation with its outcome, and no secret.
    const postmortem = await fetch(`${app.url}/api/incidents/${incident.number}/postmortem.md`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(postmortem.status).toBe(200);
    const markdown = await postmortem.text();
    const table = markdown.slice(markdown.indexOf("## Remediation actions"));
    expect(table.match(/Disable new-checkout-flow \(checkout-flag\)/g)).toHaveLength(2);
    expect(table).toContain("succeeded");
    expect(markdown).toContain("Remediation succeeded: Disable new-checkout-flow");
    expect(markdown).not.toContain(unleash.adminToken);
  }, 60_000);

  it("runs once on a double click and a double submit (and Slack's retry of it)", async () => {
    const incident = await declare("Checkout double trouble");
    await unleash.setEnabled("default", FLAG, "production", true);
    const { button } = await headerButton(incident.id, "checkout-flag");
    const before = modalCount();
    await Promise.all([click(incident.channelId!, incident.headerMessageTs!, button, COMMANDER), click(incident.channelId!, incident.headerMessageTs!, button, COMMANDER)]);
    const view = await confirmation(before);
    const submissions = await Promise.all([0, 1, 2].map(() => sendViewSubmission(app.url, { user: COMMANDER, values: {}, ...fromFakeView(view) })));
    expect(submissions.every((response) => response.status === 200)).toBe(true);
    await finished(incident.id);
    await waitForIdleJobs(app, 30_000);
    expect(await app.database.prisma.remediationExecution.count({ where: { incidentId: incident.id } })).toBe(1);
    expect(await app.database.prisma.timelineEvent.count({ where: { incidentId: incident.id, type: "remediation.finished" } })).toBe(1);
  }, 60_000);

  it("refuses someone who is not the commander, an admin or in `allowed`, records it, and calls nothing; a member of the allowed group may", async () => {
    const incident = await declare("Checkout who may press");
    const { button } = await headerButton(incident.id, "checkout-flag");
    const before = modalCount();
    await click(incident.channelId!, incident.headerMessageTs!, button, OUTSIDER);
    const refusal = await eventually(async () => slack.callsTo("chat.postEphemeral").find((call) => call.args["user"] === OUTSIDER && String(call.args["text"]).includes("Disable new-checkout-flow")), 10_000, "the refusal");
    expect(String(refusal.args["text"])).toContain("Nothing was changed");
    expect(modalCount()).toBe(before);
    const denied = await app.database.prisma.timelineEvent.findMany({ where: { incidentId: incident.id, type: "action.denied" } });
    expect(denied).toHaveLength(1);
    expect(denied[0]?.actorId).toBe(OUTSIDER);

    await unleash.setEnabled("default", FLAG, "production", true);
    await run(incident.id, "checkout-flag", SRE);
    const [outcome] = await finished(incident.id);
    expect(outcome?.actorId).toBe(SRE);
    expect(outcome?.data).toMatchObject({ status: "succeeded" });
  }, 60_000);
});

describe("approvals, failures and dry runs", () => {
  it("reports an environment that requires a change request in plain words, and changes nothing", async () => {
    const incident = await declare("Checkout guarded flag");
    await run(incident.id, "checkout-flag-guarded");
    const [outcome] = await finished(incident.id);
    expect(outcome?.data).toMatchObject({ status: "approval_required" });
    expect(String((outcome?.data as { summary: string }).summary)).toMatch(/change request/i);
    expect(enterprise.enabled(FLAG, "production")).toBe(true);
    await eventually(async () => channelTexts(incident.channelId!).find((text) => text.includes("needs an approval")), 10_000, "the channel told");
  }, 60_000);

  it("a signed webhook: failure in plain words with a Retry, then a retry (new confirmation) succeeds", async () => {
    const incident = await declare("Checkout deploy bad");
    receiver.failNext({ status: 500, times: 5, message: "Jenkins is restarting" });
    await run(incident.id, "checkout-deploy-hook");
    const [failed] = await finished(incident.id);
    expect(failed?.data).toMatchObject({ status: "failed" });
    expect(String((failed?.data as { summary: string }).summary)).toContain("Jenkins is restarting");
    const result = await eventually(async () => slack.callsTo("chat.postMessage").filter((call) => call.ok && call.args["channel"] === incident.channelId && JSON.stringify(call.args["blocks"]).includes("remediation_next")).at(-1), 10_000, "the result with Retry");
    const retry = buttons(result.args["blocks"]).find((button) => button.label.startsWith("Retry"));
    expect(retry).toBeDefined();

    const before = modalCount();
    await click(incident.channelId!, incident.headerMessageTs!, retry!, COMMANDER);
    const view = await confirmation(before);
    await sendViewSubmission(app.url, { user: COMMANDER, values: {}, ...fromFakeView(view) });
    const [, succeeded] = await finished(incident.id, 2);
    expect(succeeded?.data).toMatchObject({ status: "succeeded" });
    const delivered = receiver.deliveries.filter((delivery) => delivery.outcome === "executed");
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.body).toMatchObject({ action: { id: "checkout-deploy-hook" }, dryRun: false, incident: { number: incident.number }, confirmedBy: { userId: COMMANDER } });
  }, 60_000);

  it("a dry run (per action) shows what it would call and calls nothing", async () => {
    const incident = await declare("Checkout dry run");
    const deliveriesBefore = receiver.deliveries.length;
    const { view } = await run(incident.id, "checkout-deploy-dry");
    expect(mrkdwnTexts(view.view["blocks"]).join("\n")).toContain("Dry run");
    const [outcome] = await finished(incident.id);
    expect(outcome?.data).toMatchObject({ status: "dry_run", dryRun: true });
    expect(receiver.deliveries.length).toBe(deliveriesBefore);
  }, 60_000);
});

describe("a crash between the call and its record", () => {
  it("is recorded as of unknown outcome, never called a second time by itself", async () => {
    const incident = await declare("Checkout crash mid-call");
    const deliveriesBefore = receiver.deliveries.length;
    // The state a crash leaves: the execution marked RUNNING (committed before the call), its job
    // taken over after the process died. The job must not call the receiver again.
    const execution = await app.database.prisma.remediationExecution.create({
      data: { incidentId: incident.id, actionKey: "checkout-deploy-hook", kind: "webhook", label: "Roll back via deploy bot", status: "RUNNING", requestedById: COMMANDER, confirmedById: COMMANDER, idempotencyKey: "view:VCRASHED01", startedAt: new Date(), params: { target: "deploy bot" } },
    });
    await app.database.prisma.job.create({ data: { kind: "remediation.execute", payload: { executionId: execution.id }, dedupeKey: `remediation:${execution.id}`, incidentId: incident.id, attempts: 1 } });
    const [outcome] = await finished(incident.id);
    expect(outcome?.data).toMatchObject({ status: "unknown" });
    expect((await app.database.prisma.remediationExecution.findUniqueOrThrow({ where: { id: execution.id } })).status).toBe("UNKNOWN");
    expect(receiver.deliveries.length).toBe(deliveriesBefore);
    await eventually(async () => channelTexts(incident.channelId!).find((text) => text.includes("outcome unknown")), 10_000, "the channel told");
  }, 60_000);
});

describe("remediation.dryRun: true", () => {
  it("makes every action a dry run: the confirmation says so, nothing is called", async () => {
    const dir = await mkdtemp(join(tmpdir(), "firebreak-dryrun-"));
    const file = join(dir, "firebreak.yml");
    await writeFile(
      file,
      `remediation:
  dryRun: true
services:
  - key: checkout
    name: Checkout
    actions:
      - { id: checkout-deploy-hook, label: Roll back via deploy bot, kind: webhook, url: "${receiver.url}/rollback", secretEnv: DEPLOY_WEBHOOK_SECRET }
`,
    );
    const dry = await startTestApp({ slack, env: { FIREBREAK_CONFIG: file, DEPLOY_WEBHOOK_SECRET: DEPLOY_SECRET } });
    try {
      const deliveriesBefore = receiver.deliveries.length;
      const title = "Checkout everything dry";
      await sendCommand(dry.url, `declare sev2 ${title}`, { user_id: COMMANDER });
      const incident = await eventually(async () => (await dry.database.prisma.incident.findFirst({ where: { title, headerMessageTs: { not: null } } })) ?? undefined, 15_000, "incident");
      await dry.database.prisma.incident.update({ where: { id: incident.id }, data: { services: ["checkout"] } });
      const reply = await sendCommand(dry.url, "mitigate", { channel_id: incident.channelId!, user_id: COMMANDER });
      const button = buttons(reply.body)[0]!;
      const before = modalCount();
      const clicked = await sendBlockAction(dry.url, { user: COMMANDER, channel: incident.channelId!, messageTs: incident.headerMessageTs!, actionId: button.actionId, value: button.value, triggerId: slack.newTriggerId(COMMANDER) });
      expect(clicked.status).toBe(200);
      const view = await confirmation(before);
      expect(mrkdwnTexts(view.view["blocks"]).join("\n")).toContain("Dry run");
      await sendViewSubmission(dry.url, { user: COMMANDER, values: {}, ...fromFakeView(view) });
      const outcome = await eventually(async () => (await dry.database.prisma.timelineEvent.findFirst({ where: { incidentId: incident.id, type: "remediation.finished" } })) ?? undefined, 15_000, "the dry run's outcome");
      expect(outcome.data).toMatchObject({ status: "dry_run", dryRun: true });
      expect(receiver.deliveries.length).toBe(deliveriesBefore);
      await waitForIdleJobs(dry, 30_000);
    } finally {
      await dry.stop();
      await removeDir(dry.dataDir);
      await removeDir(dir);
    }
  }, 60_000);
});
