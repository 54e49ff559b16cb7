import { describe, expect, it } from "vitest";
import { createAuthorizer, type AuthorizerDeps } from "../../src/incident/authz.ts";

/** The Slack port as a plain object: user groups by id; an Error entry makes the lookup fail. */
function fakeSlack(groups: Record<string, string[] | Error>) {
  const calls: string[] = [];
  const slack: AuthorizerDeps["slack"] = {
    async usergroupMembers(usergroupId: string): Promise<string[]> {
      calls.push(usergroupId);
      const members = groups[usergroupId];
      if (members === undefined) throw new Error("no_such_subteam");
      if (members instanceof Error) throw members;
      return [...members];
    },
  };
  return { slack, calls, groups };
}

/** A logger that keeps what was logged. */
function fakeLogger() {
  const warnings: Array<{ fields: unknown; message: string | undefined }> = [];
  const logger: AuthorizerDeps["logger"] = {
    warn(fields: unknown, message?: string): void {
      warnings.push({ fields, message });
    },
  };
  return { logger, warnings };
}

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000) {
  const clock = { time: start, now: () => clock.time };
  return clock;
}

function setup(admins: string[], groups: Record<string, string[] | Error> = {}, options: { cacheMs?: number } = {}) {
  const slack = fakeSlack(groups);
  const log = fakeLogger();
  const clock = fakeClock();
  const authorizer = createAuthorizer({ admins, slack: slack.slack, logger: log.logger, now: clock.now, ...options });
  return { authorizer, calls: slack.calls, groups: slack.groups, warnings: log.warnings, clock };
}

describe("who may manage an incident", () => {
  it("allows the incident's commander without asking Slack", async () => {
    const { authorizer, calls } = setup(["S0ONCALL"], { S0ONCALL: [] });
    expect(await authorizer.canManage("U0COMMAND", { commanderId: "U0COMMAND" })).toBe(true);
    expect(calls).toEqual([]);
  });

  it("allows an admin listed by user id, on any incident", async () => {
    const { authorizer, calls } = setup(["U0ADMIN", "W0ENTADMIN"]);
    expect(await authorizer.canManage("U0ADMIN", { commanderId: "U0COMMAND" })).toBe(true);
    expect(await authorizer.canManage("W0ENTADMIN", { commanderId: null })).toBe(true);
    expect(await authorizer.isAdmin("U0ADMIN")).toBe(true);
    expect(calls).toEqual([]);
  });

  it("allows members of an admin user group", async () => {
    const { authorizer, calls } = setup(["S0ONCALL"], { S0ONCALL: ["U0MEMBER", "U0OTHER"] });
    expect(await authorizer.canManage("U0MEMBER", { commanderId: "U0COMMAND" })).toBe(true);
    expect(await authorizer.isAdmin("U0OTHER")).toBe(true);
    expect(calls).toEqual(["S0ONCALL"]);
  });

  it("looks through every admin group", async () => {
    const { authorizer, calls } = setup(["U0ADMIN", "S0FIRST", "S0SECOND"], { S0FIRST: ["U0A"], S0SECOND: ["U0B"] });
    expect(await authorizer.isAdmin("U0B")).toBe(true);
    expect(calls).toEqual(["S0FIRST", "S0SECOND"]);
  });

  it("denies everyone else", async () => {
    const { authorizer } = setup(["U0ADMIN", "S0ONCALL"], { S0ONCALL: ["U0MEMBER"] });
    expect(await authorizer.canManage("U0STRANGER", { commanderId: "U0COMMAND" })).toBe(false);
    expect(await authorizer.canManage("U0STRANGER", { commanderId: null })).toBe(false);
    expect(await authorizer.isAdmin("U0STRANGER")).toBe(false);
    // A user id that merely looks like the group id is no member of it.
    expect(await authorizer.isAdmin("S0ONCALL")).toBe(false);
  });

  it("denies everyone but the commander when there are no admins", async () => {
    const { authorizer, calls } = setup([]);
    expect(await authorizer.canManage("U0COMMAND", { commanderId: "U0COMMAND" })).toBe(true);
    expect(await authorizer.canManage("U0ANYONE", { commanderId: "U0COMMAND" })).toBe(false);
    expect(calls).toEqual([]);
  });

  it("fails closed and logs a warning when the group cannot be read", async () => {
    const failure = new Error("missing_scope");
    const { authorizer, warnings } = setup(["S0BROKEN"], { S0BROKEN: failure });
    expect(await authorizer.canManage("U0MEMBER", { commanderId: "U0COMMAND" })).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.fields).toEqual({ err: failure, usergroup: "S0BROKEN" });
    expect(warnings[0]?.message).toMatch(/treating as not a member/);
  });

  it("still finds a member in another group when one lookup fails", async () => {
    const { authorizer, warnings } = setup(["S0BROKEN", "S0ONCALL"], { S0BROKEN: new Error("boom"), S0ONCALL: ["U0MEMBER"] });
    expect(await authorizer.isAdmin("U0MEMBER")).toBe(true);
    expect(warnings).toHaveLength(1);
  });

  it("does not cache a failed lookup", async () => {
    const { authorizer, calls, groups, warnings } = setup(["S0FLAKY"], { S0FLAKY: new Error("ratelimited") });
    expect(await authorizer.isAdmin("U0MEMBER")).toBe(false);
    groups.S0FLAKY = ["U0MEMBER"];
    expect(await authorizer.isAdmin("U0MEMBER")).toBe(true);
    expect(calls).toEqual(["S0FLAKY", "S0FLAKY"]);
    expect(warnings).toHaveLength(1);
  });
});

