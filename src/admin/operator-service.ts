import { z } from 'zod';
import { looksLikePhone, type Accounts } from '../accounts/index.js';
import { isCitizenIdShaped } from '../identity/index.js';
import { AdminError, notFound } from './admin-error.js';
import type { Database } from '../storage/database.js';
import { assignmentStore, type AssignmentRecord, type AssignmentStore } from './assignments.js';
import type { DepartmentStore } from './departments.js';
import type { Guard } from './guard.js';
import { listQuery, type Page } from './paging.js';
import { ELEVATED_ROLES, ROLES, scopesFor, type Operator, type Role } from './roles.js';
import { oneLine, parseInput, possibleId } from './validate.js';

export const assignmentInput = z
  .object({
    /** The account, by its `sub`… */
    sub: z.string().min(1).max(64).refine(possibleId, 'is not an account sub').optional(),
    /**
     * …or by its citizen ID number or mobile number (never stored in the audit log). Looking an
     * account up by number is a national super-admin's or reviewer's power, audited found or not.
     */
    identifier: z
      .string()
      .min(1)
      .max(64)
      .refine((s) => kindOf(s) !== undefined, 'must be a citizen ID number or a mobile number')
      .optional(),
    role: z.enum(ROLES, { message: `must be one of ${ROLES.join(', ')}` }),
    department_id: z.string().min(1, 'is required').max(32),
  })
  .strict()
  .refine((a) => !!a.sub !== !!a.identifier, { message: 'give exactly one of sub and identifier', path: ['sub'] });
export type AssignmentInput = z.input<typeof assignmentInput>;
export const operatorListQuery = listQuery.extend({ department_id: oneLine().max(32).optional() });

/** What kind of number names the account, for the audit log, which never holds the number itself. */
function kindOf(identifier: string): 'citizen_id' | 'phone' | undefined {
  if (isCitizenIdShaped(identifier.trim())) return 'citizen_id';
  return looksLikePhone(identifier.trim()) ? 'phone' : undefined;
}

export interface OperatorView {
  sub: string;
  name: string;
  assignments: { id: string; role: string; department_id: string }[];
}

const assignmentView = (a: AssignmentRecord) => ({ id: a.id, role: a.role, department_id: a.departmentId });

