import { describe, expect, it } from "vitest";
import { escapeMrkdwn, plain, safeText, truncate } from "../../src/slack/text.ts";

describe("escaping untrusted text for Slack", () => {
  it("neutralises broadcasts, mentions and disguised links", () => {
    expect(escapeMrkdwn("<!channel> hi <@U123> <https://evil.example|click> & more")).toBe(
      "&lt;!channel&gt; hi &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; more",
    );
  });

  it("escapes & first so entities typed by a user stay literal", () => {
    expect(escapeMrkdwn("&lt;!here&gt;")).toBe("&amp;lt;!here&amp;gt;");
  });
});

describe("truncation", () => {
  it("leaves short text alone", () => {
    expect(truncate("short", 10)).toBe("short");
  });

  it("cuts to the limit with an ellipsis", () => {
    const out = truncate("x".repeat(5000), 3000);
    expect(out.length).toBe(3000);
    expect(out.endsWith("…")).toBe(true);
  });

  it("never splits a surrogate pair", () => {
    const out = truncate("🔥".repeat(10), 6);
    expect(out.length).toBeLessThanOrEqual(6);
    expect(out).toBe("🔥🔥…");
  });

  it("never leaves half an escape entity after escaping", () => {
    const out = safeText("aaaaaaa<", 10);
    expect(out.length).toBeLessThanOrEqual(10);
    expect(out).not.toMatch(/&[a-z]*…$/);
  });

  it("plain() folds whitespace for plain_text fields", () => {
    expect(plain("a\n\n b\t c", 100)).toBe("a b c");
  });
});
