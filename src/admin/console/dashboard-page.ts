import { html, type SafeHtml } from '../../http/html.js';
import { DASHBOARD_CHANNELS, type ChannelKey, type Dashboard, type Totals } from '../dashboard-service.js';
import { sum } from '../dashboard-windows.js';
import type { PageFrame } from './layout.js';
import { horizontalBars, legend, stackedColumns, type ChartSeries } from './svg-chart.js';

const TZ = 'Asia/Shanghai';
const COLORS: Record<ChannelKey, string> = { web: '#1e40af', mobile: '#b45309', kiosk: '#047857', counter: '#7c3aed', other: '#4b5563' };
const KIND_COLORS = { failures: '#b91c1c', lockedAttempts: '#d97706', lockouts: '#4c0519' } as const;

/** The channels to show: the four, and `other` only when it has events (an older or unknown channel). */
const shownChannels = (d: Dashboard): ChannelKey[] => [...DASHBOARD_CHANNELS, ...(d.totals.week.signIns.other > 0 ? (['other'] as const) : [])];

const number = (f: PageFrame, n: number) => new Intl.NumberFormat(f.locale).format(n);

/** A <details> with the chart's figures as a table; `data-figure` names each cell for tests and scrapers. */
function figuresTable(f: PageFrame, caption: string, head: string[], rows: { label: string; cells: { value: number; key: string }[] }[]): SafeHtml {
  return html`<details><summary>${f.t.dash.showTable}</summary><table><caption>${caption}</caption>
<thead><tr>${head.map((h, i) => html`<th scope="col"${i ? html` class="num"` : ''}>${h}</th>`)}</tr></thead>
<tbody>${rows.map((r) => html`<tr><th scope="row">${r.label}</th>${r.cells.map((c) => html`<td data-figure="${c.key}">${number(f, c.value)}</td>`)}</tr>`)}</tbody></table></details>`;
}

function totalsTable(f: PageFrame, d: Dashboard): SafeHtml {
  const { t } = f;
  const channels = shownChannels(d);
  const row = (label: string, key: string, pick: (x: Totals) => number, sub = false) =>
    html`<tr${sub ? html` class="sub"` : ''}><th scope="row">${label}</th><td data-figure="day.${key}">${number(f, pick(d.totals.day))}</td><td data-figure="week.${key}">${number(f, pick(d.totals.week))}</td></tr>`;
  return html`<table data-totals><caption>${t.dash.totalsCaption}</caption>
<thead><tr><th scope="col">${t.dash.event}</th><th scope="col" class="num">${t.dash.last24h}</th><th scope="col" class="num">${t.dash.last7d}</th></tr></thead>
<tbody>${row(t.dash.signIns, 'signIns', (x) => x.signInsTotal)}
${channels.map((c) => row(t.dash.viaChannel(t.channels[c] ?? t.dash.otherChannel), `signIns.${c}`, (x) => x.signIns[c], true))}
${row(t.dash.failures, 'failures', (x) => x.failures)}
${row(t.dash.lockedAttempts, 'lockedAttempts', (x) => x.lockedAttempts)}
${row(t.dash.lockouts, 'lockouts', (x) => x.lockouts)}</tbody></table>`;
}

function hourlyChart(f: PageFrame, d: Dashboard): SafeHtml {
  const { t } = f;
  const hour = new Intl.DateTimeFormat(f.locale, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: TZ });
  const labels = d.hours.starts.map((s) => hour.format(s));
  const channels = shownChannels(d);
  const series: ChartSeries[] = channels.map((c) => ({ label: t.channels[c] ?? t.dash.otherChannel, color: COLORS[c], values: d.hours.signIns[c] }));
  const totals = labels.map((_, i) => sum(channels.map((c) => d.hours.signIns[c][i]!)));
  const peak = totals.indexOf(Math.max(...totals));
  const desc = t.dash.hourlyDesc(
    d.totals.day.signInsTotal,
    channels.map((c) => `${t.channels[c] ?? t.dash.otherChannel} ${d.totals.day.signIns[c]}`).join(t.dash.listSeparator),
    totals[peak]! > 0 ? { hour: labels[peak]!, count: totals[peak]! } : undefined,
  );
  return html`<section aria-labelledby="dash-hourly-h"><h2 id="dash-hourly-h">${t.dash.hourlyTitle}</h2>
${stackedColumns({ id: 'dash-hourly', title: t.dash.hourlyTitle, desc, labels, series, labelEvery: 3 })}
${legend(series)}
${figuresTable(f, t.dash.hourlyTitle, [t.dash.hour, ...series.map((s) => s.label), t.dash.total], labels.map((label, i) => ({
    label,
    cells: [...channels.map((c) => ({ value: d.hours.signIns[c][i]!, key: `hour.${i}.${c}` })), { value: totals[i]!, key: `hour.${i}.total` }],
  })))}</section>`;
}

