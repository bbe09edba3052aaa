import { z } from 'zod';
import type { NativeTool } from '../tools.js';

const input = z.object({
  timezone: z.string().min(1).optional().describe("IANA time zone, e.g. 'Europe/Paris' (default: the server's)"),
});

/** The wall-clock parts of `date` in `timeZone`, and that zone's UTC offset (+hh:mm) at that moment. */
function zonedParts(date: Date, timeZone: string) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    weekday: 'long',
    timeZoneName: 'longOffset',
  }).formatToParts(date);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  // "GMT+05:30", "GMT-08:00", or plain "GMT" for UTC.
  const offset = part('timeZoneName').replace(/^GMT/, '') || '+00:00';
  return { date: `${part('year')}-${part('month')}-${part('day')}`, time: `${part('hour')}:${part('minute')}:${part('second')}`, offset, weekday: part('weekday') };
}

export const getCurrentDatetimeTool: NativeTool = {
  name: 'get_current_datetime',
  domain: 'system',
  description: 'Get the current date and time (ISO 8601 with the UTC offset, weekday, Unix seconds), in a given IANA time zone.',
  defaultDisabled: false,
  input,
  async execute({ timezone }: z.output<typeof input>) {
    const timeZone = timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
    const now = new Date();
    let parts: ReturnType<typeof zonedParts>;
    try {
      parts = zonedParts(now, timeZone);
    } catch {
      return { error: `Unknown time zone "${timeZone}": use an IANA name such as "Europe/Paris" or "UTC"` };
    }
    return {
      iso: `${parts.date}T${parts.time}${parts.offset}`,
      timezone: timeZone,
      weekday: parts.weekday,
      unix: Math.floor(now.getTime() / 1000),
    };
  },
};