export function operatorService({ accounts, assignments, departments, guard, db }: { accounts: Accounts; assignments: AssignmentStore; departments: DepartmentStore; guard: Guard; db: Database }) {
  const superAdminOver = (op: Operator, path: string) => op.assignments.some((held) => held.role === 'super-admin' && path.startsWith(held.departmentPath));
  /**
   * Roles that author, review or attest are granted by a super-admin over the department, never by
   * a dept-admin: otherwise a dept-admin could give a second account the power to approve the
   * dept-admin's own changes, or to author changes that the dept-admin then approves as a
   * non-participant (holding reviewer too, now or later), or to attest identities at a counter. So
   * every account that can write or review a change was vouched for by a super-admin (or the CLI).
   * Refused, not queued for approval: the super-admin's grant is itself the second pair of eyes.
   */
  const mayGrantRole = (op: Operator, role: Role, path: string) => !ELEVATED_ROLES.has(role) || superAdminOver(op, path);
  /** Taking a review role away is always open to the department's admins; super-admin stays a super-admin's. */
  const mayRevokeRole = (op: Operator, role: Role, path: string) => role !== 'super-admin' || superAdminOver(op, path);

  /**
   * A grant by ID number or mobile number turns the number into a citizen's sub and name, so it is
   * held to the rule for finding citizen accounts (docs/admin.md, "Citizen accounts"): national
   * super-admins and reviewers only, every lookup audited, found or not. Anyone else names the
   * operator by sub, which the operator tells them. Refused before the lookup, so that a known and an
   * unknown number answer alike.
   */
  async function lookUp(op: Operator, identifier: string, departmentId: string) {
    if (scopesFor(op, 'account.read').length === 0) {
      await guard.deny(op, 'operator.assign_by_identifier', 'role', { departmentId }, 'only a national super-admin or reviewer may name an account by ID number or mobile number; name it by sub');
    }
    const account = await accounts.findByIdentifier(identifier);
    await guard.record(op, 'admin.account.looked_up', { departmentId, accountId: account?.sub }, { operation: 'operator.assign', identifier: kindOf(identifier), found: !!account });
    return account;
  }

  return {
    /** Operators holding roles in the caller's departments (only those assignments are shown). */
    async list(op: Operator, query: z.input<typeof operatorListQuery>): Promise<Page<OperatorView>> {
      const scopes = await guard.scopes(op, 'operator.read', 'operator.list');
      const q = parseInput(operatorListQuery, query);
      let paths = scopes;
      if (q.department_id) paths = [(await guard.require(op, 'operator.read', 'operator.list', await departments.find(q.department_id))).path];
      const depts = await departments.within(paths);
      const all = await assignments.inDepartments(depts.items.map((d) => d.id));
      const byAccount = new Map<string, AssignmentRecord[]>();
      for (const a of all) byAccount.set(a.accountId, [...(byAccount.get(a.accountId) ?? []), a]);
      const views: OperatorView[] = [];
      for (const [accountId, held] of byAccount) {
        const account = await accounts.findById(accountId);
        if (!account) continue;
        if (q.q && !account.name.includes(q.q) && account.sub !== q.q) continue;
        views.push({ sub: account.sub, name: account.name, assignments: held.map(assignmentView) });
      }
      views.sort((a, b) => a.name.localeCompare(b.name, 'zh-CN') || a.sub.localeCompare(b.sub));
      const start = (q.page - 1) * q.per_page;
      return { items: views.slice(start, start + q.per_page), total: views.length, page: q.page, per_page: q.per_page };
    },

    async assign(op: Operator, input: AssignmentInput): Promise<{ id: string; sub: string; role: string; department_id: string }> {
      const a = parseInput(assignmentInput, input);
      const dept = await guard.require(op, 'operator.write', 'operator.assign', await departments.find(a.department_id));
      if (!mayGrantRole(op, a.role, dept.path)) await guard.deny(op, 'operator.assign', 'elevated_role', { departmentId: dept.id });
      const account = a.sub ? await accounts.findBySub(a.sub) : await lookUp(op, a.identifier!, dept.id);
      if (!account) throw new AdminError('not_found', 'no account matches', { [a.sub ? 'sub' : 'identifier']: 'no account matches' });
      if (account.sub === op.sub) await guard.deny(op, 'operator.assign', 'self_assignment', { departmentId: dept.id, accountId: account.sub });
      if (await assignments.exists({ accountId: account.id, role: a.role, departmentId: dept.id })) {
        throw new AdminError('conflict', 'the account already holds this role in this department');
      }
      // The role and its record commit together.
      const id = await db.transaction(async (trx) => {
        const added = await assignmentStore(trx).add({ accountId: account.id, role: a.role, departmentId: dept.id, createdBy: op.sub });
        await guard.record(op, 'admin.role.assigned', { departmentId: dept.id, accountId: account.sub }, { before: null, after: { id: added, role: a.role, department_id: dept.id } }, trx);
        return added;
      });
      return { id, sub: account.sub, role: a.role, department_id: dept.id };
    },

    async revoke(op: Operator, assignmentId: string): Promise<void> {
      const found = await assignments.find(assignmentId);
      const dept = await guard.require(op, 'operator.write', 'operator.revoke', found && (await departments.find(found.departmentId)));
      const a = found!;
      if (!mayRevokeRole(op, a.role, dept.path)) await guard.deny(op, 'operator.revoke', 'role', { departmentId: dept.id });
      const account = await accounts.findById(a.accountId);
      if (!account) throw notFound('operator');
      if (account.sub === op.sub) await guard.deny(op, 'operator.revoke', 'self_assignment', { departmentId: dept.id, accountId: account.sub });
      await db.transaction(async (trx) => {
        await assignmentStore(trx).remove(a.id);
        await guard.record(op, 'admin.role.revoked', { departmentId: dept.id, accountId: account.sub }, { before: assignmentView(a), after: null }, trx);
      });
    },
  };
}
export type OperatorService = ReturnType<typeof operatorService>;
