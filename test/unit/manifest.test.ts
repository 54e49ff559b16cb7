import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CREATE_FOLLOWUP_SHORTCUT } from "../../src/postmortem/views.ts";
import { ADD_TO_TIMELINE_SHORTCUT } from "../../src/timeline/views.ts";
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

describe("manifest.yml: events and shortcuts", () => {
  const raw = parse(readFileSync("manifest.yml", "utf8")) as {
    features: { shortcuts?: Array<{ name: string; type: string; callback_id: string; description: string }> };
    settings: { event_subscriptions: { bot_events: string[] } };
    oauth_config: { scopes: { bot: string[] } };
  };
  const scopes = new Set(raw.oauth_config.scopes.bot);

  it("subscribes to every event the app listens to, with the scope each event needs", () => {
    // Slack delivers an event only with its scope: https://api.slack.com/events
    const needs: Record<string, string> = {
      pin_added: "pins:read",
      pin_removed: "pins:read",
      reaction_added: "reactions:read",
      reaction_removed: "reactions:read",
      "message.channels": "channels:history",
      "message.groups": "groups:history",
    };
    expect([...raw.settings.event_subscriptions.bot_events].sort()).toEqual(Object.keys(needs).sort());
    for (const [event, scope] of Object.entries(needs)) expect(scopes.has(scope), `${event} needs ${scope}`).toBe(true);
  });

  it("declares the message shortcuts with the callback ids the app routes", () => {
    const shortcuts = raw.features.shortcuts ?? [];
    expect(shortcuts.map((entry) => [entry.type, entry.callback_id]).sort()).toEqual(
      [
        ["message", ADD_TO_TIMELINE_SHORTCUT],
        ["message", CREATE_FOLLOWUP_SHORTCUT],
      ].sort(),
    );
    for (const entry of shortcuts) expect(entry.name.trim().length * entry.description.trim().length).toBeGreaterThan(0);
  });
});

describe("manifest.socket-mode.yml", () => {
  type Manifest = { features: { slash_commands: Array<Record<string, unknown>> }; settings: Record<string, unknown> & { interactivity: Record<string, unknown>; event_subscriptions: Record<string, unknown> } };
  const read = (path: string) => parse(readFileSync(path, "utf8")) as Manifest;
  const http = read("manifest.yml");
  const socket = read("manifest.socket-mode.yml");

  it("turns Socket Mode on and names no request URL", () => {
    expect(socket.settings.socket_mode_enabled).toBe(true);
    expect(JSON.stringify(socket)).not.toMatch(/https?:\/\//);
  });

  it("is manifest.yml but for the request URLs and Socket Mode: same command, escaping, scopes, events and shortcuts", () => {
    const withoutUrls = (manifest: Manifest) => {
      const copy = structuredClone(manifest);
      for (const command of copy.features.slash_commands) delete command.url;
      delete copy.settings.interactivity.request_url;
      delete copy.settings.event_subscriptions.request_url;
      delete copy.settings.socket_mode_enabled;
      return copy;
    };
    expect(withoutUrls(socket)).toEqual(withoutUrls(http));
  });
});
