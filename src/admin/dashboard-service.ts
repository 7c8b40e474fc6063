import type Provider from 'oidc-provider';
import type { Channel } from '../accounts/index.js';
import { FAILURE_ACTIONS, LOCKOUT_ACTIONS, SIGN_IN_ACTIONS, type AuditStats, type BucketCount } from '../audit/index.js';
import type { ClientStore } from '../clients/index.js';
import type { AccountIndex, LiveSessionCount } from '../storage/account-index.js';
import { bucketStarts, denseSeries, last24Hours, last7Days, type Window } from './dashboard-windows.js';
import type { DepartmentStore } from './departments.js';
import { isRootPath, scopesFor, type Operator } from './roles.js';

export const DASHBOARD_CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const satisfies readonly Channel[];
/** A channel, or `other` for an event that names none this version knows. */
export type ChannelKey = Channel | 'other';
const CHANNEL_KEYS: readonly ChannelKey[] = [...DASHBOARD_CHANNELS, 'other'];
const ALL_ACTIONS = [...SIGN_IN_ACTIONS, ...FAILURE_ACTIONS, ...LOCKOUT_ACTIONS];
const TOP_APPS = 10;

export interface Totals {
  signIns: Record<ChannelKey, number>;
  signInsTotal: number;
  /** Wrong password, code, card or key. */
  failures: number;
  /** Tries while the account was locked. */
  lockedAttempts: number;
  /** Accounts locked for a while. */
  lockouts: number;
}

export interface Dashboard {
  at: number;
  /** False: only the operator's departments' apps are counted. */
  wholeInstallation: boolean;
  hours: { window: Window; starts: number[]; signIns: Record<ChannelKey, number[]> };
  days: { window: Window; starts: number[]; signIns: number[]; failures: number[]; lockedAttempts: number[]; lockouts: number[] };
  totals: { day: Totals; week: Totals };
  /** The apps with the most sign-ins over the 7 days, most first, with their failed sign-ins (`login.failed`). */
  apps: { clientId: string; name: string; signIns: number; failures: number }[];
  /** Whole installation only: a browser session is not one app's. */
  sessions: LiveSessionCount | undefined;
}

const channelOf = (c: string | undefined): ChannelKey => ((DASHBOARD_CHANNELS as readonly string[]).includes(c ?? '') ? (c as Channel) : 'other');
const isIn = (list: readonly string[]) => (action: string) => list.includes(action);
const signIn = isIn(SIGN_IN_ACTIONS);

function totalsOf(rows: readonly BucketCount[]): Totals {
  const signIns = Object.fromEntries(CHANNEL_KEYS.map((c) => [c, 0])) as Record<ChannelKey, number>;
  const t: Totals = { signIns, signInsTotal: 0, failures: 0, lockedAttempts: 0, lockouts: 0 };
  for (const r of rows) {
    if (signIn(r.action)) {
      signIns[channelOf(r.channel)] += r.n;
      t.signInsTotal += r.n;
    } else if (r.action === 'login.failed') t.failures += r.n;
    else if (r.action === 'login.locked') t.lockedAttempts += r.n;
    else if (r.action === 'account.locked') t.lockouts += r.n;
  }
  return t;
}

/**
 * The console's home page figures, from the audit log and the account index. An operator sees the
 * apps of the departments where they may read apps or the audit log; one whose department is a
 * root sees everything (also events that name no app).
 */
export function dashboardService(d: { stats: AuditStats; departments: DepartmentStore; clients: ClientStore; accountIndex?: AccountIndex | undefined; provider: () => Provider }) {
  async function clientName(clientId: string): Promise<string> {
    const live = await d.provider().Client.find(clientId).catch(() => undefined);
    return live?.clientName ?? (await d.clients.find(clientId))?.name ?? clientId;
  }

  return {
    /** Undefined when the operator's roles read neither apps nor the audit log (counter staff). */
    async figures(op: Operator, now = Date.now()): Promise<Dashboard | undefined> {
      const scopes = [...new Set([...scopesFor(op, 'client.read'), ...scopesFor(op, 'audit.read')])];
      if (scopes.length === 0) return undefined;
      const whole = scopes.some(isRootPath);
      const clientIds = whole ? undefined : await d.clients.clientIdsIn((await d.departments.within(scopes)).items.map((x) => x.id));
      const hours = last24Hours(now);
      const days = last7Days(now);
      const [hourly, daily, top, sessions] = await Promise.all([
        d.stats.byBucket({ actions: ALL_ACTIONS, from: hours.from, to: hours.to, bucketMs: hours.bucketMs, clientIds }),
        d.stats.byBucket({ actions: ALL_ACTIONS, from: days.from, to: days.to, bucketMs: days.bucketMs, clientIds }),
        d.stats.topClients({ actions: [...SIGN_IN_ACTIONS, 'login.failed'], ranked: SIGN_IN_ACTIONS, from: days.from, to: days.to, limit: TOP_APPS, clientIds }),
        whole ? d.accountIndex?.countLive(now) : undefined,
      ]);
      const perDay = denseSeries(days, daily, ['signIns', 'login.failed', 'login.locked', 'account.locked'], (r) => (signIn(r.action) ? 'signIns' : r.action));
      const names = await Promise.all(top.map((c) => clientName(c.clientId)));
      return {
        at: now,
        wholeInstallation: whole,
        hours: { window: hours, starts: bucketStarts(hours), signIns: denseSeries(hours, hourly, CHANNEL_KEYS, (r) => (signIn(r.action) ? channelOf(r.channel) : undefined)) as Record<ChannelKey, number[]> },
        days: {
          window: days,
          starts: bucketStarts(days),
          signIns: perDay.signIns!,
          failures: perDay['login.failed']!,
          lockedAttempts: perDay['login.locked']!,
          lockouts: perDay['account.locked']!,
        },
        totals: { day: totalsOf(hourly), week: totalsOf(daily) },
        apps: top.map((c, i) => ({ clientId: c.clientId, name: names[i]!, signIns: c.ranked, failures: c.other })),
        sessions,
      };
    },
  };
}
export type DashboardService = ReturnType<typeof dashboardService>;
