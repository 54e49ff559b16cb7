// The fake GitHub Actions API refuses dispatches the way GitHub does.
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { startFakeGitHubActions, type FakeGitHubActions } from "./index.ts";

let fake: FakeGitHubActions;
const dispatches = "/repos/acme/checkout/actions/workflows/rollback.yml/dispatches";

async function post(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${fake.url}${dispatches}`, {
    method: "POST",
    headers: { authorization: `Bearer ${fake.token}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "user-agent": "test", "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (text === "") return { status: response.status, message: undefined };
  return { status: response.status, message: response.headers.get("content-type")?.startsWith("application/json") ? (JSON.parse(text) as { message?: string }).message : text };
}

beforeAll(async () => {
  fake = await startFakeGitHubActions({
    tls: inject("tls"),
    repositories: { "acme/checkout": { workflows: [{ id: 1, path: ".github/workflows/rollback.yml", name: "Rollback", inputs: { service: { required: true, type: "choice", options: ["checkout"] }, note: {} } }] } },
  });
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

describe("fake GitHub Actions API", () => {
  it("checks the headers GitHub requires", async () => {
    expect((await post({ ref: "main", inputs: { service: "checkout" } }, { "user-agent": "" })).status).toBe(403);
    expect(await post({ ref: "main" }, { authorization: "Bearer nope" })).toMatchObject({ status: 401, message: "Bad credentials" });
    expect((await post({ ref: "main" }, { accept: "application/json" })).status).toBe(415);
    expect((await post({ ref: "main" }, { "x-github-api-version": "2020-01-01" })).status).toBe(400);
  });

  it("refuses bad dispatches with 422 in GitHub's words", async () => {
    expect(await post({ inputs: { service: "checkout" } })).toMatchObject({ status: 422, message: `Invalid request.\n\n"ref" wasn't supplied.` });
    expect(await post({ ref: "main", inputs: { service: "checkout" }, extra: 1 })).toMatchObject({ status: 422, message: `Invalid request.\n\n"extra" is not a permitted key.` });
    expect(await post({ ref: "nope", inputs: { service: "checkout" } })).toMatchObject({ status: 422, message: "No ref found for: nope" });
    expect(await post({ ref: "main" })).toMatchObject({ status: 422, message: "Required input 'service' not provided" });
    expect(await post({ ref: "main", inputs: { service: "payments" } })).toMatchObject({ status: 422, message: "Provided value 'payments' for input 'service' not in the list of allowed values" });
    expect(await post({ ref: "main", inputs: { service: "checkout", note: 5 } })).toMatchObject({ status: 422, message: "Invalid request.\n\nFor 'properties/note', 5 is not a string." });
    expect(await post({ ref: "main", inputs: { service: "checkout", other: "x" } })).toMatchObject({ status: 422, message: 'Unexpected inputs provided: ["other"]' });
    expect(fake.runs()).toHaveLength(0);
  });

  it("204 without return_run_details, 200 with the run's id and URLs with it", async () => {
    expect(await post({ ref: "main", inputs: { service: "checkout" } })).toEqual({ status: 204, message: undefined });
    const response = await fetch(`${fake.url}${dispatches}`, {
      method: "POST",
      headers: { authorization: `Bearer ${fake.token}`, accept: "application/vnd.github+json", "user-agent": "test", "content-type": "application/json" },
      body: JSON.stringify({ ref: "refs/heads/main", inputs: { service: "checkout" }, return_run_details: true }),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(200);
    expect(body).toEqual({ workflow_run_id: fake.runs()[1]?.id, run_url: expect.stringMatching(/\/repos\/acme\/checkout\/actions\/runs\/\d+$/) as string, html_url: fake.runs()[1]?.htmlUrl });
    fake.setRunDetails(false);
    expect(await post({ ref: "main", inputs: { service: "checkout" }, return_run_details: true })).toMatchObject({ status: 422, message: `Invalid request.\n\n"return_run_details" is not a permitted key.` });
  });
});
