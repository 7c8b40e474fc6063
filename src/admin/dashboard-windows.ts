/**
 * The dashboard's time windows and series, pure. Hours are clock hours; days are calendar days in
 * China Standard Time (UTC+8 all year, so every day is 24 hours and every clock hour is a UTC hour).
 */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
const CST_OFFSET_MS = 8 * HOUR_MS;

export interface Window {
  /** Epoch ms, inclusive: the first bucket's start. */
  from: number;
  /** Epoch ms, exclusive: the end of the bucket that holds `now`. */
  to: number;
  bucketMs: number;
  buckets: number;
}

/** The 24 clock hours ending with the current one (so up to 24 h, the current hour in part). */
export function last24Hours(now: number): Window {
  const hour = now - (now % HOUR_MS);
  return { from: hour - 23 * HOUR_MS, to: hour + HOUR_MS, bucketMs: HOUR_MS, buckets: 24 };
}

/** Today and the 6 days before it, in China Standard Time. */
export function last7Days(now: number): Window {
  const today = Math.floor((now + CST_OFFSET_MS) / DAY_MS) * DAY_MS - CST_OFFSET_MS;
  return { from: today - 6 * DAY_MS, to: today + DAY_MS, bucketMs: DAY_MS, buckets: 7 };
}

/** Each bucket's start, oldest first. */
export const bucketStarts = (w: Window): number[] => Array.from({ length: w.buckets }, (_, i) => w.from + i * w.bucketMs);

/**
 * Sparse counts (only buckets that had events) as one dense series per key: `keyOf` names the
 * series a row adds to (undefined: none). Every key in `keys` gets a series, zeros included; rows
 * outside the window are ignored.
 */
export function denseSeries<R extends { bucket: number; n: number }>(w: Window, rows: readonly R[], keys: readonly string[], keyOf: (r: R) => string | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, new Array<number>(w.buckets).fill(0)]));
  for (const r of rows) {
    const key = keyOf(r);
    if (key === undefined || r.bucket < 0 || r.bucket >= w.buckets) continue;
    (out[key] ??= new Array<number>(w.buckets).fill(0))[r.bucket]! += r.n;
  }
  return out;
}

export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
