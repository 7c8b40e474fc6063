import { describe, expect, it } from 'vitest';
import { zonedTime } from '../../src/http/zoned-time.js';

describe('times with their zone', () => {
  const at = Date.UTC(2026, 11, 5, 2, 47, 2);

  it('writes a moment in the given zone, with the offset spelled out', () => {
    expect(zonedTime(at, 'Asia/Shanghai')).toBe('2026-12-05 10:47:02 UTC+08:00');
    expect(zonedTime(new Date(at), 'UTC')).toBe('2026-12-05 02:47:02 UTC+00:00');
    expect(zonedTime(new Date(at).toISOString(), 'America/New_York')).toBe('2026-12-04 21:47:02 UTC-05:00');
  });

  it('writes midnight as 00, not 24', () => {
    expect(zonedTime(Date.UTC(2026, 11, 4, 16, 0, 0), 'Asia/Shanghai')).toBe('2026-12-05 00:00:00 UTC+08:00');
  });
});
