/**
 * Pure schedule logic for the keep-warm cron: is `date` inside the configured business
 * hours (days of week + HH:MM window, in a time zone)? No timers here; cron/keepWarm.ts owns
 * the clock. Windows may wrap midnight ("22:00-02:00").
 */
export interface BusinessHours {
  /** 0 = Sunday ... 6 = Saturday. */
  days: Set<number>;
  startMin: number;
  endMin: number;
  timeZone: string;
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function hhmm(s: string): number {
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(s.trim());
  if (!m) throw new Error(`bad time ${JSON.stringify(s)}: expected HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** "1-5" / "0,6" / "*" -> days (0 = Sunday). */
export function parseDays(days: string): Set<number> {
  const set = new Set<number>();
  for (const part of days.split(",").map((p) => p.trim()).filter(Boolean)) {
    if (part === "*") for (let d = 0; d < 7; d++) set.add(d);
    else if (/^\d-\d$/.test(part)) {
      const [a, b] = part.split("-").map(Number) as [number, number];
      if (a > 6 || b > 6 || a > b) throw new Error(`bad day range ${part}`);
      for (let d = a; d <= b; d++) set.add(d);
    } else if (/^\d$/.test(part) && Number(part) <= 6) set.add(Number(part));
    else throw new Error(`bad day ${JSON.stringify(part)}: use 0-6 (Sunday = 0), ranges or *`);
  }
  return set;
}

/** "08:00-20:00" -> minutes; exactly two times, not equal ("08:00-08:00" would be an empty window). */
export function parseWindow(hours: string): { startMin: number; endMin: number } {
  const parts = hours.split("-");
  if (parts.length !== 2) throw new Error(`bad hours ${JSON.stringify(hours)}: expected HH:MM-HH:MM`);
  const [startMin, endMin] = parts.map(hhmm) as [number, number];
  if (startMin === endMin) throw new Error(`bad hours ${JSON.stringify(hours)}: the window is empty`);
  return { startMin, endMin };
}

/** Throws RangeError on a zone Intl does not know. */
export function checkTimeZone(timeZone: string): string {
  new Intl.DateTimeFormat("en-US", { timeZone });
  return timeZone;
}

export function parseBusinessHours(days: string, hours: string, timeZone = "UTC"): BusinessHours {
  return { days: parseDays(days), ...parseWindow(hours), timeZone: checkTimeZone(timeZone) };
}

function localParts(date: Date, timeZone: string): { day: number; minute: number } {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(date);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  return { day: WEEKDAYS[get("weekday")] ?? -1, minute: Number(get("hour")) * 60 + Number(get("minute")) };
}

export function inBusinessHours(date: Date, bh: BusinessHours): boolean {
  const { day, minute } = localParts(date, bh.timeZone);
  if (bh.startMin <= bh.endMin) return bh.days.has(day) && minute >= bh.startMin && minute < bh.endMin;
  // Wraps midnight: the part after midnight belongs to the previous day's window.
  if (minute >= bh.startMin) return bh.days.has(day);
  if (minute < bh.endMin) return bh.days.has((day + 6) % 7);
  return false;
}
