import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_FILE_CONFIG } from "../../src/config/file.ts";
import { loadManifest } from "../support/manifest.ts";

describe("manifest.yml", () => {
  const manifest = loadManifest();

  it("sends the slash command, interactivity and events to /slack/events", () => {
    const command = manifest.features.slash_commands.find((entry) => entry.command === DEFAULT_FILE_CONFIG.incidents.slashCommand);
    expect(command).toBeDefined();
    for (const url of [command!.url, manifest.settings.interactivity.request_url, manifest.settings.event_subscriptions.request_url]) {
      expect(new URL(url).pathname).toBe("/slack/events");
    }
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.socket_mode_enabled).toBe(false);
  });

  it("documents the reason for every scope in the README", () => {
    const readme = readFileSync("README.md", "utf8");
    for (const scope of manifest.oauth_config.scopes.bot) {
      expect(readme, `README must explain the scope ${scope}`).toMatch(new RegExp(`\\|\\s*\`${scope.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\`\\s*\\|`));
    }
  });

  it("asks for no scope twice", () => {
    const scopes = manifest.oauth_config.scopes.bot;
    expect(new Set(scopes).size).toBe(scopes.length);
  });
});
