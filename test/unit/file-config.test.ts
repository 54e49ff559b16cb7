import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_FILE_CONFIG, loadFileConfig, parseFileConfig, type FileConfig } from "../../src/config/file.ts";
import { ConfigError } from "../../src/lib/errors.ts";

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("expected a ConfigError");
}

async function asyncProblemsOf(run: () => Promise<unknown>): Promise<string[]> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("expected a ConfigError");
}

/** The sections these tests cover (the file has others, tested elsewhere). */
function incidentSections(config: FileConfig): Pick<FileConfig, "incidents" | "severities" | "services"> {
  return { incidents: config.incidents, severities: config.severities, services: config.services };
}

/** The one problem `raw` has; it must start with the source and the dotted path. */
function onlyProblem(raw: unknown): string {
  const problems = problemsOf(() => parseFileConfig(raw));
  expect(problems).toHaveLength(1);
  return problems[0] ?? "";
}

describe("config file: defaults", () => {
  const expected = {
    incidents: { channelPrefix: "inc", slashCommand: "/incident", admins: [] },
    severities: {
      SEV1: { notify: [], announcementChannel: undefined, updateIntervalMinutes: 15 },
      SEV2: { notify: [], announcementChannel: undefined, updateIntervalMinutes: 30 },
      SEV3: { notify: [], announcementChannel: undefined, updateIntervalMinutes: 60 },
      SEV4: { notify: [], announcementChannel: undefined, updateIntervalMinutes: 240 },
    },
    services: [],
  };

  it.each([{}, undefined, null, { incidents: {}, severities: {}, services: [] }, { severities: { SEV1: {} } }])("fills in every default for %j", (raw) => {
    const config = parseFileConfig(raw);
    expect(incidentSections(config)).toEqual(expected);
    expect(config.incidents.announcementChannel).toBeUndefined();
  });

  it("DEFAULT_FILE_CONFIG is the empty file", () => {
    expect(incidentSections(DEFAULT_FILE_CONFIG)).toEqual(expected);
    expect(DEFAULT_FILE_CONFIG).toEqual(parseFileConfig({}));
  });

  it("announces every severity in incidents.announcementChannel unless the severity has its own", () => {
    const config = parseFileConfig({ incidents: { announcementChannel: "C0ANNOUNCE" }, severities: { SEV1: { announcementChannel: "G0EXECS" } } });
    expect(config.severities.SEV1.announcementChannel).toBe("G0EXECS");
    expect(config.severities.SEV2.announcementChannel).toBe("C0ANNOUNCE");
    expect(config.severities.SEV3.announcementChannel).toBe("C0ANNOUNCE");
    expect(config.severities.SEV4.announcementChannel).toBe("C0ANNOUNCE");
  });

  it("lets a severity have an announcement channel when there is no global one", () => {
    const config = parseFileConfig({ severities: { SEV2: { announcementChannel: "C0SEV2" } } });
    expect(config.severities.SEV2.announcementChannel).toBe("C0SEV2");
    expect(config.severities.SEV1.announcementChannel).toBeUndefined();
  });
});

describe("config file: settings", () => {
  it("takes per-severity overrides and keeps the other defaults", () => {
    const config = parseFileConfig({
      severities: {
        SEV1: { notify: ["S0ONCALL", "U0CTO"], updateIntervalMinutes: 5 },
        SEV4: { updateIntervalMinutes: 7 * 24 * 60 },
      },
    });
    expect(config.severities.SEV1).toEqual({ notify: ["S0ONCALL", "U0CTO"], announcementChannel: undefined, updateIntervalMinutes: 5 });
    expect(config.severities.SEV2).toEqual({ notify: [], announcementChannel: undefined, updateIntervalMinutes: 30 });
    expect(config.severities.SEV3.updateIntervalMinutes).toBe(60);
    expect(config.severities.SEV4.updateIntervalMinutes).toBe(10_080);
  });

  it("takes incidents settings and services", () => {
    const config = parseFileConfig({
      incidents: { channelPrefix: "incident_2", slashCommand: "/fire", admins: ["U0ADMIN", "W0ENT", "S0ADMINS"], announcementChannel: "C0ANNOUNCE" },
      services: [
        { key: "checkout", name: "Checkout", owners: ["S0PAYTEAM"] },
        { key: "search-api_v2", name: "Search API" },
      ],
    });
    expect(config.incidents).toEqual({ channelPrefix: "incident_2", slashCommand: "/fire", admins: ["U0ADMIN", "W0ENT", "S0ADMINS"], announcementChannel: "C0ANNOUNCE" });
    expect(config.services).toEqual([
      { key: "checkout", name: "Checkout", owners: ["S0PAYTEAM"], actions: [] },
      { key: "search-api_v2", name: "Search API", owners: [], actions: [] },
    ]);
  });

  it("accepts 100 services and a 20-character prefix", () => {
    const services = Array.from({ length: 100 }, (_, i) => ({ key: `s${i}`, name: `Service ${i}` }));
    expect(parseFileConfig({ services, incidents: { channelPrefix: "a".repeat(20) } }).services).toHaveLength(100);
  });
});

