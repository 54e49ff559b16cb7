import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { ConfigError, errorMessage } from "../lib/errors.ts";
import { isValidChannelName } from "../incident/channel-name.ts";

/**
 * The YAML file named by FIREBREAK_CONFIG: services, routing and actions.
 * Optional for now; each capability adds its section to this schema.
 */
export const fileConfigSchema = z
  .object({
    incidents: z
      .object({
        channelPrefix: z
          .string()
          .refine((value) => isValidChannelName(value) && value.length <= 20, "must be 1-20 lowercase letters, digits, - or _")
          .default("inc"),
        slashCommand: z.string().regex(/^\/[a-z0-9_-]+$/, "must look like /incident").default("/incident"),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type FileConfig = z.infer<typeof fileConfigSchema>;

export const DEFAULT_FILE_CONFIG: FileConfig = Object.freeze(fileConfigSchema.parse({}));

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
    raw = parse(text) ?? {};
  } catch (error) {
    throw new ConfigError([`${path} is not valid YAML: ${errorMessage(error)}`]);
  }
  const parsed = fileConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${path}: ${issue.path.join(".") || "(top level)"} ${issue.message}`));
  }
  return Object.freeze(parsed.data);
}
