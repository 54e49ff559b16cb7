import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";

const manifestSchema = z.object({
  display_information: z.object({ name: z.string().min(1) }),
  features: z.object({
    bot_user: z.object({ display_name: z.string().min(1) }),
    slash_commands: z.array(z.object({ command: z.string(), url: z.url(), description: z.string(), usage_hint: z.string().optional() })).min(1),
  }),
  oauth_config: z.object({ scopes: z.object({ bot: z.array(z.string()).min(1) }) }),
  settings: z.object({
    interactivity: z.object({ is_enabled: z.boolean(), request_url: z.url() }),
    event_subscriptions: z.object({ request_url: z.url(), bot_events: z.array(z.string()) }),
    socket_mode_enabled: z.boolean(),
  }),
});

export type SlackManifest = z.infer<typeof manifestSchema>;

export function loadManifest(path = "manifest.yml"): SlackManifest {
  return manifestSchema.parse(parse(readFileSync(path, "utf8")));
}