describe("config file: problems", () => {
  it.each([
    [{ incidents: { admins: ["bob"] } }, "configuration: incidents.admins.0 must be a Slack user id (U...) or user group id (S...)"],
    [{ incidents: { admins: ["U0ADMIN", "C0CHANNEL"] } }, "configuration: incidents.admins.1 must be a Slack user id"],
    [{ incidents: { announcementChannel: "#incidents" } }, "configuration: incidents.announcementChannel must be a Slack channel id"],
    [{ severities: { SEV2: { notify: ["U0OK", "@oncall"] } } }, "configuration: severities.SEV2.notify.1 must be a Slack user id"],
    [{ severities: { SEV3: { announcementChannel: "U0USER" } } }, "configuration: severities.SEV3.announcementChannel must be a Slack channel id"],
    [{ services: [{ key: "checkout", name: "Checkout", owners: ["team-payments"] }] }, "configuration: services.0.owners.0 must be a Slack user id"],
    [{ incidents: { channelPrefix: "INC" } }, "configuration: incidents.channelPrefix must be 1-20 lowercase letters, digits, - or _"],
    [{ incidents: { channelPrefix: "a".repeat(21) } }, "configuration: incidents.channelPrefix must be 1-20"],
    [{ incidents: { channelPrefix: "" } }, "configuration: incidents.channelPrefix must be 1-20"],
    [{ incidents: { slashCommand: "incident" } }, "configuration: incidents.slashCommand must look like /incident"],
    [{ severities: { SEV1: { updateIntervalMinutes: 0 } } }, "configuration: severities.SEV1.updateIntervalMinutes "],
    [{ severities: { SEV1: { updateIntervalMinutes: 7 * 24 * 60 + 1 } } }, "configuration: severities.SEV1.updateIntervalMinutes "],
    [{ severities: { SEV1: { updateIntervalMinutes: 1.5 } } }, "configuration: severities.SEV1.updateIntervalMinutes "],
    [{ severities: { SEV1: { updateIntervalMinutes: "15" } } }, "configuration: severities.SEV1.updateIntervalMinutes "],
    [{ services: [{ key: "Checkout", name: "Checkout" }] }, "configuration: services.0.key must be lowercase letters, digits, - or _"],
    [{ services: [{ key: "checkout", name: "" }] }, "configuration: services.0.name "],
    [{ services: [{ key: "checkout", name: "n".repeat(76) }] }, "configuration: services.0.name "],
    [{ services: [{ name: "Checkout" }] }, "configuration: services.0.key "],
    [{ services: Array.from({ length: 101 }, (_, i) => ({ key: `s${i}`, name: "S" })) }, "configuration: services at most 100 services"],
    ["just a string", "configuration: (top level) "],
  ])("rejects %j naming the path", (raw, start) => {
    expect(onlyProblem(raw).startsWith(start)).toBe(true);
  });

  it.each([
    [{ incident: {} }, "configuration: (top level) ", "incident"],
    [{ incidents: { prefix: "inc" } }, "configuration: incidents ", "prefix"],
    [{ severities: { sev1: {} } }, "configuration: severities ", "sev1"],
    [{ severities: { SEV5: {} } }, "configuration: severities ", "SEV5"],
    [{ severities: { SEV1: { interval: 5 } } }, "configuration: severities.SEV1 ", "interval"],
    [{ services: [{ key: "checkout", name: "Checkout", team: "payments" }] }, "configuration: services.0 ", "team"],
  ])("rejects the unknown key in %j", (raw, start, key) => {
    const problem = onlyProblem(raw);
    expect(problem.startsWith(start)).toBe(true);
    expect(problem).toContain(`"${key}"`);
  });

  it("rejects duplicate service keys", () => {
    const problem = onlyProblem({ services: [{ key: "checkout", name: "Checkout" }, { key: "search", name: "Search" }, { key: "checkout", name: "Checkout again" }] });
    expect(problem).toBe("configuration: services service keys must be unique");
  });

  it("reports every problem at once, named after the source", () => {
    const problems = problemsOf(() =>
      parseFileConfig({ incidents: { admins: ["bob"], announcementChannel: "general" }, severities: { SEV1: { updateIntervalMinutes: 0 } }, extra: true }, "/etc/firebreak.yml"),
    );
    expect(problems).toHaveLength(4);
    for (const problem of problems) expect(problem.startsWith("/etc/firebreak.yml: ")).toBe(true);
    expect(problems.some((problem) => problem.startsWith("/etc/firebreak.yml: incidents.admins.0 "))).toBe(true);
    expect(problems.some((problem) => problem.startsWith("/etc/firebreak.yml: incidents.announcementChannel "))).toBe(true);
    expect(problems.some((problem) => problem.startsWith("/etc/firebreak.yml: severities.SEV1.updateIntervalMinutes "))).toBe(true);
    expect(problems.some((problem) => problem.startsWith("/etc/firebreak.yml: (top level) ") && problem.includes('"extra"'))).toBe(true);
  });
});

