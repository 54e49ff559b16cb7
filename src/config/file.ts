import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { ConfigError, errorMessage } from "../lib/errors.ts";
import { isValidChannelName } from "../slack/channel-name.ts";

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

const severityName = z.enum(["SEV1", "SEV2", "SEV3", "SEV4"], { error: "must be SEV1, SEV2, SEV3 or SEV4" });
const alertAction = z.enum(["declare", "triage", "record"], { error: "must be declare, triage or record" });
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "must be a Prometheus label name");
const labelRegex = z.string().refine((pattern) => {
  try {
    new RegExp(`^(?:${pattern})$`);
    return true;
  } catch {
    return false;
  }
}, "must be a valid regular expression");

const alertRoute = z
  .object({
    name: z.string().min(1).max(100),
    match: z.record(labelName, z.string()).default({}),
    matchRe: z.record(labelName, labelRegex).default({}),
    service: z.string().optional(),
    severity: severityName.optional(),
    action: alertAction.optional(),
    /** Resolve the incident by itself when all its alerts resolve. */
    autoResolve: z.boolean().default(false),
  })
  .strict();

const pagerDutyId = (what: string) => z.string().regex(/^P[A-Z0-9]{5,13}$/, `must be a PagerDuty ${what} id such as PABC123 (the last part of its URL)`);

const servicePaging = z
  .object({
    /** Events API v2 integration key of the PagerDuty service (Service > Integrations > Events API V2). */
    routingKey: z.string().regex(/^[A-Za-z0-9]{32}$/, "must be the 32-character Events API v2 integration key (Service > Integrations > Events API V2)"),
    /** Whose level-1 on-call leads the incident. */
    escalationPolicy: pagerDutyId("escalation policy").optional(),
  })
  .strict();

const pagingSchema = z
  .object({
    /** Declaring or escalating into these severities pages. */
    severities: z.array(severityName).default(["SEV1", "SEV2"]),
    /** Who leads a hand-declared incident: the on-call engineer, or whoever declared it (the on-call is invited either way). Alert-declared ones always get the on-call. */
    commander: z.enum(["oncall", "declarer"], { error: "must be oncall or declarer" }).default("oncall"),
    /** `/incident page @user`: the PagerDuty service on which a personal page is opened, and the PagerDuty user it is opened as when the requester has no PagerDuty account. */
    userPages: z
      .object({
        service: pagerDutyId("service"),
        from: z.email("must be the email address of a PagerDuty user").optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .prefault({});

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
    timeline: z
      .object({
        /** Reacting with this emoji to a message in an incident channel adds it to the timeline. */
        captureEmoji: z
          .string()
          .transform((value) => value.replace(/^:|:$/g, ""))
          .pipe(z.string().regex(/^[a-z0-9_+'-]{1,100}$/, "must be an emoji name such as pushpin (without colons)"))
          .default("pushpin"),
      })
      .strict()
      .prefault({}),
    alerts: z
      .object({
        /** Where non-declaring alerts are posted with a "Declare incident" button. */
        triageChannel: slackChannelId.optional(),
        /** An alert firing again this soon after its incident resolved reopens it. */
        reopenWindowMinutes: z.number().int().min(0).max(7 * 24 * 60).default(60),
        severityMap: z.record(z.string().min(1), severityName).optional(),
        defaultAction: alertAction.optional(),
        routes: z.array(alertRoute).default([]),
      })
      .strict()
      .optional(),
    paging: pagingSchema,
    remediation: z
      .object({
        /** Every action shows what it would call, and calls nothing. */
        dryRun: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    services: z
      .array(
        z
          .object({
            key: z.string().max(64, "must be at most 64 characters").regex(/^[a-z0-9][a-z0-9_-]*$/, "must be lowercase letters, digits, - or _"),
            name: z.string().min(1).max(75),
            owners: z.array(slackUserOrGroup).default([]),
            pagerduty: servicePaging.optional(),
            /** Remediation buttons: each action's own fields are checked by its kind when the remediation module starts. */
            actions: z.array(z.record(z.string(), z.unknown())).max(10, "at most 10 actions per service (they become buttons)").default([]),
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

export interface AlertSettings {
  readonly configured: boolean;
  readonly triageChannel: string | undefined;
  readonly reopenWindowMinutes: number;
  readonly severityMap: Readonly<Record<string, SeverityKey>>;
  readonly defaultAction: "declare" | "triage" | "record" | undefined;
  readonly routes: ReadonlyArray<{
    name: string;
    match: Readonly<Record<string, string>>;
    matchRe: Readonly<Record<string, string>>;
    service: string | undefined;
    severity: SeverityKey | undefined;
    action: "declare" | "triage" | "record" | undefined;
    autoResolve: boolean;
  }>;
}

export interface FileConfig {
  readonly incidents: RawFileConfig["incidents"];
  readonly severities: Readonly<Record<SeverityKey, SeveritySettings>>;
  readonly services: RawFileConfig["services"];
  readonly alerts: AlertSettings;
  readonly timeline: RawFileConfig["timeline"];
  readonly paging: RawFileConfig["paging"];
  readonly remediation: RawFileConfig["remediation"];
}

const DEFAULT_SEVERITY_MAP: Readonly<Record<string, SeverityKey>> = { critical: "SEV1", error: "SEV2", warning: "SEV3", info: "SEV4" };

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
  const alerts: AlertSettings = {
    configured: raw.alerts !== undefined,
    triageChannel: raw.alerts?.triageChannel,
    reopenWindowMinutes: raw.alerts?.reopenWindowMinutes ?? 60,
    severityMap: { ...DEFAULT_SEVERITY_MAP, ...(raw.alerts?.severityMap ?? {}) },
    defaultAction: raw.alerts?.defaultAction,
    routes: (raw.alerts?.routes ?? []).map((route) => ({
      name: route.name,
      match: route.match,
      matchRe: route.matchRe,
      service: route.service,
      severity: route.severity,
      action: route.action,
      autoResolve: route.autoResolve,
    })),
  };
  return deepFreeze({ incidents: raw.incidents, severities, services: raw.services, alerts, timeline: raw.timeline, paging: raw.paging, remediation: raw.remediation });
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