describe("admin group cache", () => {
  it("reads a group once per cacheMs", async () => {
    const { authorizer, calls, clock } = setup(["S0ONCALL"], { S0ONCALL: ["U0MEMBER"] }, { cacheMs: 1_000 });
    expect(await authorizer.isAdmin("U0MEMBER")).toBe(true);
    expect(await authorizer.isAdmin("U0STRANGER")).toBe(false);
    expect(await authorizer.canManage("U0MEMBER", { commanderId: null })).toBe(true);
    expect(calls).toHaveLength(1);
    clock.time += 999;
    expect(await authorizer.isAdmin("U0MEMBER")).toBe(true);
    expect(calls).toHaveLength(1);
    clock.time += 1;
    expect(await authorizer.isAdmin("U0MEMBER")).toBe(true);
    expect(calls).toHaveLength(2);
  });

  it("caches for a minute by default", async () => {
    const { authorizer, calls, clock } = setup(["S0ONCALL"], { S0ONCALL: ["U0MEMBER"] });
    await authorizer.isAdmin("U0MEMBER");
    clock.time += 59_999;
    await authorizer.isAdmin("U0MEMBER");
    expect(calls).toHaveLength(1);
    clock.time += 1;
    await authorizer.isAdmin("U0MEMBER");
    expect(calls).toHaveLength(2);
  });

  it("sees membership changes only after the cache expires", async () => {
    const { authorizer, groups, clock } = setup(["S0ONCALL"], { S0ONCALL: ["U0OLD"] }, { cacheMs: 5_000 });
    expect(await authorizer.isAdmin("U0NEW")).toBe(false);
    groups.S0ONCALL = ["U0NEW"];
    expect(await authorizer.isAdmin("U0NEW")).toBe(false);
    expect(await authorizer.isAdmin("U0OLD")).toBe(true);
    clock.time += 5_000;
    expect(await authorizer.isAdmin("U0NEW")).toBe(true);
    expect(await authorizer.isAdmin("U0OLD")).toBe(false);
  });

  it("caches each group separately", async () => {
    const { authorizer, calls, clock } = setup(["S0FIRST", "S0SECOND"], { S0FIRST: ["U0A"], S0SECOND: ["U0B"] }, { cacheMs: 1_000 });
    await authorizer.isAdmin("U0A"); // stops at the first group
    expect(calls).toEqual(["S0FIRST"]);
    clock.time += 500;
    await authorizer.isAdmin("U0B"); // first from the cache, second read now
    expect(calls).toEqual(["S0FIRST", "S0SECOND"]);
    clock.time += 500; // the first expires, the second is 500 ms old
    await authorizer.isAdmin("U0B");
    expect(calls).toEqual(["S0FIRST", "S0SECOND", "S0FIRST"]);
  });
});
