import { randomBytes } from 'node:crypto';
import type { Database } from '../storage/database.js';
import type { Assignment, Role } from './roles.js';
import { possibleId } from './validate.js';

export interface AssignmentRecord extends Assignment {
  accountId: string;
  createdBy: string | undefined;
  createdAt: number;
}

interface Row {
  id: string;
  account_id: string;
  role: Role;
  department_id: string;
  path: string;
  created_by: string | null;
  created_at: number;
}

const toRecord = (r: Row): AssignmentRecord => ({
  id: r.id,
  accountId: r.account_id,
  role: r.role,
  departmentId: r.department_id,
  departmentPath: r.path,
  createdBy: r.created_by ?? undefined,
  createdAt: Number(r.created_at),
});

/** Role assignments in SQL: an account holding a role in a department. */
export function assignmentStore(db: Database) {
  const joined = () =>
    db('role_assignments as r')
      .join('departments as d', 'd.id', 'r.department_id')
      .select('r.id', 'r.account_id', 'r.role', 'r.department_id', 'd.path', 'r.created_by', 'r.created_at');
  return {
    async add(a: { accountId: string; role: Role; departmentId: string; createdBy: string | undefined }): Promise<string> {
      const id = `ra_${randomBytes(9).toString('base64url')}`;
      await db('role_assignments').insert({ id, account_id: a.accountId, role: a.role, department_id: a.departmentId, created_by: a.createdBy ?? null, created_at: Date.now() });
      return id;
    },
    async find(id: string): Promise<AssignmentRecord | undefined> {
      if (!possibleId(id)) return undefined;
      const row = (await joined().where('r.id', id).first()) as Row | undefined;
      return row && toRecord(row);
    },
    async exists(a: { accountId: string; role: Role; departmentId: string }): Promise<boolean> {
      return !!(await db('role_assignments').where({ account_id: a.accountId, role: a.role, department_id: a.departmentId }).first());
    },
    /** Whether the account holds `role` in any department. */
    async holds(accountId: string, role: Role): Promise<boolean> {
      return !!(await db('role_assignments').where({ account_id: accountId, role }).first());
    },
    async remove(id: string): Promise<void> {
      await db('role_assignments').where({ id }).delete();
    },
    async forAccount(accountId: string): Promise<AssignmentRecord[]> {
      return ((await joined().where('r.account_id', accountId).orderBy('d.path')) as Row[]).map(toRecord);
    },
    /** Assignments in departments whose ids are given. */
    async inDepartments(departmentIds: readonly string[]): Promise<AssignmentRecord[]> {
      if (departmentIds.length === 0) return [];
      return ((await joined().whereIn('r.department_id', [...departmentIds]).orderBy('d.path').orderBy('r.created_at')) as Row[]).map(toRecord);
    },
  };
}
export type AssignmentStore = ReturnType<typeof assignmentStore>;
