import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseXml, startFakeConfluence, storageFormatProblems, type FakeConfluence } from "./index.ts";

/** The fake Confluence refuses what Confluence Cloud's v2 API documents as invalid. */

let confluence: FakeConfluence;

beforeAll(async () => {
  confluence = await startFakeConfluence();
});
afterAll(async () => confluence?.close());
beforeEach(() => confluence.reset());

function auth(email = confluence.email, token = confluence.apiToken): string {
  return `Basic ${Buffer.from(`${email}:${token}`).toString("base64")}`;
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${confluence.url}/wiki/api/v2${path}`, {
    method,
    headers: { authorization: auth(), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

function firstError(json: Record<string, unknown>): string {
  return (json.errors as Array<{ title: string }>)[0]?.title ?? "";
}

const page = (overrides: Record<string, unknown> = {}) => ({ spaceId: confluence.spaceId, status: "current", title: "INC-1: Test (post-mortem)", body: { representation: "storage", value: "<p>Hello</p>" }, ...overrides });

describe("authentication", () => {
  it("refuses a missing, wrong or bearer credential with 401 and changes nothing", async () => {
    for (const authorization of ["", auth(confluence.email, "wrong"), auth("other@example.com"), `Bearer ${confluence.apiToken}`]) {
      const response = await call("POST", "/pages", page(), { authorization });
      expect(response.status, authorization).toBe(401);
    }
    expect(confluence.pages()).toEqual([]);
  });
});

describe("POST /pages", () => {
  it("creates a page (200) with version 1 in the space, under the home page by default", async () => {
    const response = await call("POST", "/pages", page());
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ title: "INC-1: Test (post-mortem)", spaceId: confluence.spaceId, status: "current", version: { number: 1 }, parentId: confluence.homePageId });
    expect((response.json._links as { webui: string }).webui).toMatch(/^\/spaces\/ENG\/pages\/\d+\//);
    expect(confluence.pages()).toHaveLength(1);
  });

  it.each([
    ["no spaceId", { spaceId: undefined }, /spaceId is required/],
    ["a numeric spaceId", { spaceId: 98304 }, /spaceId is required/],
    ["a wrong status", { status: "published" }, /status/],
    ["no title", { title: undefined }, /title is required/],
    ["a blank title", { title: "   " }, /title is required/],
    ["a 256-character title", { title: "x".repeat(256) }, /at most 255/],
    ["a numeric parentId", { parentId: 5 }, /parentId must be a string/],
    ["no body", { body: undefined }, /body is required/],
    ["a wiki body", { body: { representation: "wiki", value: "h1. Hi" } }, /representation/],
    ["a body value that is not a string", { body: { representation: "storage", value: 5 } }, /body.value/],
    ["an unknown field", { spaceID: "1" }, /Unrecognized field/],
  ])("refuses %s with 400", async (_name, overrides, message) => {
    const response = await call("POST", "/pages", JSON.parse(JSON.stringify(page(overrides))) as unknown);
    expect(response.status).toBe(400);
    expect(firstError(response.json)).toMatch(message);
    expect(confluence.pages()).toEqual([]);
  });

  it.each([
    ["an unclosed element", "<p>Hi"],
    ["an HTML void element left open", "<p>a<br>b</p>"],
    ["an HTML entity XML does not know", "<p>a&nbsp;b</p>"],
    ["a bare ampersand", "<p>Q&A</p>"],
    ["mismatched tags", "<p><strong>x</p></strong>"],
    ["an unquoted attribute", "<p class=x>y</p>"],
    ["a script element", "<script>alert(1)</script>"],
    ["a control character", "<p>bell\u0007</p>"],
    ["a code macro without a plain-text body", '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">text</ac:parameter></ac:structured-macro>'],
    ["a code body that is not CDATA", '<ac:structured-macro ac:name="code"><ac:plain-text-body>x &lt; y</ac:plain-text-body></ac:structured-macro>'],
    ["an unknown macro", '<ac:structured-macro ac:name="html"><ac:plain-text-body><![CDATA[<b>x</b>]]></ac:plain-text-body></ac:structured-macro>'],
    ["an undefined namespace prefix element", "<xx:thing/>"],
  ])("refuses a storage body with %s (400 Error parsing xhtml / invalid storage)", async (_name, value) => {
    const response = await call("POST", "/pages", page({ body: { representation: "storage", value } }));
    expect(response.status).toBe(400);
    expect(firstError(response.json).length).toBeGreaterThan(0);
  });

  it("refuses an unknown space and an unknown parent with 404", async () => {
    expect((await call("POST", "/pages", page({ spaceId: "777" }))).status).toBe(404);
    expect((await call("POST", "/pages", page({ parentId: "999999999" }))).status).toBe(404);
  });

  it("refuses a second current page with the same title in the space (400, Confluence's message)", async () => {
    expect((await call("POST", "/pages", page())).status).toBe(200);
    const again = await call("POST", "/pages", page());
    expect(again.status).toBe(400);
    expect(firstError(again.json)).toBe("A page with this title already exists: A page already exists with the same TITLE in this space");
    expect(confluence.pages()).toHaveLength(1);
  });

  it("refuses a body that is not JSON (415) or not an object (400)", async () => {
    expect((await call("POST", "/pages", "x", { "content-type": "text/plain" })).status).toBe(415);
    expect((await call("POST", "/pages", "[1]")).status).toBe(400);
  });
});

describe("PUT /pages/{id} and GET", () => {
  async function created(): Promise<string> {
    const response = await call("POST", "/pages", page());
    return response.json.id as string;
  }

  it("accepts version current+1 only: a stale or skipped number is 409 with the current version", async () => {
    const id = await created();
    const update = (number: number) => call("PUT", `/pages/${id}`, { id, status: "current", title: "INC-1: Test (post-mortem)", body: { representation: "storage", value: `<p>v${number}</p>` }, version: { number, message: "m" } });
    for (const number of [1, 3]) {
      const response = await update(number);
      expect(response.status).toBe(409);
      expect(firstError(response.json)).toBe("Version must be incremented on update. Current version is: 1");
    }
    const ok = await update(2);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id, version: { number: 2, message: "m" } });
    expect(confluence.page(id)?.versions.map((v) => v.number)).toEqual([1, 2]);
  });

  it("refuses a missing version, a body id that differs from the path and a title taken by another page", async () => {
    const id = await created();
    const other = confluence.addPage({ title: "Someone else's page", body: "<p>x</p>" });
    const base = { id, status: "current", title: "INC-1: Test (post-mortem)", body: { representation: "storage", value: "<p>x</p>" } };
    expect((await call("PUT", `/pages/${id}`, base)).status).toBe(400);
    expect((await call("PUT", `/pages/${id}`, { ...base, id: Number(id), version: { number: 2 } })).status).toBe(400);
    expect((await call("PUT", `/pages/${id}`, { ...base, version: { number: "2" } })).status).toBe(400);
    const taken = await call("PUT", `/pages/${id}`, { ...base, title: "Someone else's page", version: { number: 2 } });
    expect(taken.status).toBe(400);
    expect(firstError(taken.json)).toMatch(/title already exists/);
    expect((await call("PUT", "/pages/123456789", { ...base, id: "123456789", version: { number: 2 } })).status).toBe(404);
    expect(confluence.page(id)?.versions).toHaveLength(1);
    expect(confluence.page(other.id)?.versions).toHaveLength(1);
  });

  it("raceNextUpdates: someone saves between the read and the write, so the write is stale", async () => {
    const id = await created();
    confluence.raceNextUpdates();
    const stale = await call("PUT", `/pages/${id}`, { id, status: "current", title: "INC-1: Test (post-mortem)", body: { representation: "storage", value: "<p>x</p>" }, version: { number: 2 } });
    expect(stale.status).toBe(409);
    expect(firstError(stale.json)).toContain("Current version is: 2");
  });

  it("GET /pages/{id} returns the version and, with body-format=storage, the body; unknown ids are 404", async () => {
    const id = await created();
    const withBody = await call("GET", `/pages/${id}?body-format=storage`);
    expect(withBody.json).toMatchObject({ id, version: { number: 1 }, body: { storage: { representation: "storage", value: "<p>Hello</p>" } } });
    expect((await call("GET", `/pages/${id}`)).json.body).toEqual({});
    expect((await call("GET", "/pages/424242")).status).toBe(404);
  });

  it("GET /pages filters by space id and exact title", async () => {
    const id = await created();
    const found = await call("GET", `/pages?space-id=${confluence.spaceId}&title=${encodeURIComponent("INC-1: Test (post-mortem)")}&body-format=storage`);
    expect((found.json.results as Array<{ id: string }>).map((p) => p.id)).toEqual([id]);
    const none = await call("GET", `/pages?space-id=${confluence.spaceId}&title=INC-1`);
    expect(none.json.results).toEqual([]);
  });
});

describe("injected faults", () => {
  it("rateLimit: 429 with Retry-After for the next requests, then normal service", async () => {
    confluence.rateLimit({ times: 2, retryAfterSeconds: 7 });
    for (let i = 0; i < 2; i += 1) {
      const limited = await call("POST", "/pages", page());
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toBe("7");
    }
    expect((await call("POST", "/pages", page())).status).toBe(200);
  });

  it("loseNextCreateAnswer: the page exists but the caller gets no answer", async () => {
    confluence.loseNextCreateAnswer();
    await expect(call("POST", "/pages", page())).rejects.toThrow();
    expect(confluence.pages()).toHaveLength(1);
  });
});

describe("the XML parser under the storage check", () => {
  it("accepts well-formed storage format with macros, CDATA split around ]]> and character references", () => {
    const value = '<p>a &amp; b &#8212; &#x2014;<br/></p><ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[x ]]]]><![CDATA[> y]]></ac:plain-text-body></ac:structured-macro>';
    expect(storageFormatProblems(value)).toEqual([]);
  });

  it("rejects a second root, text outside the root and duplicate attributes", () => {
    expect(() => parseXml("<a/><b/>")).toThrow(/more than one root/);
    expect(() => parseXml("x<a/>")).toThrow(/outside the root/);
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow(/duplicate attribute/);
    expect(() => parseXml("<a>&#0;</a>")).toThrow(/not an XML character/);
  });
});
