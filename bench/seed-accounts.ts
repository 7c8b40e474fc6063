/**
 * Bulk seeding for `npm run bench:scale`: accounts with distinct, valid synthetic citizen IDs,
 * sealed and blind-indexed as src/accounts stores them, each with a password credential. One
 * precomputed argon2 hash serves every account (so their password is SEED_PASSWORD).
 */
import { randomBytes } from 'node:crypto';
import { checkCharacter, parseCitizenId, type CitizenIdVault } from '../src/identity/index.js';
import { isPostgres, type Database } from '../src/storage/database.js';

export const SEED_PASSWORD = 'bench-seed-password-Aa1';

const REGIONS = ['110105', '310104', '440305', '510107', '330106', '650102', '420106', '320102', '210102', '530102'];
const FIRST_DAY = Date.UTC(1950, 0, 1);
const DAYS = Math.floor((Date.UTC(2005, 11, 31) - FIRST_DAY) / 86_400_000) + 1;

/**
 * The i-th seeded citizen ID: region, birth date and sequence number follow from i one to one
 * (10 regions x 20,454 birth dates x up to 1,000 sequence numbers), so the IDs are distinct.
 */
export function seededCitizenId(i: number): string {
  const region = REGIONS[i % REGIONS.length]!;
  const rest = Math.floor(i / REGIONS.length);
  const birth = new Date(FIRST_DAY + (rest % DAYS) * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
  const first17 = `${region}${birth}${String(Math.floor(rest / DAYS)).padStart(3, '0')}`;
  return first17 + checkCharacter(first17);
}

interface SeedRows {
  ids: string[];
  subs: string[];
  indexes: string[];
  sealed: string[];
  credentialIds: string[];
}

function rows(vault: CitizenIdVault, from: number, to: number): SeedRows {
  const n = to - from;
  const random = randomBytes(n * 40);
  const r: SeedRows = { ids: [], subs: [], indexes: [], sealed: [], credentialIds: [] };
  for (let k = 0; k < n; k++) {
    // Validated as a login would validate it, so every seeded row is one a citizen could sign in to.
    const id = parseCitizenId(seededCitizenId(from + k));
    const b = random.subarray(k * 40, k * 40 + 40);
    r.ids.push(`a_${b.subarray(0, 12).toString('base64url')}`);
    r.subs.push(b.subarray(12, 28).toString('base64url'));
    r.credentialIds.push(`c_${b.subarray(28, 40).toString('base64url')}`);
    r.indexes.push(vault.index(id));
    r.sealed.push(vault.seal(id, r.ids[k]!));
  }
  return r;
}

const PG_BATCH = 20_000;
const SQLITE_BATCH = 50_000;

/**
 * Inserts accounts `from`..`to - 1`. PostgreSQL: one multi-row INSERT ... SELECT FROM unnest(arrays)
 * per table and batch, each batch in its own transaction. SQLite: prepared statements, all rows in
 * one transaction on better-sqlite3's own connection.
 */
export async function seedAccounts(db: Database, vault: CitizenIdVault, passwordHash: string, from: number, to: number, progress?: (done: number) => void): Promise<void> {
  const now = Date.now();
  if (isPostgres(db)) {
    for (let start = from; start < to; start += PG_BATCH) {
      const end = Math.min(to, start + PG_BATCH);
      const r = rows(vault, start, end);
      await db.transaction(async (trx) => {
        await trx.raw(
          `insert into accounts (id, sub, status, citizen_index, citizen_sealed, name, phone, assurance, assurance_at, created_at, updated_at)
           select id, sub, 'active', citizen_index, citizen_sealed, '测试', null, 'self_asserted', null, ?::bigint, ?::bigint
           from unnest(?::text[], ?::text[], ?::text[], ?::text[]) as t(id, sub, citizen_index, citizen_sealed)`,
          [now, now, r.ids, r.subs, r.indexes, r.sealed],
        );
        await trx.raw(
          `insert into credentials (id, account_id, type, secret, created_at, last_used_at)
           select id, account_id, 'password', ?, ?::bigint, null from unnest(?::text[], ?::text[]) as t(id, account_id)`,
          [passwordHash, now, r.credentialIds, r.ids],
        );
      });
      progress?.(end - from);
    }
    await db.raw('analyze accounts');
    await db.raw('analyze credentials');
    return;
  }
  type Statement = { run(...values: unknown[]): unknown };
  type Connection = { prepare(sql: string): Statement; transaction(fn: () => void): () => void; pragma(s: string): unknown };
  const conn = (await db.client.acquireConnection()) as Connection;
  try {
    // Random keys (blind index, sub, id) touch index pages all over the file; with the default 2 MB
    // page cache each insert reads them back from the OS. The setting lasts as long as this connection.
    conn.pragma('cache_size = -524288');
    const account = conn.prepare(
      `insert into accounts (id, sub, status, citizen_index, citizen_sealed, name, phone, assurance, assurance_at, created_at, updated_at)
       values (?, ?, 'active', ?, ?, '测试', null, 'self_asserted', null, ?, ?)`,
    );
    const credential = conn.prepare(`insert into credentials (id, account_id, type, secret, created_at, last_used_at) values (?, ?, 'password', ?, ?, null)`);
    conn.transaction(() => {
      for (let start = from; start < to; start += SQLITE_BATCH) {
        const end = Math.min(to, start + SQLITE_BATCH);
        const r = rows(vault, start, end);
        for (let k = 0; k < r.ids.length; k++) {
          account.run(r.ids[k], r.subs[k], r.indexes[k], r.sealed[k], now, now);
          credential.run(r.credentialIds[k], r.ids[k], passwordHash, now);
        }
        progress?.(end - from);
      }
    })();
  } finally {
    await db.client.releaseConnection(conn);
  }
}
