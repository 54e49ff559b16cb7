import { describe, expect, it } from "vitest";
import { parseFileConfig, type FileConfig } from "../../src/config/file.ts";
import { MAX_TEXT_LENGTH, MAX_TITLE_LENGTH } from "../../src/incident/commands.ts";
import { ConfigError } from "../../src/lib/errors.ts";
import { SEVERITIES, STATUS_LABEL, type IncidentStatus } from "../../src/incident/models.ts";
import { FIELDS, VIEWS, declareModal, resolveModal, updateModal } from "../../src/incident/views.ts";
import { expectNoForeignMarkup, expectWithinSlackLimits, sectionTexts } from "./block-kit.ts";
import { HOSTILE, HOSTILE_ESCAPED, HOSTILE_FRAGMENTS, incident } from "./incident-fixtures.ts";

interface TextObject {
  type: string;
  text: string;
}
interface Option {
  text: TextObject;
  value: string;
}
interface Element {
  type: string;
  action_id: string;
  options?: Option[];
  initial_option?: Option;
  max_length?: number;
  multiline?: boolean;
}
interface Block {
  type: string;
  block_id?: string;
  optional?: boolean;
  label?: TextObject;
  element?: Element;
  text?: TextObject;
}
interface Modal {
  type: string;
  callback_id: string;
  private_metadata: string;
  title: TextObject;
  submit: TextObject;
  close: TextObject;
  blocks: Block[];
}

/** Narrows a view built by the app, checking the shape the tests rely on. */
function asModal(view: unknown): Modal {
  expect(view).toMatchObject({ type: "modal", title: { type: "plain_text" }, submit: { type: "plain_text" }, close: { type: "plain_text" } });
  expect(Array.isArray((view as { blocks?: unknown }).blocks)).toBe(true);
  return view as Modal;
}

function input(modal: Modal, field: keyof typeof FIELDS): Block & { element: Element } {
  const block = modal.blocks.find((candidate) => candidate.type === "input" && candidate.block_id === FIELDS[field].block);
  expect(block, `input ${field}`).toBeDefined();
  expect(block?.element?.action_id).toBe(FIELDS[field].action);
  return block as Block & { element: Element };
}

function inputIds(modal: Modal): Array<[string | undefined, string | undefined]> {
  return modal.blocks.filter((block) => block.type === "input").map((block) => [block.block_id, block.element?.action_id]);
}

const services = (count: number): FileConfig["services"] => Array.from({ length: count }, (_, i) => ({ key: `service-${i}`, name: `Service ${i}`, owners: [], actions: [] }));

describe("declare modal", () => {
  it("asks for title, severity, service, description and visibility", () => {
    const modal = asModal(declareModal(services(3), { channelId: "C0ORIGIN" }));
    expect(modal.callback_id).toBe(VIEWS.declare);
    expect(modal.title.text).toBe("Declare an incident");
    expect(modal.submit.text).toBe("Declare");
    expect(JSON.parse(modal.private_metadata)).toEqual({ channelId: "C0ORIGIN" });
    expect(inputIds(modal)).toEqual([
      [FIELDS.title.block, FIELDS.title.action],
      [FIELDS.severity.block, FIELDS.severity.action],
      [FIELDS.service.block, FIELDS.service.action],
      [FIELDS.description.block, FIELDS.description.action],
      [FIELDS.private.block, FIELDS.private.action],
    ]);
    expect(input(modal, "title").element.max_length).toBe(MAX_TITLE_LENGTH);
    expect(input(modal, "title").optional).toBeUndefined();
    expect(input(modal, "description").optional).toBe(true);
    expectWithinSlackLimits(modal, "modal");
  });

  it("offers the four severities, SEV3 preselected", () => {
    const severity = input(asModal(declareModal([], { channelId: "C0ORIGIN" })), "severity").element;
    expect(severity.options?.map((option) => option.value)).toEqual([...SEVERITIES]);
    expect(severity.initial_option?.value).toBe("SEV3");
  });

  it("offers the configured services as options", () => {
    const service = input(asModal(declareModal(services(3), { channelId: "C0ORIGIN" })), "service");
    expect(service.optional).toBe(true);
    expect(service.element.type).toBe("static_select");
    expect(service.element.options).toEqual([0, 1, 2].map((i) => ({ text: { type: "plain_text", text: `Service ${i}`, emoji: true }, value: `service-${i}` })));
  });

  it("offers at most 100 services", () => {
    const modal = asModal(declareModal(services(150), { channelId: "C0ORIGIN" }));
    const options = input(modal, "service").element.options ?? [];
    expect(options).toHaveLength(100);
    expect(options.at(-1)?.value).toBe("service-99");
    expectWithinSlackLimits(modal, "modal");
  });

  it("leaves out the service menu when no services are configured", () => {
    const modal = asModal(declareModal([], { channelId: "C0ORIGIN" }));
    expect(modal.blocks.some((block) => block.block_id === FIELDS.service.block)).toBe(false);
    expect(inputIds(modal).map(([block]) => block)).toEqual([FIELDS.title.block, FIELDS.severity.block, FIELDS.description.block, FIELDS.private.block]);
    expectWithinSlackLimits(modal, "modal");
  });

  it("has a checkbox to make the incident private", () => {
    const visibility = input(asModal(declareModal([], { channelId: "C0ORIGIN" })), "private");
    expect(visibility.optional).toBe(true);
    expect(visibility.element.type).toBe("checkboxes");
    expect(visibility.element.options?.map((option) => option.value)).toEqual(["private"]);
    expect(visibility.element.options?.[0]?.text.text).toMatch(/^Private incident/);
  });

  it("fits long service names into option text", () => {
    const modal = asModal(declareModal([{ key: "long", name: `${HOSTILE} ${"n".repeat(200)}`, owners: [], actions: [] }], { channelId: "C0ORIGIN" }));
    const [option] = input(modal, "service").element.options ?? [];
    expect(option?.text.text.length).toBe(75);
    expectWithinSlackLimits(modal, "modal");
  });

  // Slack caps an option's value at 150 characters; the config accepts service keys of any length,
  // and the key becomes the option value, so views.open would fail for such a configuration.
  // Either the config refuses the key, or the modal must still be valid.
  it("renders every service configuration the config file accepts", () => {
    let services: FileConfig["services"];
    try {
      services = parseFileConfig({ services: [{ key: "k".repeat(151), name: "n".repeat(75) }] }).services;
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.join("\n")).toContain("services.0.key");
      return;
    }
    expectWithinSlackLimits(declareModal(services, { channelId: "C0ORIGIN" }), "modal");
  });
});

