import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Incident } from "../../src/generated/prisma/client.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { removeDir, startTestApp, TEST_SPEED, type TestApp, waitForIdleJobs, INCIDENT_LIFE_AT_TEST_SPEED } from "../support/app.ts";
import { sendCommand } from "../support/slack-requests.ts";

/**
 * `/incident list` with more open incidents than it shows, some of them private: the total is
 * counted past the page, and a private incident's title and channel are shown only to its
 * participants and to admins. Driven through signed slash commands to the real app.
 */

const ADMIN = "U0LISTADMN";
const OUTSIDER = "U0OUTSIDER";
const INSIDER = "U0INSIDER1";
const OPEN = 23;

let slack: FakeSlack;
let app: TestApp;
let configDir: string;
let incidents: Incident[];
let secret: Incident;
let joined: Incident;

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), "firebreak-list-config-"));
  const configPath = join(configDir, "firebreak.yml");
  await writeFile(configPath, `incidents:\n  admins: [${ADMIN}]\n`, "utf8");
  slack = await startFakeSlack({
    rateLimits: {
      ...INCIDENT_LIFE_AT_TEST_SPEED,
      "chat.postMessage": { perChannel: TEST_SPEED },
    },
  });
  app = await startTestApp({ slack, env: { FIREBREAK_CONFIG: configPath } });
  for (let index = 1; index <= OPEN; index += 1) {
    const response = await sendCommand(app.url, `declare sev3 Listed incident ${index}`, { user_id: "U0DECLARER", channel_id: "C0GENERAL0" });
    expect(response.status).toBe(200);
  }
  await waitForIdleJobs(app, 60_000);
  incidents = await app.database.prisma.incident.findMany({ orderBy: { declaredAt: "desc" } });
  expect(incidents).toHaveLength(OPEN);
  // Two of the newest 20 made private (a fixture: the modal's checkbox is tested in lifecycle-interactions);
  // the insider takes part in one of them.
  secret = incidents[2]!;
  joined = incidents[5]!;
  await app.database.prisma.incident.updateMany({ where: { id: { in: [secret.id, joined.id] } }, data: { private: true } });
  await app.database.prisma.participant.create({ data: { incidentId: joined.id, slackUserId: INSIDER } });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
  if (configDir) await removeDir(configDir);
});

async function list(user: string): Promise<string> {
  const response = await sendCommand(app.url, "list", { user_id: user, channel_id: "C0GENERAL0" });
  expect(response.status).toBe(200);
  const body = response.body as { response_type?: unknown; text?: unknown; blocks?: unknown };
  expect(body.response_type).toBe("ephemeral");
  return JSON.stringify([body.text, body.blocks]);
}

function lineOf(text: string, incident: Incident): string {
  const line = (JSON.parse(text) as [string, unknown])[0].split("\n").find((entry) => entry.includes(`*INC-${incident.number}*`));
  expect(line, `INC-${incident.number} listed`).toBeDefined();
  return line!;
}

describe("/incident list past one page, with private incidents", () => {
  it("shows the newest 20 and counts all the open ones", async () => {
    const text = await list(OUTSIDER);
    const [plain] = JSON.parse(text) as [string, unknown];
    expect(plain).toContain(`*Open incidents* (newest first, ${OPEN})`);
    const numbers = [...plain.matchAll(/\*INC-(\d+)\*/g)].map((match) => Number(match[1]));
    expect(numbers).toEqual(incidents.slice(0, 20).map((incident) => incident.number));
    expect(text).toContain("Showing the newest 20.");
  });

  it("hides a private incident's title and channel from someone outside it", async () => {
    const text = await list(OUTSIDER);
    for (const hidden of [secret, joined]) {
      expect(lineOf(text, hidden)).toContain("_private incident_");
      expect(text).not.toContain(hidden.title);
      expect(text).not.toContain(hidden.channelId!);
    }
    expect(lineOf(text, incidents[0]!)).toContain(`${incidents[0]!.title} <#${incidents[0]!.channelId}>`);
  });

  it("shows a participant the private incident they take part in, and only that one", async () => {
    const text = await list(INSIDER);
    expect(lineOf(text, joined)).toContain(`${joined.title} <#${joined.channelId}>`);
    expect(lineOf(text, secret)).toContain("_private incident_");
    expect(text).not.toContain(secret.title);
  });

  it("shows an admin every private incident", async () => {
    const text = await list(ADMIN);
    for (const shown of [secret, joined]) expect(lineOf(text, shown)).toContain(`${shown.title} <#${shown.channelId}>`);
    expect(text).not.toContain("_private incident_");
  });
});
