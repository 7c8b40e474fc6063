/** The printed report (tables and the budgets of issue 10) and the BENCH_JSON figures. */
import type { BackendResult } from './backend-run.js';
import type { Backend } from './knobs.js';
import { fmtMs, fmtRate, type Row } from './load.js';

const backendName: Record<Backend, string> = { 'postgres+redis': 'PostgreSQL + Redis', sqlite: 'SQLite' };

function markdown(head: string[], body: string[][], rightFrom: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= rightFrom ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

/** The scenario table of one backend, with the round trips the counting pass saw per operation. */
export function scenarioTable(r: BackendResult): string {
  const counts = new Map<Row, { sql: number; redis: number }>([
    [r.clientCredentials, r.counts.clientCredentials],
    [r.userinfo, r.counts.userinfo],
    [r.signIn, r.counts.signIn],
    [r.signInWithConsent, r.counts.signInWithConsent],
    [r.refresh, r.counts.refresh],
  ]);
  const head = ['scenario', 'server', 'per second', 'p50 ms', 'p99 ms', 'server CPU ms/op', 'PG CPU ms/op', 'SQL/op', 'Redis/op', 'ok', 'failed'];
  const body = r.rows.map((row) => {
    const c = counts.get(row);
    return [row.name, row.server, fmtRate(row.perSecond), String(row.p50), String(row.p99), fmtMs(row.cpuPerOp), fmtMs(row.dbCpuPerOp), c ? c.sql.toFixed(1) : '-', c ? c.redis.toFixed(1) : '-', String(row.total), String(row.failed)];
  });
  return `${backendName[r.backend]}:\n${markdown(head, body, 2)}`;
}

/** Figures of one backend, as BENCH_JSON gives them. */
export function figures(r: BackendResult) {
  const scenario = (row: Row, c?: { sql: number; redis: number; promises: number }) => ({
    perSecond: row.perSecond,
    p50Ms: row.p50,
    p99Ms: row.p99,
    cpuMsPerOp: row.cpuPerOp,
    ...(Number.isFinite(row.dbCpuPerOp) ? { postgresCpuMsPerOp: row.dbCpuPerOp } : {}),
    ...(c ? { sqlPerOp: c.sql, redisPerOp: c.redis, promisesPerOp: c.promises } : {}),
    ok: row.total,
    failed: row.failed,
  });
  return {
    ratios: {
      clientCredentials: r.clientCredentials.perSecond / r.bare.perSecond,
      clientCredentialsCpu: r.bare.cpuPerOp / r.clientCredentials.cpuPerOp,
      signIns: r.signIn.perSecond / r.argon2.perSecond,
      userinfoCpu: r.bareUserinfo.cpuPerOp / r.userinfo.cpuPerOp,
      refreshCpu: r.bareRefresh.cpuPerOp / r.refresh.cpuPerOp,
    },
    scenarios: {
      clientCredentials: scenario(r.clientCredentials, r.counts.clientCredentials),
      bareClientCredentials: scenario(r.bare),
      userinfo: scenario(r.userinfo, r.counts.userinfo),
      bareUserinfo: scenario(r.bareUserinfo),
      bareRefresh: scenario(r.bareRefresh),
      signIn: { ...scenario(r.signIn, r.counts.signIn), nonArgon2CpuMsPerOp: r.signIn.cpuPerOp - r.argon2.cpuPerOp, argon2CpuMsPerVerify: r.argon2.cpuPerOp },
      /** Not a budget: the consent page on every sign-in (`prompt=consent`), as a citizen's first sign-in to an app has it. */
      signInWithConsent: { ...scenario(r.signInWithConsent, r.counts.signInWithConsent), nonArgon2CpuMsPerOp: r.signInWithConsent.cpuPerOp - r.argon2.cpuPerOp },
      /** Round trips only: a citizen's first sign-in to the app (consent page, after a remembered-consent lookup that finds nothing). */
      firstSignIn: { sqlPerOp: r.counts.firstSignIn.sql, redisPerOp: r.counts.firstSignIn.redis },
      /** oidc-provider's floor: the same five requests with the smallest login page, no password hash, no store round trip. */
      bareSignIn: scenario(r.bareSignIn),
      argon2: scenario(r.argon2),
      refresh: scenario(r.refresh, r.counts.refresh),
    },
    rss: r.rss,
    ...(r.twoInstances ? { scale: { twoInstancesOverOne: { clientCredentials: r.twoInstances.ratio } }, twoInstances: r.twoInstances } : {}),
  };
}
type Figures = ReturnType<typeof figures>;

interface Budget {
  name: string;
  /** A Redis figure: SQLite has no Redis, so it shows "-" there rather than a trivial pass. */
  redis?: true;
  /**
   * A round-trip budget, which the issue sets for PostgreSQL + Redis. On SQLite every model is in
   * SQL, so its count is shown for information only; SQLite's own budget is its CPU relative to
   * PostgreSQL + Redis (the table below).
   */
  statements?: true;
  /** Not a budget: a figure to read the budgets by (no pass or FAIL, not counted). */
  info?: true;
  budget: string;
  value(f: Figures): number | undefined;
  pass(v: number): boolean;
  digits: number;
  /** The most this machine allows for the figure, where the issue asks for it only "where the machine's cores allow it". */
  ceiling?(f: Figures): number | undefined;
}

const atLeast = (name: string, min: number, value: Budget['value'], digits = 2): Budget => ({ name, budget: `>= ${min}`, value, pass: (v) => v >= min, digits });
/** A figure shown beside the budgets to read them by, with no verdict of its own. */
const info = (name: string, value: Budget['value'], digits = 2): Budget => ({ name, budget: 'info', value, pass: () => true, info: true, digits });
const atMost = (name: string, max: number, value: Budget['value'], digits = 2): Budget => ({ name, budget: `<= ${max}`, value, pass: (v) => v <= max, digits });

/** Issue 10's budgets, in its order. */
const budgets: Budget[] = [
  atLeast('client_credentials, Yihao / bare oidc-provider (per s)', 0.8, (f) => f.ratios.clientCredentials),
  atLeast('  CPU view: bare / Yihao CPU per token', 0.8, (f) => f.ratios.clientCredentialsCpu),
  atLeast('complete sign-ins / raw argon2 verifies (per s)', 0.9, (f) => f.ratios.signIns),
  atMost('non-argon2 server CPU per sign-in, ms', 6, (f) => f.scenarios.signIn.nonArgon2CpuMsPerOp, 1),
  { ...info('  for scale: bare oidc-provider sign-in CPU (no hash), ms', (f) => f.scenarios.bareSignIn.cpuMsPerOp, 1) },
  { ...atMost('SQL statements per sign-in', 10, (f) => f.scenarios.signIn.sqlPerOp), statements: true },
  { ...atMost('Redis commands per sign-in', 20, (f) => f.scenarios.signIn.redisPerOp), redis: true },
  // A returning citizen is not asked for consent again (docs/claims.md); the first sign-in to an app is.
  { ...info('  prompt=consent (the consent page): non-argon2 CPU, ms', (f) => f.scenarios.signInWithConsent.nonArgon2CpuMsPerOp, 1) },
  { ...atMost('  first sign-in to the app: SQL statements', 10, (f) => f.scenarios.firstSignIn.sqlPerOp), statements: true },
  { ...atMost('  first sign-in to the app: Redis commands', 20, (f) => f.scenarios.firstSignIn.redisPerOp), redis: true },
  atMost('refresh: server CPU per op, ms', 0.6, (f) => f.scenarios.refresh.cpuMsPerOp),
  { ...info('  for scale: bare oidc-provider refresh CPU, ms', (f) => f.scenarios.bareRefresh.cpuMsPerOp) },
  { ...atMost('refresh: SQL statements per op', 2, (f) => f.scenarios.refresh.sqlPerOp), statements: true },
  { ...atMost('refresh: Redis commands per op', 3, (f) => f.scenarios.refresh.redisPerOp), redis: true },
  atMost('userinfo: server CPU per op, ms', 0.35, (f) => f.scenarios.userinfo.cpuMsPerOp),
  { ...info('  for scale: bare oidc-provider userinfo CPU, ms', (f) => f.scenarios.bareUserinfo.cpuMsPerOp) },
  { ...atMost('userinfo: SQL statements per op', 1, (f) => f.scenarios.userinfo.sqlPerOp), statements: true },
  { ...atMost('userinfo: Redis commands per op', 1, (f) => f.scenarios.userinfo.redisPerOp), redis: true },
  atMost('RSS of the Yihao process after the bench, MB', 256, (f) => f.rss.afterLoadMb, 0),
  { ...atLeast('client_credentials, two instances / one', 1.6, (f) => f.scale?.twoInstancesOverOne.clientCredentials), ceiling: (f) => f.twoInstances?.ceiling },
];

/** SQLite's CPU per op over PostgreSQL + Redis's, per scenario: Yihao's process alone, and with PostgreSQL's backends added. */
function sqliteOverPostgres(pg: Figures, lite: Figures) {
  const pair = (l: number, p: number, pDb: number | undefined) => ({ process: l / p, withPostgresBackends: l / (p + (pDb ?? 0)) });
  const s = (k: 'clientCredentials' | 'userinfo' | 'refresh') => pair(lite.scenarios[k].cpuMsPerOp, pg.scenarios[k].cpuMsPerOp, pg.scenarios[k].postgresCpuMsPerOp);
  return {
    clientCredentials: s('clientCredentials'),
    userinfo: s('userinfo'),
    signInNonArgon2: pair(lite.scenarios.signIn.nonArgon2CpuMsPerOp, pg.scenarios.signIn.nonArgon2CpuMsPerOp, pg.scenarios.signIn.postgresCpuMsPerOp),
    refresh: s('refresh'),
  };
}

export function budgetReport(results: BackendResult[]): { text: string; json: Record<string, unknown> } {
  const all = results.map((r) => ({ backend: r.backend, f: figures(r) }));
  const head = ['figure', 'budget', ...all.map((a) => backendName[a.backend])];
  const verdicts: { name: string; budget: string; backend: Backend; value: number; pass: boolean; machineCeiling?: number }[] = [];
  const body = budgets.map((b) => [
    b.name,
    b.budget,
    ...all.map(({ backend, f }) => {
      const v = b.redis && backend === 'sqlite' ? undefined : b.value(f);
      if (v === undefined || !Number.isFinite(v)) return '-';
      if (b.info || (b.statements && backend === 'sqlite')) return `${v.toFixed(b.digits)} info`;
      const ceiling = b.ceiling?.(f);
      // Short of the budget only because the machine cannot reach it: said so, and not counted as a failure.
      if (!b.pass(v) && ceiling !== undefined && !b.pass(ceiling)) {
        verdicts.push({ name: b.name.trim(), budget: b.budget, backend, value: v, pass: true, machineCeiling: ceiling });
        return `${v.toFixed(b.digits)} limited: this machine allows ${ceiling.toFixed(b.digits)}`;
      }
      verdicts.push({ name: b.name.trim(), budget: b.budget, backend, value: v, pass: b.pass(v) });
      return `${v.toFixed(b.digits)} ${b.pass(v) ? 'pass' : 'FAIL'}`;
    }),
  ]);
  const lines = [`Budgets (issue 10):\n${markdown(head, body, 2)}`];

  const pg = all.find((a) => a.backend === 'postgres+redis');
  const lite = all.find((a) => a.backend === 'sqlite');
  let relative: ReturnType<typeof sqliteOverPostgres> | undefined;
  if (pg && lite) {
    relative = sqliteOverPostgres(pg.f, lite.f);
    const rows = Object.entries(relative).map(([k, v]) => {
      verdicts.push({ name: `SQLite / PostgreSQL + Redis CPU per op: ${k}`, budget: '<= 1.3', backend: 'sqlite', value: v.process, pass: v.process <= 1.3 });
      return [k, '<= 1.3', `${v.process.toFixed(2)} ${v.process <= 1.3 ? 'pass' : 'FAIL'}`, v.withPostgresBackends.toFixed(2)];
    });
    lines.push(
      `SQLite's CPU per op over PostgreSQL + Redis's (Yihao's process; the last column adds PostgreSQL's backends to the PostgreSQL side, Redis's CPU is not measured):\n` +
        markdown(['scenario', 'budget', 'Yihao process', 'with PG backends'], rows, 2),
    );
  }
  const fails = verdicts.filter((v) => !v.pass).length;
  const limited = verdicts.filter((v) => v.machineCeiling !== undefined).length;
  lines.push(`${verdicts.length - fails - limited} of ${verdicts.length} budget figures pass; ${fails} fail${limited ? `; ${limited} cannot be reached on this machine (its ceiling is below the budget)` : ''}.`);

  // The first backend's figures sit at the top level (PostgreSQL + Redis when it ran); each backend's under `backends`.
  const json = {
    ...all[0]!.f,
    ...(relative ? { sqliteOverPostgres: relative } : {}),
    budgets: verdicts,
    backends: Object.fromEntries(all.map((a) => [a.backend, a.f])),
  };
  return { text: lines.join('\n\n'), json };
}
