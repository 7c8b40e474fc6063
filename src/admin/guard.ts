import type { Knex } from 'knex';
import type { AuditAction, AuditLog } from '../audit/index.js';
import { AdminError, notFound } from './admin-error.js';
import type { Department } from './departments.js';
import { scopesFor, withinScopes, type Operator, type Permission } from './roles.js';

export type DenyReason =
  | 'role'
  | 'scope'
  | 'not_found'
  | 'self_approval'
  | 'national_review'
  | 'self_assignment'
  | 'elevated_role'
  | 'not_operator'
  | 'insufficient_acr'
  | 'self_account'
  | 'csrf';

/** What an admin event is about, for the audit log. */
export interface Target {
  departmentId?: string | undefined;
  clientId?: string | undefined;
  /** A citizen (an operator's account) the event is about, by `sub`. */
  accountId?: string | undefined;
}

/**
 * Every admin decision goes through here: the role check, the department scope check, and the
 * audit event for an action done or refused. A refusal for scope answers like a missing thing
 * (404), so that names and ids outside the operator's departments never leak.
 */
export function createGuard(audit: AuditLog) {
  /** `trx`: the change's own transaction, so that the change and its record commit together. */
  async function record(op: Pick<Operator, 'sub' | 'ip' | 'requestId' | 'channel' | 'shell'>, action: AuditAction, target: Target, details?: Record<string, unknown>, trx?: Knex.Transaction): Promise<void> {
    if (op.shell) details = { ...details, via: 'cli', on_behalf_of: op.sub, shell: { os_user: op.shell.osUser, ...(op.shell.sudoUser ? { sudo_user: op.shell.sudoUser } : {}), host: op.shell.host, signed_in: false } };
    await audit.append({
      action,
      actorType: 'operator',
      actorId: op.sub,
      accountId: target.accountId,
      clientId: target.clientId,
      departmentId: target.departmentId,
      ip: op.ip,
      requestId: op.requestId,
      channel: op.channel ?? 'web',
      ...(details ? { details } : {}),
    }, { trx });
  }

  /** The same record for what the `yihao` command did with the server's own authority (no operator behind it). */
  async function recordSystem(action: AuditAction, target: Target, details: Record<string, unknown>, trx?: Knex.Transaction): Promise<void> {
    await audit.append({ action, actorType: 'system', actorId: 'cli', accountId: target.accountId, clientId: target.clientId, departmentId: target.departmentId, details: { ...details, via: 'cli' } }, { trx });
  }

  /** `message`: what to do instead, where the reason's own words would leave the operator stuck. */
  async function deny(op: Pick<Operator, 'sub' | 'ip' | 'requestId'>, operation: string, reason: DenyReason, target: Target = {}, message?: string): Promise<never> {
    await record(op, 'admin.denied', target, { operation, reason });
    if (reason === 'scope' || reason === 'not_found') throw notFound(operation.split('.')[0] ?? 'resource');
    const messages: Record<string, string> = {
      role: 'your roles do not allow this',
      self_approval: 'a change or request must be decided by someone who did not draft, edit, submit or ask for it',
      national_review: 'this change needs a super-admin of a national department to approve it',
      self_assignment: 'operators cannot change their own roles',
      elevated_role: 'only a super-admin over the department may grant dept-admin, reviewer, counter-staff or super-admin',
      not_operator: 'this account holds no operator role',
      insufficient_acr: 'the admin API needs a sign-in at urn:yihao:loa:2 or above',
      self_account: 'operators cannot disable or enable their own account',
      csrf: 'the form did not come from this console session; reload the page and try again',
    };
    throw new AdminError('forbidden', message ?? messages[reason] ?? 'not allowed');
  }

  return {
    record,
    recordSystem,
    deny,
    /** The department paths where `op` holds `permission`; refuses (403, audited) when there are none. */
    async scopes(op: Operator, permission: Permission, operation: string): Promise<string[]> {
      const scopes = scopesFor(op, permission);
      if (scopes.length === 0) await deny(op, operation, 'role');
      return scopes;
    },
    /**
     * Checks `permission` on a department. A department that does not exist and one outside the
     * operator's scope are refused alike (404).
     */
    async require(op: Operator, permission: Permission, operation: string, dept: Department | undefined, target: Target = {}): Promise<Department> {
      const scopes = scopesFor(op, permission);
      if (scopes.length === 0) await deny(op, operation, 'role', { ...target, departmentId: dept?.id });
      if (!dept) return deny(op, operation, 'not_found', target);
      if (!withinScopes(scopes, dept.path)) return deny(op, operation, 'scope', { ...target, departmentId: dept.id });
      return dept;
    },
  };
}
export type Guard = ReturnType<typeof createGuard>;
