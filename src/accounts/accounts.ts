import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { YihaoError } from '../errors.js';
import { birthDateOf, genderOf, isCitizenIdShaped, parseCitizenId, type CitizenId } from '../identity/index.js';
import type { CitizenIdVault } from '../identity/index.js';
import { accountStore, uniqueViolation, type AccountRow, type AccountWithPassword } from './account-store.js';
import type { HashLoad, HashPlace, PasswordHasher } from './password-hasher.js';
import { normalisePhone } from './phone.js';
import type { Database } from '../storage/database.js';
import type { Lockout } from './lockout.js';
import { forget, once } from '../storage/request-memo.js';
import { accountKey } from '../storage/oidc-adapter.js';

/** A conditional status change (`setStatus` with `from`) found the account already changed: another change got there first. */
export class StatusChanged extends Error {
  constructor() {
    super('the account status changed meanwhile');
    this.name = 'StatusChanged';
  }
}

const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('base64url')}`;

/** An account's name, wherever it comes from (a form, the admin API, an upstream's claim). */
export const accountName = z
  .string()
  .trim()
  .min(1, 'the name is required')
  .max(64, 'the name is longer than 64 characters')
  .refine((s) => !/[\p{Cc}\p{Cf}]/u.test(s), 'the name contains control characters');

export const accountInput = z.object({
  citizenId: z.string().max(64, 'the ID number is too long'),
  name: accountName,
  password: z.string().min(8, 'the password needs at least 8 characters').max(128, 'the password is longer than 128 characters'),
  phone: z.string().max(32).optional(),
});
export type AccountInput = z.input<typeof accountInput>;

/** How the binding to the ID number was proven at creation (registration's registry check), and when (epoch ms). */
export interface IdentityProof {
  assurance: Exclude<AccountRow['assurance'], 'self_asserted'>;
  at: number;
}

export interface Account {
  id: string;
  sub: string;
  status: AccountRow['status'];
  name: string;
  phone: string | undefined;
  assurance: AccountRow['assurance'];
  /** When the assurance was established (epoch ms); undefined while self-asserted. */
  assuranceAt: number | undefined;
  /** Epoch seconds: a login before it is not honoured (the account was signed out everywhere then). */
  notBefore: number | undefined;
  /** Epoch ms: the password's last reset by SMS; a recovery hold runs from it (recovery-hold.ts). */
  recoveredAt: number | undefined;
  createdAt: number;
  /** Opens the sealed citizen ID; call only where the number is really needed. */
  citizenId(): CitizenId;
  /** Birth date and gender, which the ID number states; opens the sealed ID only the first time this process sees it. */
  profile(): DerivedProfile;
}

export interface DerivedProfile {
  birthdate: string;
  gender: 'male' | 'female';
}

/**
 * Every userinfo and every ID token states birth date and gender, and opening the sealed ID for
 * them (AES-GCM) was the largest cost of building claims. They are kept per row and sealed value
 * (the value opens only for its own row, so a value copied to another row must miss here and be
 * opened, and refused, there); a re-sealed or changed ID is a new entry; only these two derived
 * facts are held, never the number. Bounded, oldest first out: a busy instance keeps its recently
 * active citizens. One memo per vault, so a value is only ever answered for by the keys that opened it.
 */
const MAX_PROFILES = 20_000;

function profileMemo(vault: CitizenIdVault): (row: AccountRow) => DerivedProfile {
  const profiles = new Map<string, DerivedProfile>();
  return (row) => {
    const key = `${row.id}\n${row.citizen_index}\n${row.citizen_sealed}`;
    let found = profiles.get(key);
    if (!found) {
      const id = vault.open(row.citizen_sealed, ownerOf(row));
      found = Object.freeze({ birthdate: birthDateOf(id), gender: genderOf(id) });
      if (profiles.size >= MAX_PROFILES) profiles.delete(profiles.keys().next().value!);
      profiles.set(key, found);
    }
    return found;
  };
}

const ownerOf = (row: AccountRow) => ({ accountId: row.id, citizenIndex: row.citizen_index });

/**
 * What a password check tells the caller. `invalid` covers an unknown identifier, a wrong password
 * and an account that is not active, so they cannot be told apart; `throttled` (this address must
 * wait until `until`) comes alike for all of them too. `distributedLock` names the account (`sub`)
 * whose distributed lock this failure began, for the audit log only: the answer does not show it.
 */
export type PasswordCheck =
  | { ok: true; account: Account }
  | { ok: false; reason: 'invalid'; distributedLock?: { sub: string; until: Date } }
  | { ok: false; reason: 'throttled'; until: Date };
export function createAccounts({ db, vault, hasher, lockout, keyed }: {
  db: Database;
  vault: CitizenIdVault;
  hasher: PasswordHasher;
  lockout: Lockout;
  /** A keyed hash (the blind index's), so that an identifier naming no account gets a lockout subject of its own. */
  keyed: (purpose: string, value: string) => string;
}) {
  const store = accountStore(db);
  const profileOf = profileMemo(vault);

  const toAccount = (row: AccountRow): Account => ({
    id: row.id,
    sub: row.sub,
    status: row.status,
    name: row.name,
    phone: row.phone ?? undefined,
    assurance: row.assurance,
    assuranceAt: row.assurance_at === null ? undefined : Number(row.assurance_at),
    notBefore: row.not_before === null || row.not_before === undefined ? undefined : Number(row.not_before),
    recoveredAt: row.recovered_at === null || row.recovered_at === undefined ? undefined : Number(row.recovered_at),
    createdAt: Number(row.created_at),
    citizenId: () => vault.open(row.citizen_sealed, ownerOf(row)),
    profile: () => profileOf(row),
  });

  /** With `withPassword`, the row carries its password hash too (one round trip for a sign-in). */
  async function findByIdentifier(identifier: string, withPassword?: false): Promise<AccountRow | undefined>;
  async function findByIdentifier(identifier: string, withPassword: true): Promise<AccountWithPassword | undefined>;
  async function findByIdentifier(identifier: string, withPassword = false): Promise<AccountRow | undefined> {
    const trimmed = identifier.trim();
    if (isCitizenIdShaped(trimmed)) {
      let id: CitizenId;
      try {
        id = parseCitizenId(trimmed);
      } catch {
        return undefined;
      }
      // One index, or two during a re-index: one query either way.
      const indexes = vault.lookupIndexes(id);
      return withPassword ? store.byCitizenIndexWithPassword(indexes) : store.byCitizenIndex(indexes);
    }
    const phone = normalisePhone(trimmed);
    if (!phone) return undefined;
    return withPassword ? store.byPhoneWithPassword(phone) : store.byPhone(phone);
  }

  /**
   * The lockout subject for an identifier: the account it names, else a keyed hash of the identifier
   * in its canonical form. Guesses at a number with no account are then slowed exactly like guesses
   * at one with an account, and the stored subject says nothing about the number.
   */
  function subjectOf(identifier: string, row: AccountRow | undefined): string {
    if (row) return row.id;
    const trimmed = identifier.trim();
    const canonical = normalisePhone(trimmed) ?? trimmed.toUpperCase();
    return `u_${keyed('lockout-subject', canonical).slice(0, 30)}`;
  }

  async function checkPassword(place: HashPlace, identifier: string, password: string, ip: string): Promise<PasswordCheck> {
    const row = await findByIdentifier(identifier, true);
    const credential = row?.status === 'active' && row.password_id && row.password_secret ? { id: row.password_id, secret: row.password_secret } : undefined;
    const subject = subjectOf(identifier, row);
    const gate = await lockout.beginAttempt(subject, ip);
    if (gate.locked) return { ok: false, reason: 'throttled', until: gate.until };
    const ok = credential ? await place.verify(credential.secret, password) : await place.verifyNothing(password);
    if (!ok || !row || !credential) {
      const after = gate.ifFailed;
      return after.locked && after.lockedNow && row ? { ok: false, reason: 'invalid', distributedLock: { sub: row.sub, until: after.until } } : { ok: false, reason: 'invalid' };
    }
    await lockout.recordSuccess(subject, ip);
    await store.touchCredential(credential.id, Date.now());
    return { ok: true, account: toAccount(row) };
  }

  return {
    /** Slows guessing per (account, address); operators lift a distributed lock with `lockout.unlock(account.id)`. */
    lockout,

    /**
     * A place in the argon2 queue, or `Overloaded` (503 + Retry-After) when it is full. A flow that
     * consumes something before it hashes (a one-time code, a pending registration) reserves first,
     * so that a shed request leaves everything as it was; it passes the place to `create` or
     * `replacePassword`, and releases it in a `finally`.
     */
    reserveHashing: (): HashPlace => hasher.reserve(),
    /** The argon2 queue now (for metrics). */
    hashingLoad: (): HashLoad => hasher.load(),

    /**
     * Creates an account bound to one citizen ID, with a password credential. With `proof`, the
     * assurance is recorded in the same insert: there is never a moment with a self-asserted row.
     * `record` writes the creation's audit event in the same transaction: no account without it.
     */
    async create(input: AccountInput, proof?: IdentityProof, place?: HashPlace, record?: (account: Account, trx: Knex.Transaction) => Promise<void>): Promise<Account> {
      const parsed = accountInput.safeParse(input);
      if (!parsed.success) throw new YihaoError('invalid_input', parsed.error.issues[0]!.message);
      const { name, password } = parsed.data;
      const citizenId = parseCitizenId(parsed.data.citizenId);
      let phone: string | undefined;
      if (parsed.data.phone !== undefined) {
        phone = normalisePhone(parsed.data.phone);
        if (!phone) throw new YihaoError('invalid_input', 'the mobile number must be a mainland China mobile number (11 digits starting with 1)');
      }
      const index = vault.index(citizenId);
      const duplicate = new YihaoError('duplicate_citizen_id', 'an account already exists for this ID number', 409);
      if (await store.byCitizenIndex(vault.lookupIndexes(citizenId))) throw duplicate;
      if (phone && (await store.byPhone(phone))) throw new YihaoError('duplicate_phone', 'this mobile number is already bound to another account', 409);

      const now = Date.now();
      const accountId = newId('a_');
      const row: AccountRow = {
        id: accountId,
        sub: randomBytes(16).toString('base64url'),
        status: 'active',
        citizen_index: index,
        citizen_sealed: vault.seal(citizenId, accountId),
        name,
        phone: phone ?? null,
        assurance: proof?.assurance ?? 'self_asserted',
        assurance_at: proof?.at ?? null,
        created_at: now,
        updated_at: now,
      };
      const secret = await (place ?? hasher).hash(password);
      const account = toAccount(row);
      try {
        await store.insertWithCredential(row, { id: newId('c_'), account_id: row.id, type: 'password', secret, created_at: now, last_used_at: null }, record && ((trx) => record(account, trx)));
      } catch (e) {
        const which = uniqueViolation(e);
        if (which === undefined) throw e;
        // Lost a race with a concurrent create of the same person: same answer as the check above.
        if (which.includes('phone')) throw new YihaoError('duplicate_phone', 'this mobile number is already bound to another account', 409);
        throw duplicate;
      }
      return account;
    },

    /**
     * Checks an identifier (ID number or mobile number) and password from client address `ip`.
     * Unknown identifiers and accounts that are not active cost the same time as wrong passwords
     * and get the same answers, throttling included, so accounts cannot be enumerated that way.
     *
     * Each check counts against the subject's lockout (see lockout.ts), which the other guessable
     * methods (SMS and TOTP codes) share. A throttled attempt is refused without looking at the
     * password: a guesser hammering one account from one address costs us no hashing.
     */
    async verifyPassword(identifier: string, password: string, ip: string): Promise<PasswordCheck> {
      // Shed (throws `Overloaded`) before the guess is counted: a full queue must not cost the citizen an attempt.
      const place = hasher.reserve();
      try {
        return await checkPassword(place, identifier, password, ip);
      } finally {
        place.release();
      }
    },

    /** The account an ID number or mobile number names, with its lockout subject (the identifier's own keyed one when none). */
    async lockoutSubjectOf(identifier: string): Promise<{ subject: string; account: Account | undefined }> {
      const row = await findByIdentifier(identifier);
      return { subject: subjectOf(identifier, row), account: row && toAccount(row) };
    },

    /** The lockout subject of a mobile number (its account's, or the number's own when none): for SMS sign-in. */
    async lockoutSubjectOfPhone(phone: string): Promise<{ subject: string; account: Account | undefined }> {
      const e164 = normalisePhone(phone);
      const row = e164 ? await store.byPhone(e164) : undefined;
      return { subject: subjectOf(phone, row), account: row && toAccount(row) };
    },

    /** The account an ID number or mobile number names, whatever its status. */
    async findByIdentifier(identifier: string): Promise<Account | undefined> {
      const row = await findByIdentifier(identifier);
      return row && toAccount(row);
    },

    /** The account bound to a mobile number (any notation `normalisePhone` accepts). */
    async findByPhone(phone: string): Promise<Account | undefined> {
      const e164 = normalisePhone(phone);
      const row = e164 ? await store.byPhone(e164) : undefined;
      return row && toAccount(row);
    },

    /**
     * Sets a new password (argon2). The caller has proven the citizen some other way (a verified
     * SMS code) and decides what else goes with it (lockout, sessions, audit). `recovered`: it was a
     * reset by SMS, which starts the recovery hold (recovery-hold.ts) in the same transaction, so
     * that no reset lands without its hold.
     */
    /** `record` writes the change's audit event in its transaction: both land or neither. */
    async replacePassword(id: string, password: string, place?: HashPlace, opts: { recovered?: boolean; record?: (trx: Knex.Transaction) => Promise<void> } = {}): Promise<void> {
      const parsed = accountInput.shape.password.safeParse(password);
      if (!parsed.success) throw new YihaoError('invalid_input', parsed.error.issues[0]!.message);
      const secret = await (place ?? hasher).hash(password);
      const now = Date.now();
      try {
        await db.transaction(async (trx) => {
          if ((await store.replaceSecret(id, 'password', secret, now, trx)) === 0) {
            await store.insertCredential({ id: newId('c_'), account_id: id, type: 'password', secret, created_at: now, last_used_at: null }, trx);
          }
          if (opts.recovered) await store.markRecovered(id, now, trx);
          await opts.record?.(trx);
        });
      } finally {
        forget('account:');
      }
    },

    async findById(id: string): Promise<Account | undefined> {
      const row = await once(`account:id:${id}`, () => store.byId(id));
      return row && toAccount(row);
    },

    /** Several accounts in one query (a page of an operator's list); ids that name none are left out. */
    async findByIds(ids: readonly string[]): Promise<Account[]> {
      if (ids.length === 0) return [];
      const rows = (await db<AccountRow>('accounts').whereIn('id', [...new Set(ids)])) as AccountRow[];
      return rows.map(toAccount);
    },

    /**
     * `recordIn` writes what belongs with the change (its audit event) in the same transaction, so
     * that neither lands without the other.
     */
    async setStatus(
      id: string,
      status: AccountRow['status'],
      recordIn?: (trx: Knex.Transaction) => Promise<void>,
      opts: { from?: readonly AccountRow['status'][]; trx?: Knex.Transaction } = {},
    ): Promise<void> {
      const change = async (trx: Knex.Transaction) => {
        // The row first, conditionally: of two changes at once, the second finds it changed and writes no record.
        if ((await store.setStatus(id, status, Date.now(), trx, opts.from)) === 0 && opts.from) throw new StatusChanged();
        await recordIn?.(trx);
      };
      try {
        // In a transaction of the caller's (a disable's sign-out: oidc/sign-out.ts), or one of its own.
        if (opts.trx) await change(opts.trx);
        else if (recordIn) await db.transaction(change);
        else if ((await store.setStatus(id, status, Date.now(), undefined, opts.from)) === 0 && opts.from) throw new StatusChanged();
      } finally {
        forget('account:');
      }
    },

    /**
     * Records how the binding to the ID number was proven (registry check, chip, in person); with
     * `from`, only over one of those (checked in the update itself). Whether the account changed.
     */
    async setAssurance(id: string, assurance: AccountRow['assurance'], at = Date.now(), from?: readonly AccountRow['assurance'][], trx?: Knex.Transaction): Promise<boolean> {
      const changed = (await store.setAssurance(id, assurance, at, from, trx)) > 0;
      forget('account:');
      return changed;
    },

    /**
     * Signs every earlier login of the account out for good: from now on nothing authenticated
     * before this second is honoured, whatever a request in flight saves afterwards. Login times
     * are whole seconds: a login within this same second still counts, so that a citizen (or an
     * app) signing straight back in is not refused.
     */
    async notBeforeNow(accountId: string, trx?: Knex.Transaction): Promise<void> {
      await store.setNotBefore(accountId, Math.floor(Date.now() / 1000), trx);
    },

    async findBySub(sub: string): Promise<Account | undefined> {
      // oidc-provider, the channels and the interactions each ask for the account in one request.
      const row = (await once(accountKey(sub), () => store.bySub(sub))) as AccountRow | undefined;
      return row && toAccount(row);
    },
  };
}
export type Accounts = ReturnType<typeof createAccounts>;
