/**
 * A fake Confluence Cloud REST API v2: a real HTTP server on 127.0.0.1 that
 * checks the documented request shapes (POST/PUT/GET /wiki/api/v2/pages),
 * keeps pages and their versions, and can rate-limit, race or lose answers
 * on demand.
 *
 *   const confluence = await startFakeConfluence();
 *   // CONFLUENCE_BASE_URL=confluence.url, CONFLUENCE_EMAIL=confluence.email,
 *   // CONFLUENCE_API_TOKEN=confluence.apiToken, CONFLUENCE_SPACE_ID=confluence.spaceId
 */
import { isJson, isRecord, startFake, type Answer, type RecordedRequest } from "../http-kit.ts";
import { storageFormatProblems } from "./xhtml.ts";

export interface FakeSpace {
  id: string;
  key: string;
}

export interface FakeVersion {
  number: number;
  title: string;
  body: string;
  message: string | null;
  at: number;
}

export interface FakePage {
  id: string;
  spaceId: string;
  parentId: string | null;
  status: "current" | "draft";
  /** Every version, oldest first; the last one is the page as it is. */
  versions: FakeVersion[];
}

export interface FakeConfluenceOptions {
  email?: string;
  apiToken?: string;
  /** Default: one space, id "98304", key "ENG", with a home page. */
  spaces?: FakeSpace[];
}

export interface FakeConfluence {
  /** The site URL, as CONFLUENCE_BASE_URL (the API is under /wiki/api/v2). */
  readonly url: string;
  readonly email: string;
  readonly apiToken: string;
  /** The first space's id. */
  readonly spaceId: string;
  /** The first space's home page (a valid CONFLUENCE_PARENT_PAGE_ID). */
  readonly homePageId: string;
  readonly requests: readonly RecordedRequest[];
  /** Pages created through the API or added, in creation order (the home pages excluded). */
  pages(): FakePage[];
  page(id: string): FakePage | undefined;
  latest(page: FakePage): FakeVersion;
  /** A page someone made by hand (to collide with titles). */
  addPage(args: { title: string; body: string; spaceId?: string }): FakePage;
  /** Someone edits the page in Confluence: a new version. */
  editPage(id: string, body: string): void;
  /** The next `times` requests answer 429 with Retry-After. */
  rateLimit(options: { times?: number; retryAfterSeconds: number }): void;
  /** Before each of the next `times` PUTs, someone else saves the page (the PUT's version is then stale: 409). */
  raceNextUpdates(times?: number): void;
  /** The next POST /pages creates the page, then drops the connection without answering. */
  loseNextCreateAnswer(): void;
  reset(): void;
  close(): Promise<void>;
}

const API = "/wiki/api/v2";
const TITLE_TAKEN = "A page with this title already exists: A page already exists with the same TITLE in this space";

function error(status: number, code: string, title: string, headers?: Record<string, string>): Answer {
  return { status, body: { errors: [{ status, code, title, detail: null }] }, ...(headers ? { headers } : {}) };
}

