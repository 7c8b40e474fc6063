import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import type { Account, Accounts } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import type { Database } from '../../storage/database.js';

// An upstream's assertion is vouched for by another system, not proven to us: no stronger than self-asserted here.
const STRENGTH: Record<Account['assurance'], number> = { self_asserted: 0, federated: 0, registry: 1, id_chip: 2, in_person: 3 };

export type ProofingMethod = 'id_chip' | 'in_person';

/** Who checked the document: a registered kiosk (by client id) or a staff member (by `sub`). */
export type ProofingActor = { type: 'kiosk'; id: string } | { type: 'staff'; id: string };

export interface ProofingEvidenceInput {
  account: Account;
  method: ProofingMethod;
  channel: 'kiosk' | 'counter';
  /** The kiosk or counter system the check was made at. */
  clientId: string;
  actor: ProofingActor;
  /** Which document was checked; never its number. */
  documentType: 'idcard';
  ip?: string | undefined;
  requestId?: string | undefined;
}

export interface ProofingEvidence {
  id: string;
  accountId: string;
  method: ProofingMethod;
  channel: string;
  clientId: string;
  departmentId: string | undefined;
  actor: ProofingActor;
  documentType: string;
  status: 'pending' | 'confirmed';
  confirmedBy: { type: 'staff' | 'citizen'; id: string } | undefined;
  confirmedAt: number | undefined;
  createdAt: number;
}

/** Who confirms pending evidence: a second staff member, or the citizen themself (signed in on their own account). */
export type ProofingConfirmer = { type: 'staff'; accountId: string; sub: string } | { type: 'citizen'; accountId: string; sub: string };

export type ConfirmOutcome = { ok: true; raised: boolean } | { ok: false; reason: 'not_found' | 'not_pending' | 'same_staff' | 'not_counter_staff' };

/**
 * When evidence raises an account's standing proofing (docs/channels/assurance.md, "Identity
 * proofing"): a kiosk's ID-chip read is the chip's own signed data, verified by a registered kiosk
 * with a face match, and raises at once; an in-person check is one staff member's word, and waits
 * until a second staff member of a department over that counter, or the citizen, confirms it.
 */
export const raisesAtOnce = (method: ProofingMethod): boolean => method === 'id_chip';

interface Row {
  id: string;
  account_id: string;
  method: ProofingMethod;
  channel: string;
  client_id: string;
  department_id: string | null;
  actor_type: 'kiosk' | 'staff';
  actor_id: string;
  document_type: string;
  status: 'pending' | 'confirmed';
  confirmed_by_type: 'staff' | 'citizen' | null;
  confirmed_by: string | null;
  confirmed_at: number | string | null;
  created_at: number | string;
}

const toEvidence = (r: Row): ProofingEvidence => ({
  id: r.id,
  accountId: r.account_id,
  method: r.method,
  channel: r.channel,
  clientId: r.client_id,
  departmentId: r.department_id ?? undefined,
  actor: { type: r.actor_type, id: r.actor_id },
  documentType: r.document_type,
  status: r.status,
  confirmedBy: r.confirmed_by_type && r.confirmed_by ? { type: r.confirmed_by_type, id: r.confirmed_by } : undefined,
  confirmedAt: r.confirmed_at === null ? undefined : Number(r.confirmed_at),
  createdAt: Number(r.created_at),
});

export interface IdentityProofingDeps {
  db: Database;
  accounts: Accounts;
  audit: AuditLog;
  /** Whether an account (internal id) may act as counter staff at a counter client. */
  isCounterStaffAt: (accountId: string, clientId: string) => Promise<boolean>;
}

/**
 * In-person and kiosk proofing as evidence: who (staff or kiosk), where (client and its
 * department), when, which document type. Each step is audited against the citizen, who sees it.
 */
