import { describe, expect, it } from "vitest";
import { MAX_TEXT_LENGTH, MAX_TITLE_LENGTH, parseMention } from "../../src/incident/commands.ts";
import { USAGE, parseIncidentCommand } from "../support/commands.ts";

type IncidentCommand = ReturnType<typeof parseIncidentCommand>;

const usage = (key: keyof typeof USAGE): IncidentCommand => ({ kind: "help", problem: { type: "usage", usage: USAGE[key] } });
const tooLong = (length: number): IncidentCommand => ({ kind: "help", problem: { type: "text_too_long", length, max: MAX_TEXT_LENGTH } });

describe("/incident parsing", () => {
  describe("help and unknown commands", () => {
    it("answers empty text and `help` with plain help", () => {
      expect(parseIncidentCommand("")).toEqual({ kind: "help" });
      expect(parseIncidentCommand("   \t ")).toEqual({ kind: "help" });
      expect(parseIncidentCommand("help")).toEqual({ kind: "help" });
      expect(parseIncidentCommand("HELP me please")).toEqual({ kind: "help" });
    });

    it("names an unknown subcommand, lowercased", () => {
      expect(parseIncidentCommand("frobnicate now")).toEqual({ kind: "help", problem: { type: "unknown_command", subcommand: "frobnicate" } });
      expect(parseIncidentCommand("Frobnicate")).toEqual({ kind: "help", problem: { type: "unknown_command", subcommand: "frobnicate" } });
      expect(parseIncidentCommand("<!channel>")).toEqual({ kind: "help", problem: { type: "unknown_command", subcommand: "<!channel>" } });
    });
  });

  describe("declare", () => {
    it("declares with a title and the default severity", () => {
      expect(parseIncidentCommand("declare Checkout is failing")).toEqual({ kind: "declare", title: "Checkout is failing", severity: "SEV3" });
    });

    it("accepts a severity before the title, in any spelling parseSeverity knows", () => {
      expect(parseIncidentCommand("declare sev1 Checkout is failing")).toEqual({ kind: "declare", title: "Checkout is failing", severity: "SEV1" });
      expect(parseIncidentCommand("  DECLARE   SEV2   DB down ")).toEqual({ kind: "declare", title: "DB down", severity: "SEV2" });
      expect(parseIncidentCommand("declare s4 Slow dashboards")).toEqual({ kind: "declare", title: "Slow dashboards", severity: "SEV4" });
    });

    it("treats a word that is not a severity as part of the title", () => {
      expect(parseIncidentCommand("declare sev5 everywhere")).toEqual({ kind: "declare", title: "sev5 everywhere", severity: "SEV3" });
      expect(parseIncidentCommand("declare Checkout sev1")).toEqual({ kind: "declare", title: "Checkout sev1", severity: "SEV3" });
    });

    it("has the aliases new and open", () => {
      expect(parseIncidentCommand("new sev2 API errors")).toEqual({ kind: "declare", title: "API errors", severity: "SEV2" });
      expect(parseIncidentCommand("open API errors")).toEqual({ kind: "declare", title: "API errors", severity: "SEV3" });
    });

    it("keeps the title as the person typed it: Slack's wire syntax back to @names, #channels and links (escaping happens when rendering)", () => {
      expect(parseIncidentCommand("declare <!channel> everything is down")).toEqual({ kind: "declare", title: "@channel everything is down", severity: "SEV3" });
      expect(parseIncidentCommand("declare <@U1|alice> broke <#C1|checkout>, see <https://x.example/a|the graph> and <https://x.example/b>")).toEqual({
        kind: "declare",
        title: "@alice broke #checkout, see the graph (https://x.example/a) and https://x.example/b",
        severity: "SEV3",
      });
      expect(parseIncidentCommand("declare <!subteam^S1|@sre> paged, <!here>")).toEqual({ kind: "declare", title: "@sre paged, @here", severity: "SEV3" });
    });

    it("opens the form when there is no text at all", () => {
      expect(parseIncidentCommand("declare")).toEqual({ kind: "declare_modal" });
      expect(parseIncidentCommand("  declare   ")).toEqual({ kind: "declare_modal" });
      expect(parseIncidentCommand("new")).toEqual({ kind: "declare_modal" });
      expect(parseIncidentCommand("open")).toEqual({ kind: "declare_modal" });
    });

    it("asks for a title when only a severity is given", () => {
      expect(parseIncidentCommand("declare sev1")).toEqual({ kind: "help", problem: { type: "missing_title" } });
      expect(parseIncidentCommand("declare SEV4   ")).toEqual({ kind: "help", problem: { type: "missing_title" } });
    });

    it("accepts a title of exactly MAX_TITLE_LENGTH and refuses one more", () => {
      const longest = "x".repeat(MAX_TITLE_LENGTH);
      expect(parseIncidentCommand(`declare sev1 ${longest}`)).toEqual({ kind: "declare", title: longest, severity: "SEV1" });
      expect(parseIncidentCommand(`declare ${longest}y`)).toEqual({ kind: "help", problem: { type: "title_too_long", length: MAX_TITLE_LENGTH + 1, max: MAX_TITLE_LENGTH } });
    });
  });

  describe("status", () => {
    it.each([
      ["investigating", "INVESTIGATING"],
      ["identified", "IDENTIFIED"],
      ["monitoring", "MONITORING"],
      ["RESOLVED", "RESOLVED"],
    ] as const)("sets %s without a message", (word, status) => {
      expect(parseIncidentCommand(`status ${word}`)).toEqual({ kind: "status", status, message: undefined });
    });

    it("keeps the message, including line breaks", () => {
      expect(parseIncidentCommand("status identified Bad deploy of cart\nrolling back")).toEqual({ kind: "status", status: "IDENTIFIED", message: "Bad deploy of cart\nrolling back" });
    });

    it("takes the rest of `status resolved` as the summary message", () => {
      expect(parseIncidentCommand("status resolved Rolled back the cart deploy")).toEqual({ kind: "status", status: "RESOLVED", message: "Rolled back the cart deploy" });
    });

    it("explains its usage without a known status", () => {
      expect(parseIncidentCommand("status")).toEqual(usage("status"));
      expect(parseIncidentCommand("status fixed")).toEqual(usage("status"));
      expect(parseIncidentCommand("status mitigated all good")).toEqual(usage("status"));
    });

    it("accepts a message of MAX_TEXT_LENGTH and refuses one more", () => {
      const longest = "m".repeat(MAX_TEXT_LENGTH);
      expect(parseIncidentCommand(`status monitoring ${longest}`)).toEqual({ kind: "status", status: "MONITORING", message: longest });
      expect(parseIncidentCommand(`status monitoring ${longest}m`)).toEqual(tooLong(MAX_TEXT_LENGTH + 1));
    });
  });

  describe("update and note", () => {
    it("take the rest of the text as typed", () => {
      expect(parseIncidentCommand("update Rolled back; error rate <1%")).toEqual({ kind: "update", message: "Rolled back; error rate <1%" });
      expect(parseIncidentCommand("note  Paged the DBA\n  second line ")).toEqual({ kind: "note", text: "Paged the DBA\n  second line" });
    });

    it("explain their usage without text", () => {
      expect(parseIncidentCommand("update")).toEqual(usage("update"));
      expect(parseIncidentCommand("update    ")).toEqual(usage("update"));
      expect(parseIncidentCommand("note")).toEqual(usage("note"));
    });

    it("accept MAX_TEXT_LENGTH and refuse one more", () => {
      const longest = "u".repeat(MAX_TEXT_LENGTH);
      expect(parseIncidentCommand(`update ${longest}`)).toEqual({ kind: "update", message: longest });
      expect(parseIncidentCommand(`update ${longest}u`)).toEqual(tooLong(MAX_TEXT_LENGTH + 1));
      expect(parseIncidentCommand(`note ${longest}`)).toEqual({ kind: "note", text: longest });
      expect(parseIncidentCommand(`note ${longest}n`)).toEqual(tooLong(MAX_TEXT_LENGTH + 1));
    });
  });

  describe("sev", () => {
    it.each([
      ["sev 1", "SEV1"],
      ["sev sev2", "SEV2"],
      ["sev S3", "SEV3"],
      ["severity 4", "SEV4"],
    ] as const)("%s", (input, severity) => {
      expect(parseIncidentCommand(input)).toEqual({ kind: "severity", severity });
    });

    it.each(["sev", "sev 5", "sev 0", "sev high", "sev 1 2", "severity sev1 now"])("explains its usage for %j", (input) => {
      expect(parseIncidentCommand(input)).toEqual(usage("sev"));
    });
  });

  describe("commander", () => {
    it("takes `me`, in any case", () => {
      expect(parseIncidentCommand("commander me")).toEqual({ kind: "commander", user: { me: true } });
      expect(parseIncidentCommand("commander ME")).toEqual({ kind: "commander", user: { me: true } });
      expect(parseIncidentCommand("lead me")).toEqual({ kind: "commander", user: { me: true } });
    });

    it("takes a mention, with or without the name Slack appends", () => {
      expect(parseIncidentCommand("commander <@U123>")).toEqual({ kind: "commander", user: { me: false, id: "U123" } });
      expect(parseIncidentCommand("commander <@U123|alice>")).toEqual({ kind: "commander", user: { me: false, id: "U123" } });
      expect(parseIncidentCommand("lead <@W0ENTERPRISE|bob>")).toEqual({ kind: "commander", user: { me: false, id: "W0ENTERPRISE" } });
    });

    it.each(["commander @alice", "commander @alice.smith", "role scribe @bob", "invite @carol <@U2|dave>"])(
      "names the fix when %j arrives unescaped (the app's command does not escape mentions)",
      (input) => {
        const parsed = parseIncidentCommand(input);
        expect(parsed).toMatchObject({ kind: "help", problem: { type: "unescaped_mention" } });
      },
    );

    it.each(["commander", "commander alice", "commander <@U1> <@U2>", "commander me now", "commander <#C123>", "commander <!channel>"])(
      "explains its usage for %j",
      (input) => {
        expect(parseIncidentCommand(input)).toEqual(usage("commander"));
      },
    );
  });

  describe("role", () => {
    it("assigns the scribe or the comms lead by mention", () => {
      expect(parseIncidentCommand("role scribe <@U123>")).toEqual({ kind: "role", role: "SCRIBE", userId: "U123" });
      expect(parseIncidentCommand("role COMMS <@U456|carol>")).toEqual({ kind: "role", role: "COMMS", userId: "U456" });
    });

    it.each(["role", "role scribe", "role boss <@U123>", "role scribe carol", "role scribe <@U1> <@U2>", "role <@U123> scribe", "role comms me"])("explains its usage for %j", (input) => {
      expect(parseIncidentCommand(input)).toEqual(usage("role"));
    });
  });

  describe("invite", () => {
    it("invites every mentioned user once, in order", () => {
      expect(parseIncidentCommand("invite <@U1AA>")).toEqual({ kind: "invite", userIds: ["U1AA"] });
      expect(parseIncidentCommand("invite <@U1AA> <@U2BB|bob> <@U1AA|alice>")).toEqual({ kind: "invite", userIds: ["U1AA", "U2BB"] });
    });

    it.each(["invite", "invite bob", "invite <@U1AA> bob", "invite <!here>", "invite <#C123|general>"])("explains its usage for %j", (input) => {
      expect(parseIncidentCommand(input)).toEqual(usage("invite"));
    });
  });

  describe("resolve", () => {
    it("resolves with or without a summary", () => {
      expect(parseIncidentCommand("resolve")).toEqual({ kind: "resolve", summary: undefined });
      expect(parseIncidentCommand("resolve   ")).toEqual({ kind: "resolve", summary: undefined });
      expect(parseIncidentCommand("resolve Rolled back the deploy")).toEqual({ kind: "resolve", summary: "Rolled back the deploy" });
    });

    it("accepts a summary of MAX_TEXT_LENGTH and refuses one more", () => {
      const longest = "r".repeat(MAX_TEXT_LENGTH);
      expect(parseIncidentCommand(`resolve ${longest}`)).toEqual({ kind: "resolve", summary: longest });
      expect(parseIncidentCommand(`resolve ${longest}r`)).toEqual(tooLong(MAX_TEXT_LENGTH + 1));
    });
  });

  describe("reopen and timeline", () => {
    it("reopen takes no arguments; timeline an optional page (1 = the newest entries)", () => {
      expect(parseIncidentCommand("reopen")).toEqual({ kind: "reopen" });
      expect(parseIncidentCommand("timeline")).toEqual({ kind: "timeline", page: 1 });
      expect(parseIncidentCommand("TIMELINE  ")).toEqual({ kind: "timeline", page: 1 });
      expect(parseIncidentCommand("timeline 42")).toEqual({ kind: "timeline", page: 42 });
    });

    it("explain their usage when given other arguments", () => {
      expect(parseIncidentCommand("reopen please")).toEqual(usage("reopen"));
      expect(parseIncidentCommand("timeline 0")).toEqual(usage("timeline"));
      expect(parseIncidentCommand("timeline -1")).toEqual(usage("timeline"));
      expect(parseIncidentCommand("timeline 2 3")).toEqual(usage("timeline"));
      expect(parseIncidentCommand("timeline older")).toEqual(usage("timeline"));
    });
  });

  describe("list", () => {
    it("lists open incidents, or all with `all`", () => {
      expect(parseIncidentCommand("list")).toEqual({ kind: "list", all: false });
      expect(parseIncidentCommand("list all")).toEqual({ kind: "list", all: true });
      expect(parseIncidentCommand("LIST ALL")).toEqual({ kind: "list", all: true });
    });

    it.each(["list open", "list all please", "list 5"])("explains its usage for %j", (input) => {
      expect(parseIncidentCommand(input)).toEqual(usage("list"));
    });
  });

  describe("show", () => {
    it("takes a number or an incident reference", () => {
      expect(parseIncidentCommand("show 42")).toEqual({ kind: "show", number: 42 });
      expect(parseIncidentCommand("show INC-42")).toEqual({ kind: "show", number: 42 });
      expect(parseIncidentCommand("show inc-7")).toEqual({ kind: "show", number: 7 });
      expect(parseIncidentCommand("show 007")).toEqual({ kind: "show", number: 7 });
      expect(parseIncidentCommand("show 999999999")).toEqual({ kind: "show", number: 999_999_999 });
    });

    it.each(["show", "show forty-two", "show #42", "show -1", "show 4.2", "show 42 43", "show INC42", "show 1234567890"])("explains its usage for %j", (input) => {
      expect(parseIncidentCommand(input)).toEqual(usage("show"));
    });
  });

  it("has a parse case for every USAGE entry", () => {
    const examples: Record<keyof typeof USAGE, string> = {
      declare: "declare sev2 x",
      status: "status identified",
      update: "update x",
      sev: "sev 2",
      commander: "commander me",
      role: "role scribe <@U123>",
      invite: "invite <@U123>",
      note: "note x",
      resolve: "resolve",
      reopen: "reopen",
      timeline: "timeline",
      list: "list",
      show: "show 1",
      alerts: "alerts",
      postmortem: "postmortem",
      followup: "followup add a canary stage",
    };
    for (const [key, input] of Object.entries(examples)) {
      expect((parseIncidentCommand(input) as { kind: string }).kind, key).not.toBe("help");
    }
    expect(Object.keys(examples).sort()).toEqual(Object.keys(USAGE).sort());
  });
});

describe("mentions", () => {
  it("reads user ids out of Slack's escaped mentions only", () => {
    expect(parseMention("<@U123>")).toBe("U123");
    expect(parseMention("<@U123|alice>")).toBe("U123");
    expect(parseMention("<@W9Z>")).toBe("W9Z");
    expect(parseMention("@alice")).toBeUndefined();
    expect(parseMention("<@u123>")).toBeUndefined();
    expect(parseMention("<@B123>")).toBeUndefined();
    expect(parseMention("<@U123")).toBeUndefined();
    expect(parseMention("x<@U123>")).toBeUndefined();
    expect(parseMention("<#C123>")).toBeUndefined();
  });
});