describe("config file: immutability", () => {
  const raw = {
    incidents: { admins: ["U0ADMIN"], announcementChannel: "C0ANNOUNCE" },
    severities: { SEV1: { notify: ["S0ONCALL"] } },
    services: [{ key: "checkout", name: "Checkout", owners: ["U0OWNER"] }],
  };

  function expectDeeplyFrozen(value: unknown, where = "config"): void {
    if (value === null || typeof value !== "object") return;
    expect(Object.isFrozen(value), where).toBe(true);
    for (const [key, inner] of Object.entries(value)) expectDeeplyFrozen(inner, `${where}.${key}`);
  }

  it("is frozen all the way down", () => {
    const config = parseFileConfig(raw);
    expectDeeplyFrozen(config);
    expectDeeplyFrozen(DEFAULT_FILE_CONFIG);
    expect(() => {
      (config.severities.SEV1 as { updateIntervalMinutes: number }).updateIntervalMinutes = 1;
    }).toThrow(TypeError);
    expect(() => {
      config.services.push({ key: "x", name: "X", owners: [], actions: [] });
    }).toThrow(TypeError);
    expect(() => {
      config.incidents.admins[0] = "U0EVIL";
    }).toThrow(TypeError);
    expect(config.incidents.admins).toEqual(["U0ADMIN"]);
  });

  it("leaves the caller's object alone", () => {
    parseFileConfig(raw);
    expect(Object.isFrozen(raw)).toBe(false);
    expect(Object.isFrozen(raw.incidents.admins)).toBe(false);
    expect(Object.isFrozen(raw.services[0])).toBe(false);
  });
});

describe("loading the config file", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "firebreak-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const target = path.join(dir, name);
    await writeFile(target, text, "utf8");
    return target;
  }

  it("uses the defaults when no file is named", async () => {
    expect(await loadFileConfig(undefined)).toBe(DEFAULT_FILE_CONFIG);
    expect(await loadFileConfig("")).toBe(DEFAULT_FILE_CONFIG);
  });

  it("reads YAML", async () => {
    const target = await file(
      "ok.yml",
      ["incidents:", "  announcementChannel: C0ANNOUNCE", "severities:", "  SEV1:", "    updateIntervalMinutes: 10", "services:", "  - key: checkout", "    name: Checkout", ""].join("\n"),
    );
    const config = await loadFileConfig(target);
    expect(config.severities.SEV1).toEqual({ notify: [], announcementChannel: "C0ANNOUNCE", updateIntervalMinutes: 10 });
    expect(config.severities.SEV4.updateIntervalMinutes).toBe(240);
    expect(config.services).toEqual([{ key: "checkout", name: "Checkout", owners: [], actions: [] }]);
    expect(Object.isFrozen(config.severities.SEV1)).toBe(true);
  });

  it("treats an empty file as all defaults", async () => {
    expect(await loadFileConfig(await file("empty.yml", ""))).toEqual(DEFAULT_FILE_CONFIG);
    expect(await loadFileConfig(await file("comment.yml", "# nothing configured yet\n"))).toEqual(DEFAULT_FILE_CONFIG);
  });

  it("names the file in each problem", async () => {
    const target = await file("bad.yml", "incidents:\n  admins: [bob]\nseverity: {}\n");
    const problems = await asyncProblemsOf(() => loadFileConfig(target));
    expect(problems).toHaveLength(2);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: incidents\\.admins\\.0 must be a Slack user id`)));
    expect(problems).toContainEqual(expect.stringContaining(`${target}: (top level) `));
  });

  it("explains a file that cannot be read", async () => {
    const missing = path.join(dir, "missing.yml");
    const problems = await asyncProblemsOf(() => loadFileConfig(missing));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`FIREBREAK_CONFIG points to ${missing}, which cannot be read`);
    expect(problems[0]).toContain("ENOENT");
  });

  it("explains a file that is not YAML", async () => {
    const target = await file("broken.yml", "incidents: [unclosed\n");
    const problems = await asyncProblemsOf(() => loadFileConfig(target));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.startsWith(`${target} is not valid YAML: `)).toBe(true);
  });
});

describe("timeline.captureEmoji", () => {
  it("defaults to pushpin, accepts a name with or without colons, and refuses what is not an emoji name", () => {
    expect(parseFileConfig({}).timeline.captureEmoji).toBe("pushpin");
    expect(parseFileConfig({ timeline: { captureEmoji: ":round_pushpin:" } }).timeline.captureEmoji).toBe("round_pushpin");
    expect(parseFileConfig({ timeline: { captureEmoji: "+1" } }).timeline.captureEmoji).toBe("+1");
    expect(() => parseFileConfig({ timeline: { captureEmoji: "push pin" } }, "f.yml")).toThrow(/f\.yml: timeline\.captureEmoji must be an emoji name/);
    expect(() => parseFileConfig({ timeline: { emoji: "x" } }, "f.yml")).toThrow(/timeline/);
  });
});
