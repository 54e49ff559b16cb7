import { tz } from "@date-fns/tz";
import { format } from "date-fns";
import type { Stamp } from "./models.ts";

/** True when `timeZone` is an IANA zone (or offset) this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  if (timeZone.trim() === "") return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

export interface Clock {
  readonly timeZone: string;
  /** "2026-11-22 10:05 UTC (11:05 CET)" and its parts. */
  stamp(date: Date): Stamp;
  /** "2026-11-22", the UTC calendar date (action item due dates are stored at UTC midnight). */
  day(date: Date): string;
  /** "10.05" in UTC, or "11-22 10.05" when `withDay` (Mermaid periods cannot contain ":"). */
  period(date: Date, withDay: boolean): string;
}

const UTC_ZONES = new Set(["UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"]);

/**
 * Formats times with date-fns in UTC and in `timeZone`. Memoised per minute
 * (the displayed precision): a long incident's thousands of events share a few
 * hundred distinct minutes, and the time-zone conversion is the costly part.
 * The cache lives in the clock, so each generation stays a pure function.
 */
export function createClock(timeZone: string): Clock {
  if (!isValidTimeZone(timeZone)) throw new RangeError(`Unknown time zone "${timeZone}": use an IANA name such as "Europe/Paris".`);
  const inUtc = tz("UTC");
  const inZone = tz(timeZone);
  const isUtc = UTC_ZONES.has(timeZone);
  const stamps = new Map<number, Stamp>();
  const shortUs = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "short" });
  const shortGb = new Intl.DateTimeFormat("en-GB", { timeZone, timeZoneName: "short" });

  /** "CET", "EST"; "UTC+05:30" where the runtime only knows a "GMT+5:30" style name. */
  function zoneName(date: Date): string {
    for (const formatter of [shortUs, shortGb]) {
      const name = formatter.formatToParts(date).find((part) => part.type === "timeZoneName")?.value ?? "";
      if (name !== "" && !name.startsWith("GMT")) return name;
    }
    const offset = format(date, "xxx", { in: inZone });
    return offset === "+00:00" ? "UTC" : `UTC${offset}`;
  }

  return {
    timeZone,
    stamp(date: Date): Stamp {
      const minute = Math.floor(date.getTime() / 60_000);
      const cached = stamps.get(minute);
      if (cached) return { ...cached, iso: date.toISOString() };
      const utcDay = format(date, "yyyy-MM-dd", { in: inUtc });
      const utc = `${utcDay} ${format(date, "HH:mm", { in: inUtc })} UTC`;
      let local: string | null = null;
      if (!isUtc) {
        const localDay = format(date, "yyyy-MM-dd", { in: inZone });
        const time = format(date, "HH:mm", { in: inZone });
        local = `${localDay === utcDay ? "" : `${localDay} `}${time} ${zoneName(date)}`;
      }
      const stamp: Stamp = { iso: date.toISOString(), utc, local, display: local === null ? utc : `${utc} (${local})` };
      stamps.set(minute, stamp);
      return stamp;
    },
    day(date: Date): string {
      return format(date, "yyyy-MM-dd", { in: inUtc });
    },
    period(date: Date, withDay: boolean): string {
      return format(date, withDay ? "MM-dd HH.mm" : "HH.mm", { in: inUtc });
    },
  };
}
