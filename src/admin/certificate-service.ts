import type { Knex } from 'knex';
import { z } from 'zod';
import { uniqueViolation } from '../accounts/account-store.js';
import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import {
  approvedType,
  certificateTypeChange,
  certificateTypeInput,
  claimsValidator,
  incompatibleChanges,
  vctOf,
  type CertificateStatus,
  type CertificateTypeVersion,
  type Certificate,
  type CertificateIssuance,
  type CertificateStore,
  type CertificateType,
  type ClaimValues,
} from '../credentials/index.js';
import { isYihaoError } from '../errors.js';
import { HIDDEN_TEXT_MESSAGE, showsAsWritten } from '../visible-text.js';
import { maskCitizenId, parseCitizenId } from '../identity/index.js';
import type { Database } from '../storage/database.js';
import { AdminError, notFound } from './admin-error.js';
import type { DepartmentSystem } from './department-system-auth.js';
import type { DepartmentStore } from './departments.js';
import type { Guard, Target } from './guard.js';
import { isNationalSuperAdmin } from './review-rules.js';
import type { AdminAction } from '../audit/index.js';
import { offsetOf, paging, type Page } from './paging.js';
import type { Operator } from './roles.js';
import { oneLine, parseInput } from './validate.js';

export { certificateTypeChange, certificateTypeInput };

const DAY = 86_400_000;

/** Two claim sets alike, whatever order their names came in. */
const sameClaims = (a: ClaimValues, b: ClaimValues): boolean => {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((n) => Object.hasOwn(b, n) && a[n] === b[n]);
};
/**
 * A certificate's validity lies within years 1000 to 9999 (UTC): dates are shown as ISO 8601, whose
 * plain form has four-digit years, and a date an offset pushes past 9999 (`9999-12-31T23:59-23:59`)
 * was stored and then answered 500 on every list.
 */
