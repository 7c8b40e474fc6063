/** China Standard Time: the zone pages show times in (the portal's can be set per deployment). */
export const SERVICE_TIME_ZONE = 'Asia/Shanghai';

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/**
 * A moment as operators compare it across logs and offices: `2026-12-05 10:47:02 UTC+08:00`, the
 * same in every language, with the zone it is given in always written out.
 */
export function zonedTime(at: Date | number | string, timeZone: string): string {
  const parts = Object.fromEntries(formatFor(timeZone).formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  // `longOffset` writes GMT+08:00, or plain GMT at offset zero.
  const offset = parts.timeZoneName === 'GMT' ? '+00:00' : parts.timeZoneName!.slice(3);
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} UTC${offset}`;
}
