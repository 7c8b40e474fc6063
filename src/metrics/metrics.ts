import client from 'prom-client';
import type { Context } from 'koa';
import type { AuditEventInput } from '../audit/index.js';
import type { HashLoad } from '../accounts/password-hasher.js';
import type { Database } from '../storage/database.js';
import type { RedisClient } from '../storage/redis.js';

/** What the gauges read when Prometheus scrapes; nothing of it is read on a request's path. */
export interface MetricSources {
  hashingLoad(): HashLoad;
  db: Database;
  redis: RedisClient | undefined;
}

/** Slower than this, a store counts as down for the scrape: a scrape must not hang on it. */
const PROBE_TIMEOUT_MS = 2_000;

async function probe(check: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS)));
  return Promise.race([check().then(() => true, () => false), late]).finally(() => clearTimeout(timer));
}

/** Only the methods browsers and clients use; anything else is one label, so no one can grow the series. */
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
/** Label values from the audit log come from our own code, but are capped anyway: a label is a series. */
const label = (v: unknown, fallback: string): string => (typeof v === 'string' && /^[A-Za-z0-9_.:/-]{1,64}$/.test(v) ? v : fallback);

let processRegistry: client.Registry | undefined;
function processMetrics(): client.Registry {
  if (!processRegistry) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry, prefix: 'yihao_' });
  }
  return processRegistry;
}

/**
 * One Prometheus registry per instance of the app (tests start several in one process). Counters are
 * fed from what already happens (the request line, audit appends, provider events); gauges are read
 * at scrape time, so the hot path gains no SQL statement and no Redis command.
 */
export function createMetrics() {
  const registry = new client.Registry();
  const requests = new client.Counter({ name: 'yihao_http_requests_total', help: 'HTTP requests by route template, method and status class', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const latency = new client.Histogram({
    name: 'yihao_http_request_duration_seconds',
    help: 'HTTP request latency by route template',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const signIns = new client.Counter({ name: 'yihao_sign_ins_total', help: 'Sign-ins by channel, acr and result (from the audit log)', labelNames: ['channel', 'acr', 'result'], registers: [registry] });
  const tokens = new client.Counter({ name: 'yihao_tokens_issued_total', help: 'Successful token endpoint grants by grant type', labelNames: ['grant_type'], registers: [registry] });
  const lockouts = new client.Counter({ name: 'yihao_lockouts_total', help: 'Accounts locked (after failed logins or distributed guessing)', labelNames: ['reason'], registers: [registry] });
  const refusals = new client.Counter({ name: 'yihao_rate_limit_refusals_total', help: 'Rate-limit refusal episodes started, by limit', labelNames: ['limit'], registers: [registry] });
  const smsSends = new client.Counter({ name: 'yihao_sms_sends_total', help: 'Text messages handed to the SMS gateway (or the development outbox), by purpose and result', labelNames: ['purpose', 'result'], registers: [registry] });

  let sources: MetricSources | undefined;
  const argon2 = new client.Gauge({
    name: 'yihao_argon2_queue',
    help: 'argon2 hashing: running, queued, and the configured limits',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      if (!sources) return;
      const load = sources.hashingLoad();
      this.set({ state: 'running' }, load.running);
      this.set({ state: 'queued' }, load.queued);
      this.set({ state: 'max_concurrent' }, load.maxConcurrent);
      this.set({ state: 'max_queued' }, load.maxQueued);
    },
  });
  const up = new client.Gauge({
    name: 'yihao_store_up',
    help: '1 if the store answered a ping during this scrape, else 0',
    labelNames: ['store'],
    registers: [registry],
    async collect() {
      if (!sources) return;
      const { db, redis } = sources;
      this.set({ store: 'database' }, (await probe(() => db.raw('select 1'))) ? 1 : 0);
      if (redis) this.set({ store: 'redis' }, (await probe(() => redis.ping())) ? 1 : 0);
    },
  });
  const pool = new client.Gauge({
    name: 'yihao_db_pool_connections',
    help: 'Database connection pool: used, free, pending acquires, and the maximum',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const p = (sources?.db.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number; max: number } } | undefined)?.pool;
      if (!p) return;
      this.set({ state: 'used' }, p.numUsed());
      this.set({ state: 'free' }, p.numFree());
      this.set({ state: 'pending' }, p.numPendingAcquires());
      this.set({ state: 'max' }, p.max);
    },
  });
  const sealerLag = new client.Gauge({
    name: 'yihao_audit_sealer_lag_seconds',
    help: 'Age of the oldest audit event not yet chained and signed (0 when all are sealed)',
    registers: [registry],
    async collect() {
      if (!sources) return;
      const row = (await sources.db('audit_events').whereNull('seq').min({ oldest: 'at' }).first()) as { oldest: number | string | null } | undefined;
      const oldest = row?.oldest == null ? undefined : Number(row.oldest);
      this.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
    },
  });
  const unsealed = new client.Gauge({
    name: 'yihao_audit_unsealed_events',
    help: 'Audit events not yet chained and signed',
    registers: [registry],
    async collect() {
      if (!sources) return;
      const row = (await sources.db('audit_events').whereNull('seq').count({ n: '*' }).first()) as { n: number | string } | undefined;
      this.set(Number(row?.n ?? 0));
    },
  });
  void [argon2, up, pool, sealerLag, unsealed];

  return {
    // The process's own numbers (event loop lag, heap, GC) once per process: their collectors hook
    // into the runtime, and tests start many apps in one process.
    registry: client.Registry.merge([processMetrics(), registry]),
    /** The gauges' sources, once the services exist. */
    watch(s: MetricSources): void {
      sources = s;
    },
    /** Called with every finished request: the route is the template that matched, never the path. */
    request(ctx: Context, status: number, seconds: number): void {
      const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const labels = { route: typeof route === 'string' ? route : 'unmatched', method: METHODS.has(ctx.method) ? ctx.method : 'other' };
      requests.inc({ ...labels, status: `${Math.floor(status / 100)}xx` });
      latency.observe(labels, seconds);
    },
    /** Every audit append goes past here (audit-log.ts); the events that are also metrics are counted. */
    auditEvent(e: AuditEventInput): void {
      const details = e.details ?? {};
      switch (e.action) {
        case 'login.succeeded':
        case 'counter.assisted_login':
          signIns.inc({ channel: label(e.channel ?? details.channel, 'unknown'), acr: label(details.acr, 'none'), result: 'success' });
          break;
        case 'login.failed':
        case 'login.locked':
          signIns.inc({ channel: label(e.channel ?? details.channel, 'unknown'), acr: 'none', result: e.action === 'login.locked' ? 'locked' : 'failure' });
          break;
        case 'account.locked':
          lockouts.inc({ reason: label(details.reason, 'unknown') });
          break;
        case 'ratelimit.refused':
          refusals.inc({ limit: label(details.limit, 'unknown') });
          break;
      }
    },
    /** Every text message the sender handed over (`sent`) or could not (the gateway refused, timed out or was unreachable). */
    smsSend(purpose: string, sent: boolean): void {
      smsSends.inc({ purpose: label(purpose, 'other'), result: sent ? 'sent' : 'failed' });
    },
    /** oidc-provider's `grant.success`: one per token endpoint answer that issued tokens. */
    grant(grantType: unknown): void {
      tokens.inc({ grant_type: label(grantType, 'other') });
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
