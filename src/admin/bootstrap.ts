import { hostname, userInfo } from 'node:os';
import type { Knex } from 'knex';
import type { Accounts } from '../accounts/index.js';
import type { Database } from '../storage/database.js';
import type { AdminAction, AuditLog } from '../audit/index.js';
import { YihaoError } from '../errors.js';
import { clientStore, type ClientSettings } from '../clients/index.js';
import { assignmentStore, type AssignmentStore } from './assignments.js';
import { departmentStore, placementProblem, type Department, type DepartmentStore, type Level } from './departments.js';
import type { Operator, Role } from './roles.js';

/**
 * Who runs the command, as the system knows it: the user name (or uid) of the process. `SUDO_USER`
 * is only the environment's claim, so it is recorded apart, and only from root (sudo's own case).
 */
function shellUser(): { osUser: string; sudoUser?: string } {
  let osUser: string;
  try {
    osUser = userInfo().username;
  } catch {
    osUser = `uid ${process.getuid?.() ?? '?'}`;
  }
  const sudoUser = process.getuid?.() === 0 ? process.env.SUDO_USER : undefined;
  return { osUser, ...(sudoUser ? { sudoUser } : {}) };
}

/**
 * What the `yihao` command does with the server's own authority, before any operator exists (or
 * to recover when none can sign in): create departments and grant roles, and put a client that the
 * CLI registered under a department. Audited as the system.
 */
export function adminBootstrap({ db, departments, assignments, accounts, audit }: { db: Database; departments: DepartmentStore; assignments: AssignmentStore; accounts: Accounts; audit: AuditLog }) {
  const record = (trx: Knex.Transaction, action: AdminAction, target: { departmentId?: string; accountId?: string; clientId?: string }, details: Record<string, unknown>) =>
    audit.append({ action, actorType: 'system', actorId: 'cli', departmentId: target.departmentId, accountId: target.accountId, clientId: target.clientId, details }, { trx });

  return {
    async createDepartment(input: { name: string; level: Level; parentId?: string | undefined }): Promise<Department> {
      const parent = input.parentId ? await departments.find(input.parentId) : undefined;
      if (input.parentId && !parent) throw new YihaoError('not_found', 'no department has that --parent id');
      const problem = placementProblem(input.level, parent);
      if (problem) throw new YihaoError('invalid_input', problem);
      // The department and its record commit together.
      return db.transaction(async (trx) => {
        const created = await departmentStore(trx).create({ name: input.name, level: input.level, parent });
        await record(trx, 'admin.department.created', { departmentId: created.id }, { after: { name: created.name, level: created.level, parent_id: parent?.id ?? null } });
        return created;
      });
    },

    /**
     * The department a client made with the CLI belongs to: the one named (an id, or a path
     * `/dp_…/dp_…/` whose last step is the id), else the only root. No department yet (a fresh
     * installation): undefined, and the client is registered outside the console.
     */
    async departmentForClient(named: string | undefined): Promise<Department | undefined> {
      if (named !== undefined) {
        const id = named.startsWith('/') ? named.split('/').filter(Boolean).pop() : named;
        const found = id && /^dp_[A-Za-z0-9_-]{1,40}$/.test(id) ? await departments.find(id) : undefined;
        if (!found) throw new YihaoError('not_found', 'no department has that --department id or path');
        return found;
      }
      const roots = (await departments.within(['/'])).items.filter((d) => d.parentId === undefined);
      if (roots.length > 1) throw new YihaoError('invalid_input', 'there are several root departments: name one with --department');
      return roots[0];
    },

    /**
     * Records a client that the CLI registered, before it is published: its `admin.client.created`
     * event and, under `department`, an active client with its settings as approved ones, so that
     * the console shows and edits it like a client made there; from then on its changes go through
     * review like any other client's. The administrator running the CLI is its only reviewer here:
     * creating is the bootstrap step. No department yet (a fresh installation): the event alone.
     */
    async adoptClient(input: { clientId: string; settings: ClientSettings; secretDigest: string | undefined; department: Department | undefined }): Promise<void> {
      const { department } = input;
      const now = Date.now();
      // The client and its record commit together.
      await db.transaction(async (trx) => {
        if (department) {
          await clientStore(trx).insert({
            clientId: input.clientId,
            departmentId: department.id,
            status: 'active',
            settings: input.settings,
            name: input.settings.client_name,
            secretDigest: input.secretDigest,
            version: 1,
            createdBy: 'cli',
            createdAt: now,
            updatedAt: now,
          });
        }
        await record(trx, 'admin.client.created', { departmentId: department?.id, clientId: input.clientId }, { client_id: input.clientId, via: 'cli', after: input.settings });
      });
    },

    /**
     * The operator that the account with this sub, citizen ID or mobile number is, for a CLI command
     * done in an operator's name (`yihao client update --as`): its roles then decide, as in the console.
     */
    async operatorFor(identifier: string): Promise<Operator> {
      const account = (await accounts.findBySub(identifier)) ?? (await accounts.findByIdentifier(identifier));
      if (!account) throw new YihaoError('not_found', 'no account matches that --as identifier');
      // Disabling an account leaves its roles in place (enabling gives them back), so the roles
      // alone would let a disabled operator's name still file changes from a shell.
      if (account.status !== 'active') throw new YihaoError('invalid_input', `that --as account is ${account.status}: only an active account may act as an operator`);
      const held = await assignments.forAccount(account.id);
      if (held.length === 0) throw new YihaoError('invalid_input', 'that --as account holds no operator role');
      return { accountId: account.id, sub: account.sub, name: account.name, assignments: held, channel: 'cli', shell: { ...shellUser(), host: hostname() } };
    },

    /** Grants `role` in `departmentId` to the account with this citizen ID, mobile number or sub. */
    async grantRole(input: { identifier: string; role: Role; departmentId: string }): Promise<{ id: string; sub: string; name: string; department: Department }> {
      const department = await departments.find(input.departmentId);
      if (!department) throw new YihaoError('not_found', 'no department has that --department id');
      const account = (await accounts.findBySub(input.identifier)) ?? (await accounts.findByIdentifier(input.identifier));
      if (!account) throw new YihaoError('not_found', 'no account matches that identifier; create it first with yihao account create');
      if (await assignments.exists({ accountId: account.id, role: input.role, departmentId: department.id })) {
        throw new YihaoError('invalid_input', 'that account already holds this role in this department');
      }
      // The role and its record commit together.
      const id = await db.transaction(async (trx) => {
        const added = await assignmentStore(trx).add({ accountId: account.id, role: input.role, departmentId: department.id, createdBy: 'cli' });
        await record(trx, 'admin.role.assigned', { departmentId: department.id, accountId: account.sub }, { before: null, after: { id: added, role: input.role, department_id: department.id } });
        return added;
      });
      return { id, sub: account.sub, name: account.name, department };
    },
  };
}
export type AdminBootstrap = ReturnType<typeof adminBootstrap>;