export function identityProofing(d: IdentityProofingDeps) {
  const auditActor = (a: ProofingActor) => (a.type === 'kiosk' ? { actorType: 'client' as const, actorId: a.id } : { actorType: 'operator' as const, actorId: a.id });

  /**
   * Raises the standing proofing to `method` if that is stronger; never lowers it, also when another
   * check raised it since `accountOrId` was read (a chip read whose account was loaded just before a
   * counter's in-person check was confirmed): the update itself only replaces a weaker level.
   */
  /**
   * Raises the account's standing proofing to `method` (only over a weaker one: checked in the
   * update itself) in the evidence's transaction, with its `identity.proofing_raised` record: a
   * raised level never stands without its record, nor its evidence.
   */
  async function raise(account: Account | undefined, method: ProofingMethod, trx: Knex.Transaction, record: (trx: Knex.Transaction) => Promise<void>): Promise<boolean> {
    if (!account || STRENGTH[account.assurance] >= STRENGTH[method]) return false;
    const weaker = (Object.keys(STRENGTH) as Account['assurance'][]).filter((level) => STRENGTH[level] < STRENGTH[method]);
    if (!(await d.accounts.setAssurance(account.id, method, undefined, weaker, trx))) return false;
    await record(trx);
    return true;
  }

  return {
    async record(e: ProofingEvidenceInput): Promise<{ evidenceId: string; raised: boolean }> {
      const owner = (await d.db('client_registrations').where({ client_id: e.clientId }).first('department_id')) as { department_id: string } | undefined;
      const now = Date.now();
      const atOnce = raisesAtOnce(e.method);
      const row: Row = {
        id: `pe_${randomBytes(12).toString('base64url')}`,
        account_id: e.account.id,
        method: e.method,
        channel: e.channel,
        client_id: e.clientId,
        department_id: owner?.department_id ?? null,
        actor_type: e.actor.type,
        actor_id: e.actor.id,
        document_type: e.documentType,
        status: atOnce ? 'confirmed' : 'pending',
        confirmed_by_type: null,
        confirmed_by: null,
        confirmed_at: atOnce ? now : null,
        created_at: now,
      };
      // The evidence, its record and (a chip read) the raised standing proofing with its own commit together.
      const raised = await d.db.transaction(async (trx) => {
        await trx('identity_proofing_evidence').insert(row);
        await d.audit.append(
          {
            action: 'identity.proofing_recorded',
            ...auditActor(e.actor),
            accountId: e.account.sub,
            clientId: e.clientId,
            departmentId: row.department_id ?? undefined,
            channel: e.channel,
            ip: e.ip,
            requestId: e.requestId,
            details: { evidence_id: row.id, method: e.method, document_type: e.documentType, status: row.status },
          },
          { trx },
        );
        if (!atOnce) return false;
        return raise(e.account, e.method, trx, (t) =>
          d.audit.append({ action: 'identity.proofing_raised', actorType: 'system', accountId: e.account.sub, clientId: e.clientId, channel: e.channel, details: { evidence_id: row.id, to: e.method } }, { trx: t }),
        );
      });
      return { evidenceId: row.id, raised };
    },

    async find(id: string): Promise<ProofingEvidence | undefined> {
      const row = (await d.db('identity_proofing_evidence').where({ id }).first()) as Row | undefined;
      return row && toEvidence(row);
    },

    /** The account's evidence still waiting for confirmation, newest first. */
    async pending(accountId: string): Promise<ProofingEvidence[]> {
      const rows = (await d.db('identity_proofing_evidence').where({ account_id: accountId, status: 'pending' }).orderBy('created_at', 'desc')) as Row[];
      return rows.map(toEvidence);
    },

    /**
     * Confirms pending evidence: by the citizen it is about, or by a second staff member (not the
     * one who made the check) who is counter staff at the same counter. Then raises the standing
     * proofing. Refusals change nothing and are audited.
     */
    async confirm(evidenceId: string, by: ProofingConfirmer, where: { ip?: string | undefined; requestId?: string | undefined } = {}): Promise<ConfirmOutcome> {
      const found = await this.find(evidenceId);
      const refuse = async (reason: 'not_found' | 'not_pending' | 'same_staff' | 'not_counter_staff'): Promise<ConfirmOutcome> => {
        await d.audit.append({
          action: 'identity.proofing_confirm_refused',
          actorType: by.type === 'staff' ? 'operator' : 'citizen',
          actorId: by.sub,
          ...(found && reason !== 'not_found' ? { clientId: found.clientId, departmentId: found.departmentId } : {}),
          ...where,
          details: { evidence_id: evidenceId, reason },
        });
        return { ok: false, reason };
      };
      // Someone else's evidence answers like none at all, to a citizen.
      if (!found || (by.type === 'citizen' && found.accountId !== by.accountId)) return refuse('not_found');
      if (found.status !== 'pending') return refuse('not_pending');
      if (by.type === 'staff') {
        if (found.actor.type === 'staff' && found.actor.id === by.sub) return refuse('same_staff');
        if (found.accountId === by.accountId) return refuse('same_staff');
        if (!(await d.isCounterStaffAt(by.accountId, found.clientId))) return refuse('not_counter_staff');
      }
      const citizen = await d.accounts.findById(found.accountId);
      const now = Date.now();
      // The confirmation, its record and the raised standing proofing with its own commit together.
      const moved = await d.db.transaction(async (trx) => {
        const n = await trx('identity_proofing_evidence')
          .where({ id: evidenceId, status: 'pending' })
          .update({ status: 'confirmed', confirmed_by_type: by.type, confirmed_by: by.sub, confirmed_at: now });
        if (n !== 1) return undefined;
        await d.audit.append(
          {
            action: 'identity.proofing_confirmed',
            actorType: by.type === 'staff' ? 'operator' : 'citizen',
            actorId: by.sub,
            accountId: citizen?.sub,
            clientId: found.clientId,
            departmentId: found.departmentId,
            channel: found.channel,
            ...where,
            details: { evidence_id: evidenceId, method: found.method, confirmed_by: by.type },
          },
          { trx },
        );
        const raised = await raise(citizen, found.method, trx, (t) =>
          d.audit.append({ action: 'identity.proofing_raised', actorType: 'system', accountId: citizen?.sub, clientId: found.clientId, channel: found.channel, details: { evidence_id: evidenceId, to: found.method } }, { trx: t }),
        );
        return { raised };
      });
      if (!moved) return refuse('not_pending');
      return { ok: true, raised: moved.raised };
    },
  };
}
export type IdentityProofing = ReturnType<typeof identityProofing>;