const EARLIEST = Date.UTC(1000, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const certificatePushInput = z
  .object({
    /** The certificate type's id. */
    type: z.string().min(1).max(40),
    /** The issuing department: the pushing system's own. */
    department_id: z.string().min(1).max(32),
    /** The citizen's ID number: looked up through the citizen index, never stored or echoed. */
    citizen_id: z.string().min(1).max(40),
    claims: z.record(z.string(), z.unknown()),
    valid_from: z.iso.datetime({ offset: true }).optional(),
    valid_until: z.iso.datetime({ offset: true }).optional(),
    /** Repeating a push with the same key returns the certificate the first one made. */
    idempotency_key: z.string().regex(/^[A-Za-z0-9._:-]{8,128}$/, 'must be 8 to 128 letters, digits or ._:-').optional(),
  })
  .strict();

export const certificateListQuery = z.object({ type: oneLine().min(1).max(40).optional(), ...paging }).strict();
export const CERTIFICATE_STATUSES = ['valid', 'suspended', 'revoked'] as const satisfies readonly CertificateStatus[];
/** An operator's list of a department's certificates: by type and status. */
export const operatorCertificateQuery = z.object({ type: oneLine().min(1).max(40).optional(), status: z.enum(CERTIFICATE_STATUSES).optional(), ...paging }).strict();

/** A certificate as an operator lists it: with the citizen's ID number masked, never whole, and never the claims. */
export type ListedCertificate = Certificate & { citizenIdMasked: string | undefined };
// The reason goes to the audit log and the console's pages: it must read as written there.
export const certificateRevocationInput = z.object({ reason: z.string().trim().min(1).max(200).refine(showsAsWritten, HIDDEN_TEXT_MESSAGE).optional() }).strict();
/** An approval names the version its reviewer saw, so that a change made meanwhile is not approved unseen. */
export const certificateTypeApproval = z.object({ version: z.number().int().min(1) }).strict();

/**
 * Department certificates at the admin API. Operators define certificate types for departments in
 * their scope (`certificate.define`) and revoke certificates there (`certificate.revoke`), audited
 * like every admin action. A department's system (department-system-auth.ts) pushes and lists
 * certificates of its own department's types only.
 */
export function certificateService(d: { db: Database; audit: AuditLog; accounts: Pick<Accounts, 'findByIdentifier' | 'findById' | 'findByIds'>; departments: DepartmentStore; guard: Guard; issuer: string; certificates: { store: CertificateStore; issuance: CertificateIssuance } }) {
  const store = d.certificates.store;

  async function typesOf(op: Operator): Promise<CertificateType[]> {
    const scopes = await d.guard.scopes(op, 'certificate.define', 'certificate_type.list');
    const { items } = await d.departments.within(scopes);
    return store.types(items.map((x) => x.id));
  }

  /** A push's claims against its type's schema; problems are named `claims.<name>`. */
  function checkedClaims(type: CertificateType, claims: unknown) {
    try {
      return parseInput(claimsValidator(type.claims), claims);
    } catch (e) {
      if (!(e instanceof AdminError) || !e.fields) throw e;
      const fields = Object.fromEntries(Object.entries(e.fields).map(([k, v]) => [k === '_' ? 'claims' : `claims.${k}`, v]));
      const [first] = Object.entries(fields);
      throw new AdminError('invalid_input', `${first![0]} ${first![1]}`, fields);
    }
  }

  /**
   * A push names a citizen by ID number, so an answer that depends on whether the number has an
   * account is a lookup of a citizen: on record, as an operator's is (never the number), so that a
   * department system probing numbers leaves a trace.
   */
  async function refusedLookup(system: DepartmentSystem, departmentId: string, reason: 'no_account' | 'idempotency_conflict' | 'scope' | 'no_type'): Promise<void> {
    await d.audit.append({
      action: 'admin.denied',
      actorType: 'client',
      actorId: system.clientId,
      clientId: system.clientId,
      departmentId,
      ip: system.ip,
      requestId: system.requestId,
      details: { operation: 'certificate.push', reason },
    });
  }

  /**
   * The certificate an earlier push with the same key made, if this push asks for the same one: the
   * same type, citizen and claims, and the same dates where this one names them (left out, they
   * were the defaults of that moment). Anything else is another certificate under a used key: 409,
   * not the earlier one answered as if the new claims had been issued.
   */
  async function replayed(system: DepartmentSystem, key: string, type: CertificateType, accountId: string, asked: { claims: ClaimValues; validFrom?: number | undefined; validUntil?: number | undefined }): Promise<Certificate> {
    const earlier = await store.byIdempotencyKey(system.clientId, key);
    if (!earlier) throw new Error('idempotency key vanished');
    const sameDates = (asked.validFrom === undefined || asked.validFrom === earlier.validFrom) && (asked.validUntil === undefined || asked.validUntil === earlier.validUntil);
    if (earlier.typeId !== type.id || earlier.accountId !== accountId || !sameDates || !sameClaims(await store.claims(earlier), asked.claims)) {
      await refusedLookup(system, type.departmentId, 'idempotency_conflict');
      throw new AdminError('conflict', 'idempotency_key was used before for another certificate');
    }
    return earlier;
  }

  /** Writes an action's audit event in its transaction, as an operator or as the system (the CLI). */
  type Recorder = (action: AdminAction, target: Target, details: Record<string, unknown>, trx: Knex.Transaction) => Promise<void>;
  const asOperator = (op: Operator): Recorder => (action, target, details, trx) => d.guard.record(op, action, target, details, trx);
  const asSystem: Recorder = (action, target, details, trx) => d.guard.recordSystem(action, target, details, trx);

  /** `approved`: in force at once (the server's own authority, the CLI); else pending a second national super-admin's approval. */
  async function define(departmentId: string, input: z.output<typeof certificateTypeInput>, by: string, record: Recorder, approved: boolean): Promise<CertificateType> {
    const now = Date.now();
    const type: Omit<CertificateType, 'version' | 'updatedAt' | 'retiredAt' | 'pendingVersion'> = {
      id: input.id,
      departmentId,
      vct: vctOf(d.issuer, input.id),
      names: input.names,
      claims: input.claims,
      validityDays: input.validity_days,
      createdBy: by,
      createdAt: now,
      approvedAt: approved ? now : undefined,
      approvedBy: approved ? by : undefined,
    };
    await d.db.transaction(async (trx: Knex.Transaction) => {
      if (!(await store.insertType(type, trx))) throw new AdminError('conflict', `a certificate type ${input.id} exists already`);
      await record('admin.certificate_type.created', { departmentId }, { type: type.id, vct: type.vct, claims: Object.keys(type.claims), status: approved ? 'active' : 'pending' }, trx);
    });
    return { ...type, version: 1, updatedAt: undefined, retiredAt: undefined, pendingVersion: undefined };
  }

  /**
   * A new version of a type. An operator's change to a type in force waits as its pending version
   * until a second national super-admin approves it (approveType): one department admin could
   * otherwise show one certificate as another, under names and a vct the national department
   * approved. Such a change builds on the latest version, the pending one if any, which it
   * replaces. A change to a type still pending is part of what its approval reviews, and the
   * server's own change (the CLI) is in force at once; both build on the version in force and drop
   * a pending one, so that nothing goes in force that its author did not write.
   */
  async function update(type: CertificateType, change: z.output<typeof certificateTypeChange>, by: string, record: Recorder, authority: 'operator' | 'server'): Promise<CertificateType> {
    if (type.retiredAt !== undefined) throw new AdminError('conflict', 'a retired certificate type cannot be changed');
    const proposal = authority === 'operator' && approvedType(type);
    const latest = type.pendingVersion ?? type.version;
    const builtOn = proposal ? latest : type.version;
    if (change.base_version !== undefined && change.base_version !== builtOn) throw new AdminError('conflict', `the certificate type is at version ${builtOn} now, not ${change.base_version}`);
    const problems = change.claims ? incompatibleChanges(type.claims, change.claims) : {};
    const [first] = Object.entries(problems);
    if (first) throw new AdminError('invalid_input', `${first[0]} ${first[1]}`, problems);
    const base = proposal && type.pendingVersion !== undefined ? ((await store.typeVersion(type.id, type.pendingVersion)) ?? type) : type;
    const now = Date.now();
    const inForce = !proposal && approvedType(type);
    const next: CertificateTypeVersion = {
      version: latest + 1,
      names: change.names ?? base.names,
      claims: change.claims ?? base.claims,
      validityDays: change.validity_days ?? base.validityDays,
      createdBy: by,
      createdAt: now,
      approvedAt: inForce ? now : undefined,
      approvedBy: inForce ? by : undefined,
    };
    await d.db.transaction(async (trx: Knex.Transaction) => {
      const done = proposal ? await store.proposeVersion(type.id, next, type, trx) : await store.updateType(type.id, next, type, trx);
      if (!done) throw new AdminError('conflict', 'the certificate type changed meanwhile; reload it and try again');
      const changed = (['names', 'claims', 'validity_days'] as const).filter((k) => change[k] !== undefined);
      await record('admin.certificate_type.updated', { departmentId: type.departmentId }, { type: type.id, before: { version: builtOn }, after: { version: next.version }, changed, claims: Object.keys(next.claims), status: inForce ? 'active' : 'pending' }, trx);
    });
    if (proposal) return { ...type, pendingVersion: next.version };
    return { ...type, version: next.version, names: next.names, claims: next.claims, validityDays: next.validityDays, updatedAt: now, pendingVersion: undefined };
  }

  async function retire(type: CertificateType, reason: string | undefined, record: Recorder): Promise<CertificateType> {
    const at = Date.now();
    await d.db.transaction(async (trx: Knex.Transaction) => {
      if (!(await store.retireType(type.id, at, trx))) throw new AdminError('conflict', 'the certificate type is retired already');
      await record('admin.certificate_type.retired', { departmentId: type.departmentId }, { type: type.id, version: type.version, ...(reason ? { reason } : {}) }, trx);
    });
    return { ...type, retiredAt: at, updatedAt: at };
  }

  return {
    /**
     * A type's id becomes its `vct`, the name every verifier takes for that kind of certificate: a
     * department's own admin naming one could take another department's name ("driving_licence"
     * for a bureau that issues none) and keep it from its owner. So the national department allots
     * the names: a super-admin of a national department defines a type for a department, which
     * then changes and retires it on its own.
     */
    async defineType(op: Operator, input: z.output<typeof certificateTypeInput>): Promise<CertificateType> {
      const dept = await d.guard.require(op, 'certificate.define', 'certificate_type.create', await d.departments.find(input.department_id));
      if (!isNationalSuperAdmin(op, dept.path)) {
        await d.guard.deny(op, 'certificate_type.create', 'national_review', { departmentId: dept.id }, 'a certificate type is defined by a super-admin of a national department: its id is the name verifiers everywhere trust for that kind of certificate, so no department names its own; ask them, then change and retire it in your department');
      }
      return define(dept.id, input, op.sub, asOperator(op), false);
    },

    /**
     * Puts a pending type, or a type's pending version, in force. Naming a type and what it shows
     * is the national department's act, so it takes a second super-admin of a national department
     * over the type's department, who wrote none of what is under review (every version of a type
     * still pending; every version since the one in force), and who names the version they
     * reviewed (409 if another replaced it meanwhile).
     */
    async approveType(op: Operator, id: string, input: z.output<typeof certificateTypeApproval>): Promise<CertificateType> {
      const { type, versions } = await this.showType(op, id, 'certificate_type.approve');
      const target = { departmentId: type.departmentId };
      const dept = await d.departments.find(type.departmentId);
      if (!dept || !isNationalSuperAdmin(op, dept.path)) {
        await d.guard.deny(op, 'certificate_type.approve', 'national_review', target, 'a certificate type is approved by a super-admin of a national department over its department, other than whoever defined or changed it');
      }
      const underReview = approvedType(type) ? versions.filter((v) => v.version > type.version) : versions;
      if (underReview.some((v) => v.createdBy === op.sub)) await d.guard.deny(op, 'certificate_type.approve', 'self_approval', target);
      if (type.retiredAt !== undefined) throw new AdminError('conflict', 'the certificate type is retired');
      const pending = approvedType(type) ? versions.find((v) => v.version === type.pendingVersion) : versions.find((v) => v.version === type.version);
      if (!pending) throw new AdminError('conflict', 'no version of the certificate type awaits approval');
      if (input.version !== pending.version) throw new AdminError('conflict', `version ${pending.version} of the certificate type awaits approval now, not ${input.version}: review that version`);
      const at = Date.now();
      await d.db.transaction(async (trx: Knex.Transaction) => {
        const done = approvedType(type) ? await store.approveVersion(type.id, pending, type.version, op.sub, at, trx) : await store.approveType(type.id, pending.version, op.sub, at, trx);
        if (!done) throw new AdminError('conflict', 'the certificate type changed meanwhile; reload it and review it again');
        await d.guard.record(op, 'admin.certificate_type.approved', target, { type: type.id, version: pending.version }, trx);
      });
      if (!approvedType(type)) return { ...type, approvedAt: at, approvedBy: op.sub, updatedAt: at };
      return { ...type, version: pending.version, names: pending.names, claims: pending.claims, validityDays: pending.validityDays, pendingVersion: undefined, updatedAt: at };
    },

    async listTypes(op: Operator): Promise<CertificateType[]> {
      return typesOf(op);
    },

    /** One type with its versions, for an operator who may define types for its department. */
    async showType(op: Operator, id: string, operation = 'certificate_type.get'): Promise<{ type: CertificateType; versions: CertificateTypeVersion[] }> {
      const type = /^[a-z][a-z0-9_]{2,39}$/.test(id) ? await store.type(id) : undefined;
      await d.guard.require(op, 'certificate.define', operation, type && (await d.departments.find(type.departmentId)));
      return { type: type!, versions: await store.typeVersions(type!.id) };
    },

    /**
     * A new version of a type. Certificates already pushed keep the version they were checked
     * against; a schema that would drop or retype a claim they carry is refused (400, by field).
     */
    async updateType(op: Operator, id: string, change: z.output<typeof certificateTypeChange>): Promise<CertificateType> {
      const { type } = await this.showType(op, id, 'certificate_type.update');
      return update(type, change, op.sub, asOperator(op), 'operator');
    },

    /** Retires a type: no new pushes; certificates already issued stay valid (and go to wallets) until revoked. */
    async retireType(op: Operator, id: string, input: z.output<typeof certificateRevocationInput>): Promise<CertificateType> {
      const { type } = await this.showType(op, id, 'certificate_type.retire');
      return retire(type, input.reason, asOperator(op));
    },

    /**
     * The same with the server's own authority, for the CLI (`yihao certificate-type`): no operator
     * and no department scope behind them, audited as the system with `via: "cli"`.
     */
    system: {
      async listTypes(departmentIds?: readonly string[]): Promise<CertificateType[]> {
        return store.types(departmentIds);
      },
      async showType(id: string): Promise<{ type: CertificateType; versions: CertificateTypeVersion[] }> {
        const type = /^[a-z][a-z0-9_]{2,39}$/.test(id) ? await store.type(id) : undefined;
        if (!type) throw notFound('certificate type');
        return { type, versions: await store.typeVersions(type.id) };
      },
      async defineType(input: z.output<typeof certificateTypeInput>): Promise<CertificateType> {
        const dept = await d.departments.find(input.department_id);
        if (!dept) throw notFound('department');
        // The bootstrap step, as creating a client is: in force at once, audited as the system.
        return define(dept.id, input, 'cli', asSystem, true);
      },
      async updateType(id: string, change: z.output<typeof certificateTypeChange>): Promise<CertificateType> {
        return update((await this.showType(id)).type, change, 'cli', asSystem, 'server');
      },
      async retireType(id: string, reason?: string): Promise<CertificateType> {
        return retire((await this.showType(id)).type, reason, asSystem);
      },
    },

    /**
     * A department's certificates for its operators (`certificate.revoke` over it: those who act on
     * them), newest first, with each citizen's ID number masked. Another department's answer 404.
     */
    /** One certificate of the operator's departments (`certificate.revoke` over it), with the ID number masked. */
    async getForOperator(op: Operator, id: string): Promise<ListedCertificate> {
      const found = /^[A-Za-z0-9_-]{22}$/.test(id) ? await store.find(id) : undefined;
      await d.guard.require(op, 'certificate.revoke', 'certificate.get', found && (await d.departments.find(found.departmentId)));
      const account = await d.accounts.findById(found!.accountId);
      return { ...found!, citizenIdMasked: account && maskCitizenId(account.citizenId()) };
    },

    async listForOperator(op: Operator, departmentId: string, filter: z.input<typeof operatorCertificateQuery>): Promise<Page<ListedCertificate>> {
      const dept = await d.guard.require(op, 'certificate.revoke', 'certificate.list', await d.departments.find(departmentId));
      // The console hands its filter over unparsed.
      const query = parseInput(operatorCertificateQuery, filter);
      const { items, total } = await store.listByDepartment([dept.id], { offset: offsetOf(query), limit: query.per_page, typeId: query.type, status: query.status });
      const accounts = new Map((await d.accounts.findByIds(items.map((c) => c.accountId))).map((a) => [a.id, a]));
      const listed = items.map((c) => {
        const account = accounts.get(c.accountId);
        return { ...c, citizenIdMasked: account && maskCitizenId(account.citizenId()) };
      });
      return { items: listed, total, page: query.page, per_page: query.per_page };
    },

    async push(system: DepartmentSystem, input: z.output<typeof certificatePushInput>): Promise<Certificate> {
      // Tries at another department's certificates are on record as the client, as lookups are; and
      // another department's type answers as a missing one, so that ids defined but not yet
      // published are not told apart from none.
      if (input.department_id !== system.departmentId) {
        await refusedLookup(system, system.departmentId, 'scope');
        throw new AdminError('forbidden', 'a department system pushes certificates of its own department only');
      }
      const type = await store.type(input.type);
      if (!type || type.departmentId !== system.departmentId) {
        await refusedLookup(system, system.departmentId, 'no_type');
        throw notFound('certificate type');
      }
      if (type.retiredAt !== undefined) throw new AdminError('conflict', 'this certificate type is retired: it takes no new certificates');
      if (type.approvedAt === undefined) throw new AdminError('conflict', 'this certificate type awaits approval by a second super-admin of a national department: it takes no certificates yet');
      const claims = checkedClaims(type, input.claims);
      let citizenId: string;
      try {
        citizenId = parseCitizenId(input.citizen_id);
      } catch {
        throw new AdminError('invalid_input', 'citizen_id is not a valid citizen ID number', { citizen_id: 'is not a valid citizen ID number' });
      }
      // Everything the request alone decides is checked before the number is looked up: an answer
      // that came only after the lookup would tell whether the number has an account, unrecorded.
      const now = Date.now();
      const validFrom = input.valid_from ? Date.parse(input.valid_from) : now;
      const validUntil = input.valid_until ? Date.parse(input.valid_until) : validFrom + type.validityDays * DAY;
      if (validFrom < EARLIEST) throw new AdminError('invalid_input', 'valid_from must be in the year 1000 or later', { valid_from: 'must be in the year 1000 or later' });
      if (validUntil > LATEST) throw new AdminError('invalid_input', 'valid_until must be before the year 10000 (UTC), the default validity included', { valid_until: 'must be before the year 10000 (UTC)' });
      if (validUntil <= validFrom) throw new AdminError('invalid_input', 'valid_until must be after valid_from', { valid_until: 'must be after valid_from' });
      if (validUntil <= now) throw new AdminError('invalid_input', 'valid_until must be in the future', { valid_until: 'must be in the future' });
      const account = await d.accounts.findByIdentifier(citizenId);
      if (!account) {
        await refusedLookup(system, type.departmentId, 'no_account');
        throw new AdminError('not_found', 'no account for this citizen ID number');
      }
      const asked = { claims, validFrom: input.valid_from ? validFrom : undefined, validUntil: input.valid_until ? validUntil : undefined };
      if (input.idempotency_key && (await store.byIdempotencyKey(system.clientId, input.idempotency_key))) return replayed(system, input.idempotency_key, type, account.id, asked);
      try {
        return await d.db.transaction(async (trx) => {
          const { certificate } = await store.insert(
            { typeId: type.id, typeVersion: type.version, departmentId: type.departmentId, accountId: account.id, claims, validFrom, validUntil, pushedBy: system.clientId, createdAt: now, idempotencyKey: input.idempotency_key },
            trx,
          );
          await d.audit.append(
            {
              action: 'vc.certificate_pushed',
              actorType: 'client',
              actorId: system.clientId,
              clientId: system.clientId,
              accountId: account.sub,
              departmentId: type.departmentId,
              ip: system.ip,
              requestId: system.requestId,
              details: { certificate_id: certificate.id, type: type.id, type_version: type.version, valid_until: new Date(validUntil).toISOString() },
            },
            { trx },
          );
          return certificate;
        });
      } catch (e) {
        // Two pushes with one key at once: the loser answers with the winner's certificate.
        if (input.idempotency_key && uniqueViolation(e)) return replayed(system, input.idempotency_key, type, account.id, asked);
        throw e;
      }
    },

    async listForSystem(system: DepartmentSystem, query: z.output<typeof certificateListQuery>): Promise<Page<Certificate>> {
      const { items, total } = await store.listByDepartment([system.departmentId], { offset: offsetOf(query), limit: query.per_page, typeId: query.type });
      return { items, total, page: query.page, per_page: query.per_page };
    },

    async suspend(op: Operator, id: string, suspend: boolean, input: z.output<typeof certificateRevocationInput>): Promise<Certificate> {
      const operation = suspend ? 'certificate.suspend' : 'certificate.resume';
      const found = /^[A-Za-z0-9_-]{22}$/.test(id) ? await store.find(id) : undefined;
      await d.guard.require(op, 'certificate.revoke', operation, found && (await d.departments.find(found.departmentId)));
      const account = await d.accounts.findById(found!.accountId);
      try {
        return await d.certificates.issuance.suspend(found!, suspend, { sub: op.sub, ip: op.ip, requestId: op.requestId }, account?.sub, input.reason);
      } catch (e) {
        if (isYihaoError(e)) throw new AdminError(e.status === 409 ? 'conflict' : 'invalid_input', e.message);
        throw e;
      }
    },

    async revoke(op: Operator, id: string, input: z.output<typeof certificateRevocationInput>): Promise<Certificate> {
      const found = /^[A-Za-z0-9_-]{22}$/.test(id) ? await store.find(id) : undefined;
      await d.guard.require(op, 'certificate.revoke', 'certificate.revoke', found && (await d.departments.find(found.departmentId)));
      const account = await d.accounts.findById(found!.accountId);
      try {
        return await d.certificates.issuance.revoke(found!, { sub: op.sub, ip: op.ip, requestId: op.requestId }, account?.sub, input.reason);
      } catch (e) {
        if (isYihaoError(e)) throw new AdminError(e.status === 409 ? 'conflict' : 'invalid_input', e.message);
        throw e;
      }
    },
  };
}
export type CertificateService = ReturnType<typeof certificateService>;