function dailyChart(f: PageFrame, d: Dashboard): SafeHtml {
  const { t } = f;
  const day = new Intl.DateTimeFormat(f.locale, { month: 'numeric', day: 'numeric', weekday: 'short', timeZone: TZ });
  const labels = d.days.starts.map((s) => day.format(s));
  const kinds = [
    { key: 'failures', label: t.dash.failures, values: d.days.failures },
    { key: 'lockedAttempts', label: t.dash.lockedAttempts, values: d.days.lockedAttempts },
    { key: 'lockouts', label: t.dash.lockouts, values: d.days.lockouts },
  ] as const;
  const series: ChartSeries[] = kinds.map((k) => ({ label: k.label, color: KIND_COLORS[k.key], values: k.values }));
  const desc = t.dash.dailyDesc(d.totals.week.failures, d.totals.week.lockedAttempts, d.totals.week.lockouts);
  return html`<section aria-labelledby="dash-daily-h"><h2 id="dash-daily-h">${t.dash.dailyTitle}</h2>
${stackedColumns({ id: 'dash-daily', title: t.dash.dailyTitle, desc, labels, series })}
${legend(series)}
${figuresTable(f, t.dash.dailyTitle, [t.dash.day, t.dash.signIns, ...kinds.map((k) => k.label)], labels.map((label, i) => ({
    label,
    cells: [{ value: d.days.signIns[i]!, key: `day.${i}.signIns` }, ...kinds.map((k) => ({ value: k.values[i]!, key: `day.${i}.${k.key}` }))],
  })))}</section>`;
}

function appsChart(f: PageFrame, d: Dashboard): SafeHtml {
  const { t } = f;
  if (d.apps.length === 0) return html`<section aria-labelledby="dash-apps-h"><h2 id="dash-apps-h">${t.dash.appsTitle}</h2><p>${t.dash.noApps}</p></section>`;
  const desc = t.dash.appsDesc(d.apps.map((a) => `${a.name} ${a.signIns}`).join(t.dash.listSeparator));
  return html`<section aria-labelledby="dash-apps-h"><h2 id="dash-apps-h">${t.dash.appsTitle}</h2>
${horizontalBars({ id: 'dash-apps', title: t.dash.appsTitle, desc, rows: d.apps.map((a) => ({ label: a.name, value: a.signIns })), color: COLORS.web })}
<details><summary>${t.dash.showTable}</summary><table data-apps><caption>${t.dash.appsTitle}</caption>
<thead><tr><th scope="col">${t.dash.app}</th><th scope="col">${t.clientId}</th><th scope="col" class="num">${t.dash.signIns}</th><th scope="col" class="num">${t.dash.failures}</th></tr></thead>
<tbody>${d.apps.map((a) => html`<tr data-app="${a.clientId}"><th scope="row">${a.name}</th><td><code>${a.clientId}</code></td><td data-figure="signIns">${number(f, a.signIns)}</td><td data-figure="failures">${number(f, a.failures)}</td></tr>`)}</tbody></table></details></section>`;
}

function sessionsCard(f: PageFrame, d: Dashboard): SafeHtml {
  const { t } = f;
  if (!d.sessions) return html`<p class="hint">${t.dash.sessionsNotScoped}</p>`;
  return html`<section aria-labelledby="dash-sessions-h" class="card"><h2 id="dash-sessions-h">${t.dash.sessionsTitle}</h2>
<dl><dt>${t.dash.browserSessions}</dt><dd data-figure="sessions.browser">${number(f, d.sessions.browser)}</dd>
<dt>${t.dash.channelSessions}</dt><dd data-figure="sessions.channel">${number(f, d.sessions.channel)}</dd></dl>
<p class="hint">${t.dash.sessionsHint}</p></section>`;
}

/** The console home's dashboard: figures from the audit log, charts with their tables. */
export function dashboardSection(f: PageFrame, d: Dashboard): SafeHtml {
  const { t } = f;
  const asOf = new Intl.DateTimeFormat(f.locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: TZ }).format(d.at);
  return html`<div class="dashboard" data-dashboard data-scope="${d.wholeInstallation ? 'all' : 'departments'}">
<p class="lead">${d.wholeInstallation ? t.dash.scopeAll : t.dash.scopeOwn} ${t.dash.asOf(asOf)}</p>
${totalsTable(f, d)}
${sessionsCard(f, d)}
${hourlyChart(f, d)}
${dailyChart(f, d)}
${appsChart(f, d)}
<p class="hint">${t.dash.source}</p></div>`;
}
