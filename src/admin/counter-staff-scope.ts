import type { Database } from '../storage/database.js';

/**
 * Whether an account may act as counter staff at a counter client: it holds `counter-staff` in the
 * department that owns the client, or in one above it, like every other role. A client that no
 * department owns (made with `yihao client create`) belongs to the installation: staff need the
 * role at a national (root) department, or to be on the channel's own `counter_staff` list (which
 * predates departments). One statement either way.
 */
export function counterStaffAt(db: Database, listed: (accountId: string) => Promise<boolean>) {
  return async (accountId: string, clientId: string): Promise<boolean> => {
    const owner = (await db('client_registrations as c')
      .join('departments as cd', 'cd.id', 'c.department_id')
      .leftJoin('role_assignments as r', (j) => j.onVal('r.account_id', accountId).andOnVal('r.role', 'counter-staff'))
      .leftJoin('departments as rd', 'rd.id', 'r.department_id')
      .where('c.client_id', clientId)
      .select('cd.path as client_path', 'rd.path as role_path')) as { client_path: string; role_path: string | null }[];
    if (owner.length > 0) return owner.some((o) => o.role_path !== null && o.client_path.startsWith(o.role_path));
    const national = await db('role_assignments as r')
      .join('departments as d', 'd.id', 'r.department_id')
      .where({ 'r.account_id': accountId, 'r.role': 'counter-staff' })
      .whereNull('d.parent_id')
      .first('r.id');
    return national !== undefined || (await listed(accountId));
  };
}
