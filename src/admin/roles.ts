/** The operator roles. Each is held within one department and covers its whole subtree. */
export const ROLES = ['super-admin', 'dept-admin', 'reviewer', 'auditor', 'counter-staff'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'department.read',
  'department.write',
  'operator.read',
  'operator.write',
  'client.read',
  'client.write',
  'client.review',
  'audit.read',
  'key.read',
  'key.rotate',
  'credential.revoke',
  'certificate.define',
  'certificate.revoke',
  'account.read',
  'account.disable',
  'account.enable_request',
  'account.enable_review',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * Who may do what. Separation of duties: a dept-admin proposes client changes, a reviewer approves
 * them; an auditor only reads the log; counter staff work at counters, not in the admin API.
 */
const GRANTS: Record<Role, readonly Permission[]> = {
  'super-admin': PERMISSIONS,
  'dept-admin': ['department.read', 'operator.read', 'operator.write', 'client.read', 'client.write', 'certificate.define', 'certificate.revoke'],
  reviewer: ['department.read', 'client.read', 'client.review', 'account.read', 'account.enable_review'],
  auditor: ['department.read', 'audit.read'],
  'counter-staff': [],
};

/**
 * Roles that author client changes, approve others' work or attest identities: granted only by a
 * super-admin (docs/admin.md). A dept-admin authors, so it is one of them: otherwise a dept-admin who
 * also reviews (or is made a reviewer later) could make a second account an author and approve its
 * changes as someone who took no part.
 */
export const ELEVATED_ROLES: ReadonlySet<Role> = new Set(['super-admin', 'dept-admin', 'reviewer', 'counter-staff']);

export const roleGrants = (role: Role, permission: Permission): boolean => GRANTS[role].includes(permission);

/** Permissions that concern the whole installation, not a department: held only at a root department. */
export const GLOBAL_PERMISSIONS: ReadonlySet<Permission> = new Set([
  'key.read',
  'key.rotate',
  'credential.revoke',
  // Citizen accounts are national, not any department's (docs/admin.md, "Citizen accounts").
  'account.read',
  'account.disable',
  'account.enable_request',
  'account.enable_review',
]);

/** One role held in one department (and so in its subtree). */
export interface Assignment {
  id: string;
  role: Role;
  departmentId: string;
  /** The department's path, '/root/…/id/'. */
  departmentPath: string;
}

/** A signed-in operator: an account with its role assignments. */
export interface Operator {
  accountId: string;
  sub: string;
  name: string;
  assignments: readonly Assignment[];
  ip?: string | undefined;
  requestId?: string | undefined;
  /** Where the operator acted, for the audit log: the console and API (`web`, the default) or the CLI (`cli`). */
  channel?: 'web' | 'cli' | undefined;
  /**
   * Set when the CLI acts in this operator's name (`--as`): they never signed in, so the record
   * names who ran the command, and where, instead of passing it off as the operator's own act.
   */
  shell?: { readonly osUser: string; readonly sudoUser?: string; readonly host: string } | undefined;
}

export const isRootPath = (path: string) => path.split('/').filter(Boolean).length === 1;

/** The department paths under which `operator` holds `permission`. */
export function scopesFor(operator: Operator, permission: Permission): string[] {
  return operator.assignments
    .filter((a) => roleGrants(a.role, permission) && (!GLOBAL_PERMISSIONS.has(permission) || isRootPath(a.departmentPath)))
    .map((a) => a.departmentPath);
}

export const withinScopes = (scopes: readonly string[], path: string) => scopes.some((s) => path.startsWith(s));