export async function startFakeConfluence(options: FakeConfluenceOptions = {}): Promise<FakeConfluence> {
  const email = options.email ?? "firebreak-bot@example.com";
  const apiToken = options.apiToken ?? "ATATT-fake-confluence-token-000000000000";
  const spaces = options.spaces ?? [{ id: "98304", key: "ENG" }];
  const firstSpace = spaces[0];
  if (!firstSpace) throw new Error("the fake needs at least one space");
  const expectedAuth = `Basic ${Buffer.from(`${email}:${apiToken}`).toString("base64")}`;

  let nextId = 1_000_001;
  const pages = new Map<string, FakePage>();
  const homes = new Map<string, string>();
  let rateLimited: { times: number; retryAfterSeconds: number } | undefined;
  let races = 0;
  let loseCreate = false;

  function seedHomes(): void {
    for (const space of spaces) {
      const id = String(nextId++);
      pages.set(id, { id, spaceId: space.id, parentId: null, status: "current", versions: [{ number: 1, title: `${space.key} Home`, body: "<p>Home</p>", message: null, at: Date.now() }] });
      homes.set(space.id, id);
    }
  }
  seedHomes();

  const latest = (page: FakePage): FakeVersion => page.versions[page.versions.length - 1]!;
  const spaceKey = (spaceId: string) => spaces.find((space) => space.id === spaceId)?.key ?? "?";
  const titleTaken = (spaceId: string, title: string, except?: string) =>
    [...pages.values()].some((page) => page.spaceId === spaceId && page.status === "current" && page.id !== except && latest(page).title === title);

  function pageJson(page: FakePage, withBody: boolean, base: string): Record<string, unknown> {
    const version = latest(page);
    return {
      id: page.id,
      status: page.status,
      title: version.title,
      spaceId: page.spaceId,
      parentId: page.parentId,
      parentType: page.parentId ? "page" : null,
      authorId: "557058:fake-author",
      createdAt: new Date(page.versions[0]!.at).toISOString(),
      version: { number: version.number, message: version.message ?? "", minorEdit: false, authorId: "557058:fake-author", createdAt: new Date(version.at).toISOString() },
      body: withBody ? { storage: { representation: "storage", value: version.body } } : {},
      _links: {
        webui: `/spaces/${spaceKey(page.spaceId)}/pages/${page.id}/${encodeURIComponent(version.title.replace(/ /g, "+"))}`,
        editui: `/pages/resumedraft.action?draftId=${page.id}`,
        tinyui: `/x/${page.id}`,
        base,
      },
    };
  }

  /** The documented body of a page write: the same checks for create and update. */
  function checkWrite(body: Record<string, unknown>, allowed: readonly string[]): string | undefined {
    const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
    if (unknown.length > 0) return `Unrecognized field(s): ${unknown.join(", ")}`;
    if (body.status !== "current" && body.status !== "draft") return "status must be \"current\" or \"draft\"";
    if (typeof body.title !== "string" || body.title.trim() === "") return "title is required for a published page";
    if (body.title.length > 255) return "title must be at most 255 characters";
    if (body.parentId !== undefined && typeof body.parentId !== "string") return "parentId must be a string";
    const content = body.body;
    if (!isRecord(content)) return "body is required: {representation, value}";
    if (content.representation !== "storage") return `body.representation must be "storage" here (got ${JSON.stringify(content.representation)})`;
    if (typeof content.value !== "string") return "body.value must be a string";
    return storageFormatProblems(content.value)[0];
  }

  const fake = await startFake(async (request) => {
    const base = `${fake.url}/wiki`;
    if (!request.path.startsWith(`${API}/`)) return error(404, "NOT_FOUND", "No API here");
    if (request.headers.authorization !== expectedAuth) return error(401, "UNAUTHORIZED", "Unauthorized; scope does not match");
    if (rateLimited && rateLimited.times > 0) {
      rateLimited.times -= 1;
      return error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded", { "retry-after": String(rateLimited.retryAfterSeconds) });
    }
    const route = request.path.slice(API.length);
    const one = /^\/pages\/([^/]+)$/.exec(route);

    if (request.method === "GET" && route === "/pages") {
      const spaceIds = request.query.get("space-id")?.split(",") ?? [];
      const statuses = request.query.get("status")?.split(",") ?? ["current"];
      const title = request.query.get("title");
      const withBody = request.query.get("body-format") === "storage";
      const results = [...pages.values()].filter(
        (page) => (spaceIds.length === 0 || spaceIds.includes(page.spaceId)) && statuses.includes(page.status) && (title === null || latest(page).title === title),
      );
      return { status: 200, body: { results: results.map((page) => pageJson(page, withBody, base)), _links: { base } } };
    }

    if (request.method === "GET" && one) {
      const page = pages.get(one[1] ?? "");
      if (!page || !/^\d+$/.test(one[1] ?? "")) return error(404, "NOT_FOUND", "Page not found");
      return { status: 200, body: pageJson(page, request.query.get("body-format") === "storage", base) };
    }

    if ((request.method === "POST" && route === "/pages") || (request.method === "PUT" && one)) {
      if (!isJson(request.headers)) return error(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json");
      if (!isRecord(request.json)) return error(400, "INVALID_REQUEST_PARAMETER", "The body must be a JSON object");
      const body = request.json;

      if (request.method === "POST") {
        const problem = checkWrite(body, ["spaceId", "status", "title", "parentId", "body", "subtype"]);
        if (typeof body.spaceId !== "string" || !/^\d+$/.test(body.spaceId)) return error(400, "INVALID_REQUEST_PARAMETER", "spaceId is required (a string of digits)");
        if (problem) return error(400, "INVALID_REQUEST_PARAMETER", problem);
        const spaceId = body.spaceId;
        if (!spaces.some((space) => space.id === spaceId)) return error(404, "NOT_FOUND", "Space not found");
        const parentId = typeof body.parentId === "string" ? body.parentId : homes.get(spaceId) ?? null;
        if (parentId !== null && pages.get(parentId)?.spaceId !== spaceId) return error(404, "NOT_FOUND", "Parent page not found in this space");
        const title = body.title as string;
        if (titleTaken(spaceId, title)) return error(400, "BAD_REQUEST", TITLE_TAKEN);
        const id = String(nextId++);
        const page: FakePage = { id, spaceId, parentId, status: body.status === "draft" ? "draft" : "current", versions: [{ number: 1, title, body: (body.body as { value: string }).value, message: null, at: Date.now() }] };
        pages.set(id, page);
        const drop = loseCreate;
        loseCreate = false;
        return { status: 200, body: pageJson(page, true, base), drop };
      }

      const id = one?.[1] ?? "";
      const page = pages.get(id);
      if (!page || page.status !== "current") return error(404, "NOT_FOUND", "Page not found");
      const problem = checkWrite(body, ["id", "status", "title", "spaceId", "parentId", "ownerId", "body", "version"]);
      if (body.id !== id) return error(400, "INVALID_REQUEST_PARAMETER", "id in the body must be the page id of the path, as a string");
      if (problem) return error(400, "INVALID_REQUEST_PARAMETER", problem);
      const version = body.version;
      if (!isRecord(version) || typeof version.number !== "number" || !Number.isInteger(version.number)) return error(400, "INVALID_REQUEST_PARAMETER", "version.number is required (an integer)");
      if (version.message !== undefined && typeof version.message !== "string") return error(400, "INVALID_REQUEST_PARAMETER", "version.message must be a string");
      if (races > 0) {
        races -= 1;
        const current = latest(page);
        page.versions.push({ ...current, number: current.number + 1, message: "edited by someone else", at: Date.now() });
      }
      const current = latest(page).number;
      if (version.number !== current + 1) return error(409, "CONFLICT", `Version must be incremented on update. Current version is: ${current}`);
      const title = body.title as string;
      if (titleTaken(page.spaceId, title, page.id)) return error(400, "BAD_REQUEST", TITLE_TAKEN);
      page.versions.push({ number: version.number, title, body: (body.body as { value: string }).value, message: typeof version.message === "string" ? version.message : null, at: Date.now() });
      return { status: 200, body: pageJson(page, true, base) };
    }
    return error(405, "METHOD_NOT_ALLOWED", `${request.method} ${route} is not part of this fake`);
  });

  return {
    url: fake.url,
    email,
    apiToken,
    spaceId: firstSpace.id,
    homePageId: homes.get(firstSpace.id) ?? "",
    requests: fake.requests,
    pages: () => [...pages.values()].filter((page) => ![...homes.values()].includes(page.id)),
    page: (id) => pages.get(id),
    latest,
    addPage({ title, body, spaceId = firstSpace.id }) {
      const id = String(nextId++);
      const page: FakePage = { id, spaceId, parentId: homes.get(spaceId) ?? null, status: "current", versions: [{ number: 1, title, body, message: null, at: Date.now() }] };
      pages.set(id, page);
      return page;
    },
    editPage(id, body) {
      const page = pages.get(id);
      if (!page) throw new Error(`no page ${id}`);
      const current = latest(page);
      page.versions.push({ ...current, number: current.number + 1, body, message: "hand edit", at: Date.now() });
    },
    rateLimit({ times = 1, retryAfterSeconds }) {
      rateLimited = { times, retryAfterSeconds };
    },
    raceNextUpdates(times = 1) {
      races = times;
    },
    loseNextCreateAnswer() {
      loseCreate = true;
    },
    reset() {
      // Home pages stay (a parent page id in the app's configuration stays valid); everything else goes.
      for (const id of [...pages.keys()]) if (![...homes.values()].includes(id)) pages.delete(id);
      fake.requests.length = 0;
      rateLimited = undefined;
      races = 0;
      loseCreate = false;
    },
    close: () => fake.close(),
  };
}
