import { describe, expect, it } from "vitest";
import { negotiate } from "../../src/postmortem/api.ts";

describe("post-mortem export format negotiation", () => {
  it("takes the extension first and refuses unknown ones, including inherited property names", () => {
    expect(negotiate("html", "application/json")).toBe("html");
    expect(negotiate("pdf", undefined)).toBeUndefined();
    for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]) expect(negotiate(name, undefined)).toBeUndefined();
  });

  it("honours Accept q-values and never picks a q=0 type", () => {
    expect(negotiate(undefined, "application/json, text/html;q=0.1")).toBe("json");
    expect(negotiate(undefined, "text/html;q=0, application/json;q=0.5")).toBe("json");
    expect(negotiate(undefined, "text/html;q=0")).toBeUndefined();
    expect(negotiate(undefined, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")).toBe("html");
    expect(negotiate(undefined, undefined)).toBe("md");
    expect(negotiate(undefined, "image/png")).toBeUndefined();
  });
});
