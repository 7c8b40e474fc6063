import { html, type SafeHtml } from '../../http/html.js';

/**
 * Bar charts as server-rendered SVG: no script, no client-side library. Each is one image to
 * assistive technology (role="img", named by its <title> and described by its <desc>); the page
 * puts the same figures in a table beside it. The geometry is pure, so it is unit-tested.
 */

export interface Scale {
  /** The axis top: a round number at or above the largest value (1 at least). */
  max: number;
  /** Gridlines from 0 to `max`, evenly spaced by a step of 1, 2 or 5 times a power of ten. */
  ticks: number[];
}

/** A count axis for values up to `largest`, with about `target` steps; counts are whole, so steps are too. */
export function niceScale(largest: number, target = 4): Scale {
  if (!(largest > 0)) return { max: 1, ticks: [0, 1] };
  const rough = largest / target;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, ([1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power));
  const max = Math.ceil(largest / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= max; t += step) ticks.push(t);
  return { max, ticks };
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Plot {
  /** Left edge of the bars (room for the axis labels before it). */
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Segment extends Box {
  column: number;
  series: number;
  value: number;
}

/**
 * Stacked columns: column i holds series[s][i] stacked bottom-up in series order. Zero values get no
 * segment; each segment's height is its share of the scale, so segments of a column touch.
 */
export function stackedColumnSegments(series: readonly (readonly number[])[], scale: Scale, plot: Plot): Segment[] {
  const columns = Math.max(0, ...series.map((s) => s.length));
  if (columns === 0) return [];
  const slot = plot.width / columns;
  const width = slot * 0.7;
  const out: Segment[] = [];
  for (let c = 0; c < columns; c++) {
    let base = plot.top + plot.height;
    series.forEach((values, s) => {
      const value = values[c] ?? 0;
      if (value <= 0) return;
      const height = (value / scale.max) * plot.height;
      base -= height;
      out.push({ column: c, series: s, value, x: plot.left + c * slot + (slot - width) / 2, y: base, width, height });
    });
  }
  return out;
}

/** Horizontal bars, one per value, top to bottom. */
export function barRows(values: readonly number[], scale: Scale, plot: Plot): Box[] {
  const slot = values.length ? plot.height / values.length : 0;
  return values.map((v, i) => ({ x: plot.left, y: plot.top + i * slot + slot * 0.15, width: (Math.max(0, v) / scale.max) * plot.width, height: slot * 0.7 }));
}

/** The y of a count on a vertical axis. */
export const yOf = (value: number, scale: Scale, plot: Plot) => plot.top + plot.height - (value / scale.max) * plot.height;

const r1 = (n: number) => Math.round(n * 10) / 10;
const rect = (b: Box, fill: string) => html`<rect x="${r1(b.x)}" y="${r1(b.y)}" width="${r1(b.width)}" height="${r1(b.height)}" fill="${fill}"></rect>`;

export interface ChartSeries {
  label: string;
  color: string;
  values: readonly number[];
}

interface Named {
  /** Unique on the page: the <title> and <desc> ids derive from it. */
  id: string;
  title: string;
  desc: string;
}

const frame = (c: Named, width: number, height: number, body: SafeHtml) =>
  html`<svg class="chart" id="${c.id}" role="img" aria-labelledby="${c.id}-title ${c.id}-desc" viewBox="0 0 ${width} ${height}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title id="${c.id}-title">${c.title}</title><desc id="${c.id}-desc">${c.desc}</desc>${body}</svg>`;

/** The legend, as page text (the SVG's own text is not read out). Swatches are SVG: the pages' CSP allows no style attributes. */
export const legend = (series: readonly ChartSeries[]) =>
  html`<ul class="legend">${series.map((s) => html`<li><svg class="swatch" width="14" height="14" aria-hidden="true" focusable="false"><rect width="14" height="14" fill="${s.color}"></rect></svg>${s.label}</li>`)}</ul>`;

/** Columns over labelled slots (hours, days), the series stacked; every `labelEvery`th slot is labelled. */
export function stackedColumns(c: Named & { labels: readonly string[]; series: readonly ChartSeries[]; labelEvery?: number }): SafeHtml {
  const W = 720;
  const H = 260;
  const plot: Plot = { left: 44, top: 12, width: W - 56, height: H - 48 };
  const totals = c.labels.map((_, i) => c.series.reduce((a, s) => a + (s.values[i] ?? 0), 0));
  const scale = niceScale(Math.max(0, ...totals));
  const slot = plot.width / Math.max(1, c.labels.length);
  const every = c.labelEvery ?? 1;
  const grid = scale.ticks.map((t) => {
    const y = r1(yOf(t, scale, plot));
    return html`<line x1="${plot.left}" x2="${plot.left + plot.width}" y1="${y}" y2="${y}" stroke="#d1d5db"></line><text x="${plot.left - 6}" y="${y + 4}" text-anchor="end">${t}</text>`;
  });
  const bars = stackedColumnSegments(c.series.map((s) => s.values), scale, plot).map((s) => rect(s, c.series[s.series]!.color));
  const labels = c.labels.map((l, i) => (i % every === 0 ? html`<text x="${r1(plot.left + i * slot + slot / 2)}" y="${H - 18}" text-anchor="middle">${l}</text>` : ''));
  return frame(c, W, H, html`<g font-size="12" fill="#374151">${grid}${labels}</g>${bars}`);
}

/** One horizontal bar per row, labelled with its name and count. */
export function horizontalBars(c: Named & { rows: readonly { label: string; value: number }[]; color: string }): SafeHtml {
  const W = 720;
  const rowHeight = 28;
  const H = Math.max(1, c.rows.length) * rowHeight + 8;
  const plot: Plot = { left: 220, top: 4, width: W - 290, height: c.rows.length * rowHeight };
  const scale = niceScale(Math.max(0, ...c.rows.map((r) => r.value)));
  const boxes = barRows(c.rows.map((r) => r.value), scale, plot);
  const body = c.rows.map((r, i) => {
    const b = boxes[i]!;
    const mid = r1(b.y + b.height / 2 + 4);
    const name = r.label.length > 24 ? `${r.label.slice(0, 23)}…` : r.label;
    return html`<text x="${plot.left - 8}" y="${mid}" text-anchor="end">${name}</text>${rect(b, c.color)}<text x="${r1(b.x + b.width + 6)}" y="${mid}">${r.value}</text>`;
  });
  return frame(c, W, H, html`<g font-size="13" fill="#374151">${body}</g>`);
}
