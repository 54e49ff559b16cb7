import { describe, expect, it } from "vitest";
import { incidentChannelName, isValidChannelName, slugify } from "../../src/slack/channel-name.ts";

describe("incident channel names", () => {
  it("follows inc-<number>-<slug>", () => {
    expect(incidentChannelName(42, "Checkout is failing")).toBe("inc-42-checkout-is-failing");
  });

  it("lowercases, strips accents and punctuation, collapses separators", () => {
    expect(slugify("  Café: DB   down!! (EU-west) ")).toBe("cafe-db-down-eu-west");
    expect(incidentChannelName(7, "<!channel> Payments ✨ 500s")).toBe("inc-7-channel-payments-500s");
  });

  it("falls back to inc-<number> when nothing usable is left", () => {
    expect(incidentChannelName(3, "🔥🔥🔥")).toBe("inc-3");
    expect(incidentChannelName(3, "🔥", 2)).toBe("inc-3-2");
  });

  it("never exceeds 80 characters, even with a suffix, and never ends with a hyphen", () => {
    const title = "a very long title ".repeat(20);
    for (const attempt of [1, 2, 10, 123]) {
      const name = incidentChannelName(123456, title, attempt);
      expect(name.length).toBeLessThanOrEqual(80);
      expect(isValidChannelName(name)).toBe(true);
      expect(name).not.toMatch(/--|-$/);
      if (attempt > 1) expect(name.endsWith(`-${attempt}`)).toBe(true);
    }
  });

  it("gives a different name for every attempt", () => {
    const names = new Set([1, 2, 3, 4].map((attempt) => incidentChannelName(1, "Same title", attempt)));
    expect(names.size).toBe(4);
  });

  it("uses a configured prefix", () => {
    expect(incidentChannelName(5, "Disk full", 1, "incident")).toBe("incident-5-disk-full");
  });
});