describe("update modal", () => {
  it.each(["INVESTIGATING", "IDENTIFIED", "MONITORING"] as const)("preselects the current status %s", (status) => {
    const modal = asModal(updateModal(incident({ status })));
    const select = input(modal, "status").element;
    expect(select.options?.map((option) => option.value)).toEqual(["INVESTIGATING", "IDENTIFIED", "MONITORING"]);
    expect(select.initial_option?.value).toBe(status);
    expect(select.initial_option?.text.text).toBe(STATUS_LABEL[status]);
    expectWithinSlackLimits(modal, "modal");
  });

  it("falls back to Investigating for a resolved incident", () => {
    expect(input(asModal(updateModal(incident({ status: "RESOLVED" }))), "status").element.initial_option?.value).toBe("INVESTIGATING");
  });

  it("posts to the incident, with a message as long as a command allows", () => {
    const modal = asModal(updateModal(incident()));
    expect(modal.callback_id).toBe(VIEWS.postUpdate);
    expect(modal.title.text).toBe("Update INC-12");
    expect(JSON.parse(modal.private_metadata)).toEqual({ incidentId: incident().id });
    expect(inputIds(modal)).toEqual([
      [FIELDS.status.block, FIELDS.status.action],
      [FIELDS.message.block, FIELDS.message.action],
    ]);
    const message = input(modal, "message").element;
    expect(message.multiline).toBe(true);
    expect(message.max_length).toBe(MAX_TEXT_LENGTH);
  });
});

describe("resolve modal", () => {
  it("confirms which incident is resolved and asks for a summary", () => {
    const modal = asModal(resolveModal(incident()));
    expect(modal.callback_id).toBe(VIEWS.resolve);
    expect(modal.title.text).toBe("Resolve INC-12");
    expect(modal.submit.text).toBe("Resolve");
    expect(JSON.parse(modal.private_metadata)).toEqual({ incidentId: incident().id });
    expect(sectionTexts(modal)).toEqual(["You are about to resolve *INC-12: Checkout is failing*. Reminders stop and the resolution is announced."]);
    expect(inputIds(modal)).toEqual([[FIELDS.summary.block, FIELDS.summary.action]]);
    expect(input(modal, "summary").element.max_length).toBe(MAX_TEXT_LENGTH);
    expectWithinSlackLimits(modal, "modal");
  });

  it("escapes the title it repeats", () => {
    const modal = asModal(resolveModal(incident({ title: HOSTILE })));
    expect(sectionTexts(modal)[0]).toContain(`*INC-12: ${HOSTILE_ESCAPED}*`);
    expectNoForeignMarkup(modal, HOSTILE_FRAGMENTS);
  });
});

describe("every modal", () => {
  const statuses: IncidentStatus[] = ["INVESTIGATING", "RESOLVED"];
  const views = (number: number, status: IncidentStatus) => {
    const summary = incident({ number, status, title: "<".repeat(MAX_TITLE_LENGTH) });
    return [declareModal(services(150), { channelId: "C0ORIGIN" }), updateModal(summary), resolveModal(summary)].map(asModal);
  };

  it("keeps its title within 24 characters and its blocks within limits, even for huge incident numbers", () => {
    for (const number of [1, 12, 999_999_999]) {
      for (const status of statuses) {
        for (const modal of views(number, status)) {
          expect(modal.title.text.length).toBeLessThanOrEqual(24);
          expect(modal.title.text).not.toContain("…");
          expect(modal.close.text).toBe("Cancel");
          expectWithinSlackLimits(modal, "modal");
        }
      }
    }
  });

  it("uses distinct callback ids", () => {
    expect(views(1, "INVESTIGATING").map((modal) => modal.callback_id)).toEqual([VIEWS.declare, VIEWS.postUpdate, VIEWS.resolve]);
    expect(new Set(Object.values(VIEWS)).size).toBe(Object.values(VIEWS).length);
  });
});
