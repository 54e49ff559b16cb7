import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(resolve(ROOT, path), "utf8");

/** The README's shell blocks, one command per line. */
function readmeCommands(): string[] {
  return [...read("README.md").matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((block) => (block[1] ?? "").split("\n").map((line) => line.trim()));
}

describe("the two set-up commands", () => {
  const pinned = (JSON.parse(read("package.json")) as { devDependencies: Record<string, string> }).devDependencies["node"];
  const install = `npm exec --yes --package=node@${pinned} -- npm ci`;

  it("run npm ci on the Node that package.json pins, then start or test", () => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const commands = readmeCommands();
    expect(commands).toContain(`${install} && npm start`);
    expect(commands).toContain(`${install} && npm test`);
  });

  it(".ci/run runs exactly the README's test command", () => {
    const lines = read(".ci/run")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#") && !line.startsWith("set ") && !line.startsWith("cd "));
    expect(lines).toEqual([`${install} && npm test`]);
  });
});
