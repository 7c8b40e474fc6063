/**
 * The dashboard's pure parts: the time windows (clock hours, China Standard Time days), sparse
 * SQL rows made dense, the count axis, and the bars' geometry.
 */
import { describe, expect, it } from 'vitest';
import { bucketStarts, DAY_MS, denseSeries, HOUR_MS, last24Hours, last7Days } from '../../src/admin/dashboard-windows.js';
import { barRows, horizontalBars, niceScale, stackedColumns, stackedColumnSegments, yOf } from '../../src/admin/console/svg-chart.js';

describe('dashboard windows', () => {
  it('takes the 24 clock hours ending with the current one', () => {
    const now = Date.parse('2026-12-05T03:41:07.123Z');
    const w = last24Hours(now);
    expect(new Date(w.from).toISOString()).toBe('2026-12-04T04:00:00.000Z');
    expect(new Date(w.to).toISOString()).toBe('2026-12-05T04:00:00.000Z');
    expect(w).toMatchObject({ bucketMs: HOUR_MS, buckets: 24 });
    expect(bucketStarts(w)).toHaveLength(24);
    expect(bucketStarts(w).at(-1)).toBe(Date.parse('2026-12-05T03:00:00Z'));
  });

  it('counts 7 calendar days in China Standard Time, today included, whatever the UTC date', () => {
    // 17:30 UTC on 4 December is already 01:30 on 5 December in Beijing.
    const w = last7Days(Date.parse('2026-12-04T17:30:00Z'));
    expect(new Date(w.from).toISOString()).toBe('2026-11-28T16:00:00.000Z'); // 29 Nov, 00:00 CST
    expect(new Date(w.to).toISOString()).toBe('2026-12-05T16:00:00.000Z'); // 6 Dec, 00:00 CST
    expect(w).toMatchObject({ bucketMs: DAY_MS, buckets: 7 });
    // 15:59 UTC is still the same Beijing day as 16:00 UTC the day before.
    expect(last7Days(Date.parse('2026-12-05T15:59:59Z')).from).toBe(w.from);
    expect(last7Days(Date.parse('2026-12-05T16:00:00Z')).from).toBe(w.from + DAY_MS);
  });

  it('makes sparse rows dense: every key gets a series of zeros, rows add to their bucket, rows outside are dropped', () => {
    const w = last24Hours(Date.parse('2026-12-05T03:00:00Z'));
    const rows = [
      { bucket: 0, n: 2, key: 'web' },
      { bucket: 0, n: 3, key: 'web' },
      { bucket: 23, n: 1, key: 'kiosk' },
      { bucket: 24, n: 9, key: 'web' },
      { bucket: -1, n: 9, key: 'web' },
      { bucket: 5, n: 7, key: undefined },
    ];
    const s = denseSeries(w, rows, ['web', 'mobile', 'kiosk'], (r) => r.key);
    expect(s.web![0]).toBe(5);
    expect(s.web!.reduce((a, b) => a + b)).toBe(5);
    expect(s.mobile).toEqual(new Array(24).fill(0));
    expect(s.kiosk![23]).toBe(1);
    expect(Object.keys(s)).toEqual(['web', 'mobile', 'kiosk']);
  });
});

describe('SVG charts', () => {
  it('puts the axis top on a round number at or above the largest count, with whole steps', () => {
    expect(niceScale(0)).toEqual({ max: 1, ticks: [0, 1] });
    expect(niceScale(1)).toEqual({ max: 1, ticks: [0, 1] });
    expect(niceScale(3)).toEqual({ max: 3, ticks: [0, 1, 2, 3] });
    expect(niceScale(7)).toEqual({ max: 8, ticks: [0, 2, 4, 6, 8] });
    expect(niceScale(10)).toEqual({ max: 10, ticks: [0, 5, 10] });
    expect(niceScale(37)).toEqual({ max: 40, ticks: [0, 10, 20, 30, 40] });
    expect(niceScale(1234).max).toBe(1500);
    for (const n of [1, 2, 5, 9, 11, 99, 101, 4999, 123_456]) {
      const s = niceScale(n);
      expect(s.max).toBeGreaterThanOrEqual(n);
      expect(s.ticks.length).toBeGreaterThanOrEqual(2);
      expect(s.ticks.length).toBeLessThanOrEqual(7);
      expect(s.ticks.every(Number.isInteger)).toBe(true);
    }
  });

  it('stacks columns bottom-up in proportion to the scale, skipping zeros', () => {
    const plot = { left: 10, top: 0, width: 100, height: 200 };
    const scale = niceScale(10); // max 10
    const segments = stackedColumnSegments([[2, 0, 5], [3, 0, 5]], scale, plot);
    expect(segments.map((s) => [s.column, s.series, s.value])).toEqual([[0, 0, 2], [0, 1, 3], [2, 0, 5], [2, 1, 5]]);
    const [a, b, , d] = segments;
    expect(a!.height).toBeCloseTo(40);
    expect(a!.y + a!.height).toBeCloseTo(200); // sits on the axis
    expect(b!.y + b!.height).toBeCloseTo(a!.y); // touches the one below
    expect(d!.y).toBeCloseTo(0); // a full column reaches the top
    expect(a!.x).toBeGreaterThanOrEqual(10);
    expect(d!.x + d!.width).toBeLessThanOrEqual(110);
    expect(yOf(5, scale, plot)).toBe(100);
  });

  it('draws horizontal bars as long as their share of the axis', () => {
    const bars = barRows([10, 5, 0], niceScale(10), { left: 0, top: 0, width: 300, height: 90 });
    expect(bars.map((b) => b.width)).toEqual([300, 150, 0]);
    expect(bars[1]!.y).toBeGreaterThan(bars[0]!.y + bars[0]!.height);
  });

  it('renders an accessible image: role img, named by its title and described by its desc, text escaped', () => {
    const svg = String(stackedColumns({ id: 'c1', title: 'Sign-ins <per hour>', desc: '3 & more', labels: ['00:00', '01:00'], series: [{ label: 'Web', color: '#1e40af', values: [1, 2] }] }));
    expect(svg).toMatch(/^<svg class="chart" id="c1" role="img" aria-labelledby="c1-title c1-desc"/);
    expect(svg).toContain('<title id="c1-title">Sign-ins &lt;per hour&gt;</title><desc id="c1-desc">3 &amp; more</desc>');
    expect(svg.match(/<rect /g)).toHaveLength(2);
    const bars = String(horizontalBars({ id: 'c2', title: 't', desc: 'd', rows: [{ label: '<script>', value: 4 }], color: '#000' }));
    expect(bars).not.toContain('<script>');
    expect(bars).toContain('&lt;script&gt;');
  });
});
