import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { ConfigError, errorMessage } from "../lib/errors.ts";
import { isValidChannelName } from "../incident/channel-name.ts";

/**
 * The YAML file named by FIREBREAK_CONFIG: incidents, severities, services.
 * Every section is optional and has defaults; unknown keys are errors so a
 * typo never silently does nothing.
 */
const slackUserOrGroup = z
  .string()
  .regex(/^[UWS][A-Z0-9]{2,}$/, "must be a Slack user id (U...) or user group id (S...)");
const slackChannelId = z.string().regex(/^[CG][A-Z0-9]{2,}$/, "must be a Slack channel id such as C0123ABCD (channel details > About)");

const severityDefaults = z
  .object({
    /** Users or user groups invited to every incident of this severity. */
    notify: z.array(slackUserOrGroup).default([]),
    /** Where incidents of this severity are announced (falls back to incidents.announcementChannel). */
    announcementChannel: slackChannelId.optional(),
    /** How often the commander is expected to post a status update. */
    updateIntervalMinutes: z.number().int().min(1).max(7 * 24 * 60),
  })
  .strict();

const defaultIntervals = { SEV1: 15, SEV2: 30, SEV3: 60, SEV4: 240 } as const;

export const fileConfigSchema = z
  .object({
    incidents: z
      .object({
        channelPrefix: z
          .string()
          .refine((value) => isValidChannelName(value) && value.length <= 20, "must be 1-20 lowercase letters, digits, - or _")
          .default("inc"),
        slashCommand: z.string().regex(/^\/[a-z0-9_-]+$/, "must look like /incident").default("/incident"),
        /** May change severity, resolve, reopen and assign roles on any incident. */
        admins: z.array(slackUserOrGroup).default([]),
        announcementChannel: slackChannelId.optional(),
      })
      .strict()
      .prefault({}),
    severities: z
      .object({
        SEV1: severityDefaults.partial().strict().prefault({}),
        SEV2: severityDefaults.partial().strict().prefault({}),
        SEV3: severityDefaults.partial().strict().prefault({}),
        SEV4: severityDefaults.partial().strict().prefault({}),
      })
      .strict()
      .prefault({}),
    services: z
      .array(
        z
          .object({
            key: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "must be lowercase letters, digits, - or _"),
            name: z.string().min(1).max(75),
            owners: z.array(slackUserOrGroup).default([]),
          })
          .strict(),
      )
      .max(100, "at most 100 services (Slack menus show 100 options)")
      .default([])
      .refine((services) => new Set(services.map((service) => service.key)).size === services.length, "service keys must be unique"),
  })
  .strict();

type RawFileConfig = z.infer<typeof fileConfigSchema>;
export type SeverityKey = keyof typeof defaultIntervals;

export interface SeveritySettings {
  readonly notify: readonly string[];
  readonly announcementChannel: string | undefined;
  readonly updateIntervalMinutes: number;
}

export interface FileConfig {
  readonly incidents: RawFileConfig["incidents"];
  readonly severities: Readonly<Record<SeverityKey, SeveritySettings>>;
  readonly services: RawFileConfig["services"];
}

function resolve(raw: RawFileConfig): FileConfig {
  const severities = {} as Record<SeverityKey, SeveritySettings>;
  for (const key of Object.keys(defaultIntervals) as SeverityKey[]) {
    const given = raw.severities[key];
    severities[key] = Object.freeze({
      notify: Object.freeze([...(given.notify ?? [])]),
      announcementChannel: given.announcementChannel ?? raw.incidents.announcementChannel,
      updateIntervalMinutes: given.updateIntervalMinutes ?? defaultIntervals[key],
    });
  }
  return deepFreeze({ incidents: raw.incidents, severities, services: raw.services });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

export function parseFileConfig(raw: unknown, source = "configuration"): FileConfig {
  const parsed = fileConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${source}: ${issue.path.join(".") || "(top level)"} ${issue.message}`));
  }
  return resolve(parsed.data);
}

export const DEFAULT_FILE_CONFIG: FileConfig = parseFileConfig({});

export async function loadFileConfig(path: string | undefined): Promise<FileConfig> {
  if (!path) return DEFAULT_FILE_CONFIG;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError([`FIREBREAK_CONFIG points to ${path}, which cannot be read (${errorMessage(error)}). Fix the path or unset it.`]);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new ConfigError([`${path} is not valid YAML: ${errorMessage(error)}`]);
  }
  return parseFileConfig(raw, path);
}

