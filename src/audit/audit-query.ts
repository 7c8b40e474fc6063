import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import type { AuditRow } from './audit-chain.js';

export interface AuditQuery {
  /** Who did it (an operator's, citizen's or client's id). */
  actor?: string | undefined;
  /** The citizen it is about (their `sub`). */
  subject?: string | undefined;
  clientId?: string | undefined;
  /** An exact action, or a prefix ending in '.' ('admin.'). */
  action?: string | undefined;
  /** Epoch ms, inclusive. */
  from?: number | undefined;
  /** Epoch ms, exclusive. */
  to?: number | undefined;
  /** Only rows with an id below this (the previous page's `next`). */
  before?: number | undefined;
  limit: number;
  /**
   * Restricts to events about these departments or these clients; undefined means everything
   * (an operator whose scope is the whole tree).
   */
  scope?: { departmentIds: readonly string[]; clientIds: readonly string[] } | undefined;
}

export interface AuditPage<T> {
  events: T[];
  /** Pass as `before` for the next (older) page; absent on the last page. */
  next?: number;
}

/** Keyset pagination on the id, newest first: stable while new events arrive. */
export async function queryEvents(db: Database, q: AuditQuery): Promise<{ rows: AuditRow[]; next?: number }> {
  const query = db<AuditRow>('audit_events').orderBy('id', 'desc').limit(q.limit + 1);
  if (q.actor) query.where('actor_id', q.actor);
  if (q.subject) query.where('account_id', q.subject);
  if (q.clientId) query.where('client_id', q.clientId);
  if (q.action) {
    // substr rather than LIKE: '_' in action names would be a wildcard there.
    if (q.action.endsWith('.')) query.whereRaw('substr(action, 1, ?) = ?', [q.action.length, q.action]);
    else query.where('action', q.action);
  }
  if (q.from !== undefined) query.where('at', '>=', q.from);
  if (q.to !== undefined) query.where('at', '<', q.to);
  if (q.before !== undefined) query.where('id', '<', q.before);
  const scope = q.scope;
  if (scope) {
    query.where((w: Knex.QueryBuilder) => {
      w.whereIn('department_id', [...scope.departmentIds]);
      if (scope.clientIds.length) w.orWhereIn('client_id', [...scope.clientIds]);
    });
  }
  const rows = await query;
  if (rows.length <= q.limit) return { rows };
  const page = rows.slice(0, q.limit);
  return { rows: page, next: Number(page.at(-1)!.id) };
}
