import { describe, expect, it } from "vitest";
import { blamelessRules, reviewBlameless, type BlamelessRuleId } from "../../src/postmortem/blameless.ts";
import { EVENT_CATALOGUE } from "../support/catalogue.ts";
import { generatePostmortem as generate, renderMarkdown } from "../../src/postmortem/generate.ts";

const generatePostmortem = (input: Parameters<typeof generate>[0]) => generate(input, EVENT_CATALOGUE);
import { quietSev4 } from "../golden/postmortem/fixtures.ts";

const NAMES = ["Alice Martin", "Bob Nguyen", "Zoë Ångström"];

function rulesFor(text: string, names: readonly string[] = NAMES): BlamelessRuleId[] {
  return reviewBlameless([{ where: "test", text }], names).map((f) => f.ruleId);
}

describe("blameless-language rules: wording that blames a person is flagged", () => {
  const cases: Array<[string, BlamelessRuleId, string]> = [
    ["This was Bob's fault.", "possessive-fault", "Bob's fault"],
    ["honestly it was his mistake", "possessive-fault", "his mistake"],
    ["<@U0BOB0002>'s fault again", "possessive-fault", "<@U0BOB0002>'s fault"],
    ["Alice Martin's error took the site down", "possessive-fault", "Alice Martin's error"],
    ["Root cause: human error", "human-error", "human error"],
    ["classic human-error incident", "human-error", "human-error"],
    ["a careless push to production", "careless", "careless"],
    ["someone fat-fingered the config", "careless", "fat-fingered"],
    ["the on-call dropped the ball", "careless", "dropped the ball"],
    ["negligent handling of the keys", "negligent", "negligent"],
    ["Anyone should have known the flag was on", "hindsight", "should have known"],
    ["Alice should have caught it in review", "hindsight", "Alice should have caught"],
    ["he should've checked the dashboard", "hindsight", "he should've checked"],
    ["forgot to renew the certificate", "forgot", "forgot"],
    ["Alice failed to rotate the key", "person-failed-to", "Alice failed to"],
    ["the on-call engineer failed to escalate", "person-failed-to", "the on-call engineer failed to"],
    ["<@U0CHEN003> neglected to page the DBA", "person-failed-to", "<@U0CHEN003> neglected to"],
    ["We need someone to blame", "blame", "blame"],
    ["<@U0BOB0002> caused the outage", "person-as-cause", "<@U0BOB0002> caused"],
    ["Bob Nguyen broke the build", "person-as-cause", "Bob Nguyen broke"],
    ["@zoe accidentally took down the cluster", "person-as-cause", "@zoe accidentally took down"],
    ["Zoë brought down payments", "person-as-cause", "Zoë brought down"],
    ["The root cause was Alice", "person-as-cause", "root cause was Alice"],
    ["Alice is the root cause", "person-as-cause", "Alice is the root cause"],
    ["the new hire caused it", "person-as-cause", "the new hire caused"],
    ["He broke prod", "person-as-cause", "He broke"],
  ];

  it.each(cases)("%s -> %s", (text, ruleId, match) => {
    const findings = reviewBlameless([{ where: "Note", text }], NAMES);
    const finding = findings.find((f) => f.ruleId === ruleId);
    expect(finding, JSON.stringify(findings)).toBeDefined();
    expect(finding?.match).toBe(match);
    expect(finding?.where).toBe("Note");
    expect(finding?.explanation.length).toBeGreaterThan(20);
    expect(finding?.suggestion.length).toBeGreaterThan(20);
  });
});

describe("blameless-language rules: systems, negations and look-alikes are not flagged", () => {
  const clean = [
    "The deploy caused a spike in 5xx",
    "The cache failed to refresh after the config change",
    "Redis failed to start on two nodes",
    "The canary should have caught this: it does not exercise card payments",
    "The config push by <@U0BOB0002> caused the outage",
    "The rollback from Alice broke nothing",
    "Nobody's fault; this is a blameless review",
    "It's not Bob's fault, the canary passed",
    "No one is to blame here",
    "Redis's fault-tolerant mode kicked in",
    "It's fault tolerant by design",
    "Checkout's error rate rose to 18%",
    "The user error rate on the login page doubled",
    "lazy loading the config made start-up slow",
    "Cassandra uses a sloppy quorum",
    "the alice service broke after the upgrade", // names are matched with their case
    "the dev environment broke",
    "Kubernetes operator restarted the pods",
    "the team mitigated it by failing over",
    "Alice rolled back the deploy at 10:58",
  ];

  it.each(clean)("%s", (text) => {
    expect(rulesFor(text)).toEqual([]);
  });

  it("flags a person's name only with names given, or with a generic person", () => {
    expect(rulesFor("Dana failed to page the DBA", [])).toEqual([]);
    expect(rulesFor("Dana failed to page the DBA", ["Dana Kowalski"])).toEqual(["person-failed-to"]);
    expect(rulesFor("someone failed to page the DBA", [])).toEqual(["person-failed-to"]);
  });
});

describe("the review", () => {
  it("returns findings in the order of the texts and passages, one per passage and rule", () => {
    const findings = reviewBlameless(
      [
        { where: "Summary", text: "Human error. Careless, and Bob's fault." },
        { where: "Note", text: "nothing here" },
        { where: "Action item", text: "Alice should have known; Alice should have known" },
      ],
      NAMES,
    );
    expect(findings.map((f) => `${f.where}:${f.ruleId}:${f.match}`)).toEqual([
      "Summary:human-error:Human error",
      "Summary:careless:Careless",
      "Summary:possessive-fault:Bob's fault",
      "Action item:hindsight:should have known",
      "Action item:hindsight:should have known",
    ]);
    expect(findings[2]?.excerpt).toBe("Human error. Careless, and Bob's fault.");
  });

  it("cuts long excerpts around the match", () => {
    const text = `${"a".repeat(100)} human error ${"b".repeat(100)}`;
    const [finding] = reviewBlameless([{ where: "x", text }]);
    expect(finding?.excerpt).toMatch(/^…a+ human error b+…$/);
    expect(finding!.excerpt.length).toBeLessThan(80);
  });

  it("never changes the texts it reviews", () => {
    const texts = Object.freeze([Object.freeze({ where: "x", text: "Bob's fault, human error, careless" })]);
    const findings = reviewBlameless(texts, Object.freeze(["Bob"]));
    expect(findings).toHaveLength(3);
    expect(texts[0]?.text).toBe("Bob's fault, human error, careless");
  });

  it("describes every rule with an explanation and a system-focused suggestion", () => {
    const rules = blamelessRules(NAMES);
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(rule.patterns.length).toBeGreaterThan(0);
      for (const pattern of rule.patterns) expect(pattern.global).toBe(true);
      expect(rule.explanation).not.toBe("");
      expect(rule.suggestion).not.toBe("");
    }
  });

  it("shows findings in the draft as a review note and leaves people's words as written", () => {
    const input = quietSev4();
    input.incident = { ...input.incident, summary: "Root cause: human error. Raj should have known the crawler was coming." };
    const doc = generatePostmortem(input);
    expect(doc.review.findings.map((f) => f.ruleId)).toEqual(["human-error", "hindsight"]);
    const md = renderMarkdown(doc);
    expect(md).toContain("Root cause: human error. Raj should have known the crawler was coming.");
    expect(md).toContain("## Blameless-language review");
    expect(md).toContain("- Resolution summary: “Root cause: human error. Raj should have known the crawler was coming.”");
  });
});
