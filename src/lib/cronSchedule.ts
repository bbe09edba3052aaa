import { CronExpressionParser } from 'cron-parser';

/**
 * Cron schedules (tasks-crons-webhooks.md §2): a cron expression, or a one-shot ISO datetime.
 *
 * The spec names croner's syntax; agenda evaluates expressions with cron-parser, so that is what
 * validates them here: whatever passes will run. That covers 5 fields, or 6 with leading
 * seconds, ranges, steps, lists, names, `L`, `#`, `?` and the `@yearly … @hourly` nicknames;
 * croner's `W` (nearest weekday) is refused with cron-parser's reason.
 *
 * Every schedule has a time zone: the cron's own (an IANA name), else the server's.
 */

export type Schedule = { kind: 'cron'; expression: string; timezone: string } | { kind: 'once'; at: Date };

/** Why a schedule is refused; the caller wraps it as `Invalid schedule: "<schedule>" — <reason>`. */
export class ScheduleError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ScheduleError';
  }
}

export const serverTimezone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/** The canonical name of an IANA time zone (`europe/paris` → `Europe/Paris`), or null if unknown. */
export function canonicalTimezone(name: string): string | null {
  if (!IANA_NAME.test(name)) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

const ISO_DATE_PREFIX = /^\d{4}-\d{2}-\d{2}/;
/** Date, optional time (seconds, fraction), optional `Z` or offset. */
const ISO_DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** How far `timezone`'s wall clock is ahead of UTC at `instant`, in ms. */
function offsetAt(instant: number, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
  return wall - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant an ISO datetime names. With `Z` or an offset it is exact; without one it is a
 * wall-clock time in `timezone` (a date alone is its midnight), not JavaScript's mix of UTC for
 * dates and local time for date-times.
 */
function parseDatetime(text: string, timezone: string): Date | null {
  const match = ISO_DATETIME.exec(text);
  if (!match) return null;
  const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((value) => Number(value ?? 0));
  const millis = Number((match[7] ?? '0').padEnd(3, '0'));
  const wall = Date.UTC(year!, month! - 1, day!, hour, minute, second, millis);
  const check = new Date(wall);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month! - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  const offset = match[8];
  if (offset) {
    if (offset.toUpperCase() === 'Z') return new Date(wall);
    const [, sign, hours, minutes = '00'] = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset)!;
    return new Date(wall - (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000);
  }
  // Two passes settle the offset across a DST change.
  let instant = wall - offsetAt(wall, timezone);
  instant = wall - offsetAt(instant, timezone);
  return new Date(instant);
}

/**
 * Parses and checks a new schedule; throws ScheduleError with the reason. A one-shot datetime
 * must be in the future at `now`.
 */
export function validateSchedule(text: string, timezone: string, now: Date): Schedule {
  const schedule = readSchedule(text, timezone, now);
  if (schedule.kind === 'once' && schedule.at.getTime() <= now.getTime()) throw new ScheduleError('Datetime must be in the future');
  return schedule;
}

/** Parses a schedule (an accepted one-shot may be past by now); throws ScheduleError with the reason. */
export function readSchedule(text: string, timezone: string, now = new Date()): Schedule {
  const schedule = text.trim();
  if (!schedule) throw new ScheduleError('Schedule is empty');
  if (ISO_DATE_PREFIX.test(schedule)) {
    const at = parseDatetime(schedule, timezone);
    if (!at) throw new ScheduleError('Not a valid datetime');
    return { kind: 'once', at };
  }
  if (!schedule.startsWith('@')) {
    const fields = schedule.split(/\s+/).length;
    if (fields !== 5 && fields !== 6) throw new ScheduleError(`Expected 5 fields (or 6 with seconds), got ${fields}`);
  }
  try {
    // An expression that can never fire (30 February) fails here too.
    CronExpressionParser.parse(schedule, { currentDate: now, tz: timezone }).next();
  } catch (error) {
    throw new ScheduleError(error instanceof Error ? error.message : String(error));
  }
  return { kind: 'cron', expression: schedule, timezone };
}

/**
 * The slot a run at `runAt` belongs to: the latest instant of the schedule not after `runAt`.
 * agenda starts a run at or after its scheduled time, and computes the next one from the run's
 * start, so successive runs of a schedule have distinct slots; a run that was missed while the
 * server was down belongs to the latest slot it missed.
 */
export function slotOf(schedule: Schedule, runAt: Date): Date {
  if (schedule.kind === 'once') return schedule.at;
  const parsed = CronExpressionParser.parse(schedule.expression, { currentDate: new Date(runAt.getTime() + 1), tz: schedule.timezone });
  return parsed.prev().toDate();
}
