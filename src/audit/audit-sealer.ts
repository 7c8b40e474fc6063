import { randomBytes, type KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import { GENESIS, HASH_VERSION, holdsHistory, rowHash, type AuditRow } from './audit-chain.js';
import { openCheckpoint, signCheckpoint, verifyKeys, type AuditSigningKey } from './audit-key.js';
import { anchoredHead, type AuditAnchor } from './audit-anchor.js';
import { backgroundWork } from '../storage/request-memo.js';

export interface SealerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AuditSealerOptions {
  db: Database;
  key: AuditSigningKey;
  /** Pause between passes: how far (at most, roughly) the chain lags behind the appends. */
  intervalMs: number;
  /** Rows chained and signed per transaction. */
  batchSize: number;
  /** How long an elected sealer's lease lasts without renewal: the fail-over time after it dies. */
  leaseMs: number;
  /** A quiet log still gets a fresh signed checkpoint this often (docs/audit.md: tail truncation). */
  idleCheckpointMs: number;
  /** Sends one checkpoint (a JSON line) to the outside copy; failures are logged, never fatal. */
  exporter?: ((line: string) => Promise<void>) | undefined;
  /** The newest checkpoint kept outside the database (Redis), for the next sealer to check against. */
  anchor?: AuditAnchor | undefined;
  /** `audit.retiredPublicKeys`: an anchor signed before a key rotation is still one to go by. */
  retiredPublicKeys?: readonly KeyObject[] | undefined;
  log: SealerLog;
}

/** Why a pass that held the lease sealed and signed nothing (docs/audit.md). */
export type SealRefusal =
  /** The database no longer holds the head last signed (by this sealer, or as the anchor says): rewritten or cut. */
  | 'head_lost'
  /** Redis did not answer, so the head could not be compared with the anchor; the next pass asks again. */
  | 'anchor_unreadable'
  /**
   * Redis did not take the newest checkpoint: nothing more is signed until it does, so that rows
   * signed while the anchor cannot follow are never more than one batch (the next pass tries again).
   */
  | 'anchor_unwritable'
  /** The database holds a sealed history but Redis keeps no anchor: lost with Redis's data, or deleted. */
  | 'anchor_missing'
  /** The line kept in Redis does not verify with the audit key or a retired one. */
  | 'anchor_invalid';

export interface SealPass {
  /** Whether this instance held the lease for the pass. */
  leader: boolean;
  sealed: number;
  checkpoints: number;
  /** Why nothing was sealed though this instance held the lease. */
  refused?: SealRefusal;
}

/** A batch found the lease taken by another instance: roll back and step down. */
class LeaseLost extends Error {}

/** The database's chain no longer reaches the head last signed: someone rewrote or cut the log. */
class HeadLost extends Error {
  constructor(readonly head: SignedHead) {
    super(`the audit log no longer holds row ${head.seq} as it was signed`);
  }
}

/** The chain's place and hash that a checkpoint signed. */
interface SignedHead {
  seq: number;
  hash: string;
}

/** A checkpoint as the anchor and the exported copy keep it: its line, and what it signed. */
interface AnchorLine extends SignedHead {
  line: string;
}

// How often a sealer that refuses to seal says so again while it stays so.
const REFUSAL_REPEAT_MS = 60_000;

const REFUSAL_TEXT: Record<SealRefusal, string> = {
  head_lost: 'audit log rewritten or cut: the database no longer holds the last signed checkpoint; sealing stopped (docs/audit.md)',
  anchor_unreadable: 'audit anchor could not be read: sealing waits until Redis answers (docs/audit.md)',
  anchor_unwritable: 'audit anchor could not be written: sealing waits until Redis takes the newest checkpoint (docs/audit.md)',
  anchor_missing:
    'audit anchor missing from Redis while the database holds a sealed history: sealing stopped until an operator accepts the head (yihao audit verify --accept-head; docs/audit.md)',
  anchor_invalid:
    'audit anchor in Redis is not signed with the audit key or a retired one: sealing stopped until an operator accepts the head (yihao audit verify --accept-head; docs/audit.md)',
};

// Passes in a row refused because Redis does not answer this instance (or take its checkpoint)
// before it frees the lease: another instance may reach Redis, and sealing must not stop for the
// whole cluster while this one cannot. It takes no lease again for leaseMs after stepping down.
const ANCHOR_REFUSALS_BEFORE_STEPPING_DOWN = 3;

// A lease expiring more than this many leases ahead was not written by any instance's renewal.
const FORGED_EXPIRY_LEASES = 10;

// Bound one pass, so a huge backlog does not keep a transaction stream running without a pause.
const MAX_BATCHES_PER_PASS = 50;
// Rows per UPDATE statement; 4 bound values each stays far below SQLite's 32,766.
const UPDATE_CHUNK = 200;

/**
 * The one elected sealer. Election is a lease row taken by compare-and-set (an UPDATE whose WHERE
 * says "free, expired or mine"), which works the same on SQLite and PostgreSQL and needs no held
 * connection. Every batch renews the lease as its transaction's first statement: on PostgreSQL the
 * row stays locked until the batch commits, so an instance that takes an expired lease waits for a
 * batch in flight and the old holder's next batch finds the lease gone; on SQLite the batch holds
 * the database's single write lock. Two sealers therefore never interleave batches, whatever their
 * clocks say; the unique `seq` and the `seq is null` guard on each update are a second line.
 */
export function createAuditSealer(opts: AuditSealerOptions) {
  const { db, key, log } = opts;
  const holder = `${hostname().slice(0, 64)}:${process.pid}:${randomBytes(6).toString('hex')}`;
  let leader = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;
  let exports: Promise<void> = Promise.resolve();
  // The furthest head signed that this sealer knows of (its own checkpoints, or the anchor's): it
  // never seals below it. Without it, someone who can write the database could delete the newest
  // checkpoints, rewrite the rows after the last one left and mark them unsealed, and this sealer
  // would chain and sign them afresh, with the key they do not hold.
  let signed: SignedHead | undefined;
  // The newest checkpoint this sealer signed, as a line, to put back should the anchor lose it.
  let lastLine: AnchorLine | undefined;
  // The newest checkpoint Redis has not taken yet. While there is one, nothing more is signed: the
  // rows it covers are the only ones someone who can write the database could cut unnoticed.
  let unwritten: AnchorLine | undefined;
  // The anchor as this sealer last wrote or checked it: a pass that reads it unchanged goes on.
  let anchorSeen: string | undefined;
  // Whether this term as leader compared the head with the anchor. Until it has, it seals nothing:
  // an instance elected while Redis is down or the anchor is gone would otherwise sign whatever the
  // database holds, a rewrite included.
  let anchorLearned = false;
  let refusal: SealRefusal | undefined;
  // Passes in a row that held the lease but could not read or write the anchor; and until when this
  // instance, having stepped down for them, leaves the lease to others.
  let anchorRefusals = 0;
  let standDownUntil = 0;
  const saidAt = new Map<string, number>();
  const anchorKeys = verifyKeys(key, opts.retiredPublicKeys ?? []);

  const claimLease = (now: number) =>
    db('audit_sealer_lease')
      .where({ name: 'sealer' })
      .andWhere((w) => w.where('holder', holder).orWhereNull('holder').orWhere('expires_at', '<', now))
      .update({ holder, expires_at: now + opts.leaseMs });

  /**
   * The lease, or false while another instance holds it. A lease no instance could have written
   * stops every sealer for good, silently, so it is put right here: the row deleted (the election
   * has nothing to take), or an expiry further ahead than any instance renews to (its own clock plus
   * one lease; FORGED_EXPIRY_LEASES leaves room for clocks that disagree). Batches stay fenced by the
   * row they renew, so taking a lease that was written by hand never lets two sealers interleave.
   */
  async function takeLease(now: number): Promise<boolean> {
    if ((await claimLease(now)) === 1) return true;
    const row = (await db('audit_sealer_lease').where({ name: 'sealer' }).first('holder', 'expires_at')) as { holder: string | null; expires_at: number | string } | undefined;
    if (!row) {
      await db('audit_sealer_lease').insert({ name: 'sealer', holder: null, expires_at: 0 }).onConflict('name').ignore();
      tampered('audit.lease_missing', 'audit sealer lease row was missing (deleted by someone who can write the database): put back (docs/audit.md)');
    } else if (Number(row.expires_at) > now + FORGED_EXPIRY_LEASES * opts.leaseMs) {
      await db('audit_sealer_lease').where({ name: 'sealer', holder: row.holder, expires_at: row.expires_at }).update({ holder: null, expires_at: 0 });
      tampered('audit.lease_forged', 'audit sealer lease expires further ahead than any instance renews it (written by hand): freed (docs/audit.md)');
    } else return false;
    return (await claimLease(now)) === 1;
  }

  function tampered(event: string, text: string): void {
    const now = Date.now();
    // Once a minute at most: an instance whose clock runs far ahead looks the same on every pass.
    if (now - (saidAt.get(event) ?? -Infinity) < REFUSAL_REPEAT_MS) return;
    saidAt.set(event, now);
    log.error({ component: 'audit', event }, text);
  }

  /** One transaction: renew the lease, chain up to batchSize unsealed rows, sign the new head. */
  async function sealBatch(): Promise<{ sealed: number; checkpoint?: AnchorLine }> {
    return db.transaction(async (trx) => {
      const now = Date.now();
      const renewed = await trx('audit_sealer_lease').where({ name: 'sealer', holder }).update({ expires_at: now + opts.leaseMs });
      if (renewed !== 1) throw new LeaseLost();
      const head = await chainHead(trx);
      let seq = head.seq;
      let prev = head.hash;
      if (signed && !(await holdsHead(trx, head, signed))) throw new HeadLost(signed);
      // By id, but the place is ours to give: a row whose id is lower than one already sealed
      // (a PostgreSQL transaction that committed late) simply takes the next place.
      const pending = (await trx('audit_events').whereNull('seq').orderBy('id').limit(opts.batchSize)) as AuditRow[];
      if (pending.length === 0) {
        const last = (await trx('audit_checkpoints').select('seq', 'at').orderBy('id', 'desc').first()) as { seq: number; at: number } | undefined;
        // Sign the head when nothing signed it yet (rows chained before checkpoints existed) and,
        // while quiet, now and then: a recent checkpoint is what dates the end of the log.
        // A checkpoint dated ahead of this clock (another instance's clock ran fast) dates nothing:
        // waiting for it to age would leave the end of the log undated for as long as the clock was off.
        const age = last ? now - Number(last.at) : Infinity;
        if (last && Number(last.seq) === seq && age >= 0 && age < opts.idleCheckpointMs) return { sealed: 0 };
        return { sealed: 0, checkpoint: await checkpoint(trx, seq, prev, now) };
      }
      const updates: [number, number, string, string][] = [];
      for (const r of pending) {
        const hash = rowHash(prev, r, Number(r.id));
        updates.push([Number(r.id), ++seq, prev, hash]);
        prev = hash;
      }
      for (let i = 0; i < updates.length; i += UPDATE_CHUNK) await sealRows(trx, updates.slice(i, i + UPDATE_CHUNK));
      return { sealed: pending.length, checkpoint: await checkpoint(trx, seq, prev, now) };
    });
  }

  async function checkpoint(trx: Knex.Transaction, seq: number, hash: string, at: number): Promise<AnchorLine> {
    const jws = await signCheckpoint(key, { seq, hash, at });
    await trx('audit_checkpoints').insert({ seq, hash, at, kid: key.kid, jws });
    return { line: JSON.stringify({ seq, hash, at, kid: key.kid, jws }), seq, hash };
  }

  /**
   * Compares the anchor with the head this sealer knows, on every pass (one GET): goes by it where it
   * is further, or where the database lost the head this sealer goes by and the anchor names a
   * checkpoint the database holds (an operator's acceptance after a restore); puts this sealer's last
   * checkpoint back where the anchor lost it or fell behind; or says why it cannot.
   */
  async function goByAnchor(): Promise<{ refused: SealRefusal; error?: string } | undefined> {
    if (!opts.anchor) return undefined;
    let line: string | undefined;
    try {
      line = await opts.anchor.read();
    } catch (e) {
      return { refused: 'anchor_unreadable', error: (e as Error).message };
    }
    if (line !== undefined && line === anchorSeen) return undefined;
    if (line === undefined) {
      // Lost while this sealer led (Redis restarted without its data): it knows what it signed.
      if (anchorLearned) return lastLine && putBack(lastLine);
      if (await holdsHistory(db)) return { refused: 'anchor_missing' };
      // A fresh install has nothing to protect yet: its first checkpoint makes the first anchor. From
      // the database alone this cannot be told from a whole log unsealed while Redis lost its data,
      // so it is said where an operator sees it.
      log.warn({ component: 'audit', event: 'audit.log_started' }, 'audit sealer starts a new log: Redis keeps no anchor and nothing is sealed yet (docs/audit.md)');
      return undefined;
    }
    const kept = anchoredHead(line);
    const claim = kept && (await openCheckpoint(anchorKeys, kept.jws));
    if (!kept || !claim || claim.seq !== kept.seq || claim.hash !== kept.hash) return { refused: 'anchor_invalid' };
    anchorSeen = line;
    if (!signed || claim.seq > signed.seq) {
      signed = { seq: claim.seq, hash: claim.hash };
    } else if (claim.seq !== signed.seq || claim.hash !== signed.hash) {
      // Every line the audit key signed stays valid, so one naming another head is an operator's
      // acceptance only where it has to be: the database no longer holds the head this sealer goes by
      // (head_lost: a restore) and holds the checkpoint the line names. Never by the lines' `at`: the
      // clocks of other machines would decide, and an old line replayed could set the head back.
      const chain = await chainHead(db);
      if (!(await holdsHead(db, chain, signed)) && (await holdsHead(db, chain, claim)) && (await holdsCheckpoint(claim))) {
        log.warn({ component: 'audit', event: 'audit.head_accepted', seq: claim.seq, previous: signed.seq }, 'audit sealer goes by the head an operator accepted (docs/audit.md)');
        signed = { seq: claim.seq, hash: claim.hash };
      } else if (lastLine) {
        // An older line put in its place: the anchor never stays behind what this sealer signed.
        return putBack(lastLine);
      }
    }
    return undefined;
  }

  async function holdsCheckpoint(head: SignedHead): Promise<boolean> {
    return (await db('audit_checkpoints').where({ seq: head.seq, hash: head.hash }).first('id')) !== undefined;
  }

  /** Frees the lease (only if still ours) and leaves it to other instances for a lease's length. */
  async function standDown(): Promise<void> {
    anchorRefusals = 0;
    leader = false;
    standDownUntil = Date.now() + opts.leaseMs;
    log.warn({ component: 'audit', event: 'audit.sealer_stepped_down', holder }, 'audit sealer cannot reach the anchor: lease freed for an instance that can (docs/audit.md)');
    await db('audit_sealer_lease').where({ name: 'sealer', holder }).update({ holder: null, expires_at: 0 });
  }

  async function putBack(line: AnchorLine): Promise<{ refused: SealRefusal } | undefined> {
    unwritten = line;
    return (await flushAnchor()) ? undefined : { refused: 'anchor_unwritable' };
  }

  /**
   * Hands the newest checkpoint Redis has not taken to the anchor; false while Redis does not take
   * it. The write keeps the furthest head (audit-anchor.ts), so a late one is harmless.
   */
  async function flushAnchor(): Promise<boolean> {
    const next = unwritten;
    if (!opts.anchor || !next) return true;
    let written: Awaited<ReturnType<AuditAnchor['write']>>;
    try {
      written = await opts.anchor.write(next.line, next.seq, next.hash);
    } catch {
      return false;
    }
    if (written === 'forked') {
      log.error(
        { component: 'audit', event: 'audit.anchor_forked', seq: next.seq },
        'audit anchor in Redis holds another hash at the place this sealer signed: two histories were signed (docs/audit.md)',
      );
    }
    if (written === 'kept') anchorSeen = next.line;
    if (unwritten === next) unwritten = undefined;
    return true;
  }

  function refuse(result: SealPass, why: SealRefusal, detail: object = {}): SealPass {
    result.refused = why;
    const now = Date.now();
    if (now - (saidAt.get(why) ?? -Infinity) < REFUSAL_REPEAT_MS) return result;
    saidAt.set(why, now);
    const entry = { component: 'audit', event: `audit.${why}`, ...detail };
    // Redis down is loud elsewhere and passes; the others need an operator.
    if (why === 'anchor_unreadable' || why === 'anchor_unwritable') log.warn(entry, REFUSAL_TEXT[why]);
    else log.error(entry, REFUSAL_TEXT[why]);
    return result;
  }

  function exportLine(line: string): void {
    if (!opts.exporter) return;
    const send = opts.exporter;
    // In order, one at a time, off the sealing path; a later checkpoint covers an earlier one that failed.
    exports = exports.then(() => send(line)).catch((e: unknown) => log.warn({ component: 'audit', error: (e as Error).message }, 'audit checkpoint export failed'));
  }

  async function pass(): Promise<SealPass> {
    const result: SealPass = { leader: false, sealed: 0, checkpoints: 0 };
    // Whether or not this instance still leads: the anchor is the one trace outside the database of
    // the rows that checkpoint signed, and a lease taken away must not keep it from Redis.
    const anchorBehind = !(await flushAnchor());
    if (Date.now() < standDownUntil || !(await takeLease(Date.now()))) {
      if (leader) log.info({ component: 'audit' }, 'audit sealer lease taken by another instance');
      leader = false;
      return result;
    }
    if (!leader) {
      log.info({ component: 'audit', holder }, 'audit sealer elected');
      // Another instance may have sealed further meanwhile.
      anchorLearned = false;
      anchorSeen = undefined;
    }
    leader = true;
    result.leader = true;
    const r = await leadPass(result, anchorBehind);
    // Redis out of this instance's reach: after a few passes the lease goes to one that may reach it
    // (a lost head or anchor, by contrast, keeps the lease: see below).
    if (r.refused === 'anchor_unreadable' || r.refused === 'anchor_unwritable') {
      if (++anchorRefusals >= ANCHOR_REFUSALS_BEFORE_STEPPING_DOWN) await standDown();
    } else {
      anchorRefusals = 0;
    }
    return r;
  }

  async function leadPass(result: SealPass, anchorBehind: boolean): Promise<SealPass> {
    // The next pass asks Redis again; after a few the lease is freed (pass()).
    if (anchorBehind) return refuse(result, 'anchor_unwritable', { seq: unwritten?.seq, hash: unwritten?.hash });
    // Every pass, not only the first: while Redis does not answer nothing is signed, so rows the
    // anchor cannot follow stay unsealed (the window verify reports) instead of sealed and cuttable.
    const unknown = await goByAnchor();
    if (unknown) return refuse(result, unknown.refused, unknown.error ? { error: unknown.error } : {});
    anchorLearned = true;
    try {
      for (let i = 0; i < MAX_BATCHES_PER_PASS; i++) {
        const batch = await sealBatch();
        result.sealed += batch.sealed;
        if (batch.checkpoint) {
          result.checkpoints++;
          signed = { seq: batch.checkpoint.seq, hash: batch.checkpoint.hash };
          lastLine = batch.checkpoint;
          exportLine(batch.checkpoint.line);
          // The next batch waits until the anchor holds this one.
          unwritten = batch.checkpoint;
          if (!(await flushAnchor())) return refuse(result, 'anchor_unwritable', { seq: batch.checkpoint.seq, hash: batch.checkpoint.hash });
        }
        if (batch.sealed < opts.batchSize) break;
      }
    } catch (e) {
      if (e instanceof HeadLost) {
        // Holding the lease all the same: stepping down would hand the log to an instance that does
        // not know the head, and without an anchor it would seal the rewrite.
        return refuse(result, 'head_lost', { seq: e.head.seq });
      }
      if (!(e instanceof LeaseLost)) throw e;
      leader = false;
      result.leader = false;
    }
    return result;
  }

  function once(): Promise<SealPass> {
    // One pass at a time in this process (a test's sealNow and the timer may overlap).
    const next = (running ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => backgroundWork(pass))
      .then((r) => ((refusal = r.refused), r));
    running = next;
    return next;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      once()
        .catch((e: unknown) => log.warn({ component: 'audit', error: (e as Error).message }, 'audit sealing pass failed'))
        .finally(schedule);
    }, opts.intervalMs);
  }

  return {
    holder,
    get isLeader() {
      return leader;
    },
    /** Why the last pass sealed nothing though it held the lease, for health checks and metrics. */
    get refusal(): SealRefusal | undefined {
      return refusal;
    },
    start(): void {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    /** Runs one pass now (taking the lease if it is free) and waits for its exports. */
    async sealNow(): Promise<SealPass> {
      const r = await once();
      await exports;
      return r;
    },
    /** Stops the timer, waits for a pass in flight and its exports, and frees the lease for another instance. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => undefined);
      await exports;
      if (unwritten && !(await flushAnchor())) {
        log.error(
          { component: 'audit', event: 'audit.anchor_unwritable', seq: unwritten.seq, hash: unwritten.hash },
          'audit sealer stops with its last checkpoint not in the anchor: compare the log with the exported copy and this line (docs/audit.md)',
        );
      }
      if (leader) {
        leader = false;
        await db('audit_sealer_lease').where({ name: 'sealer', holder }).update({ holder: null, expires_at: 0 }).catch(() => undefined);
      }
    },
  };
}
export type AuditSealer = ReturnType<typeof createAuditSealer>;

/** The chain's newest sealed row, or the genesis. */
async function chainHead(q: Knex | Knex.Transaction): Promise<SignedHead> {
  const head = (await q('audit_events').select('id', 'seq', 'hash').where('seq', q('audit_events').max('seq')).first()) as { id: number; seq: number; hash: string } | undefined;
  // A place no count from 1 reaches (a row planted at the top of the range): chaining after it would
  // overflow (PostgreSQL) or sign a place no checkpoint can name (SQLite). Sealing stops, naming it;
  // `yihao audit verify` names it too (row_outside_chain).
  if (head && !Number.isSafeInteger(Number(head.seq))) throw new Error(`audit row ${Number(head.id)} holds a place the chain never reaches; sealing stops until it is removed`);
  return head ? { seq: Number(head.seq), hash: head.hash } : { seq: 0, hash: GENESIS };
}

/** Whether the chain whose head is `head` still holds `signed` as it was signed (head_lost when not). */
async function holdsHead(q: Knex | Knex.Transaction, head: SignedHead, signed: SignedHead): Promise<boolean> {
  return head.seq === signed.seq ? head.hash === signed.hash : head.seq > signed.seq && (await hashAt(q, signed.seq)) === signed.hash;
}

async function hashAt(q: Knex | Knex.Transaction, seq: number): Promise<string | undefined> {
  const row = (await q('audit_events').select('hash').where({ seq }).first()) as { hash: string | null } | undefined;
  return row?.hash ?? undefined;
}

async function sealRows(trx: Knex.Transaction, rows: [number, number, string, string][]): Promise<void> {
  const cases = (n: number) => rows.map(() => 'when ? then cast(? as ' + (n === 0 ? 'bigint' : 'varchar(64)') + ')').join(' ');
  const bind = (col: 1 | 2 | 3) => rows.flatMap((r) => [r[0], r[col]]);
  const sql =
    `update audit_events set seq = case id ${cases(0)} end, prev_hash = case id ${cases(1)} end, hash = case id ${cases(1)} end, hash_version = ${HASH_VERSION} ` +
    `where seq is null and id in (${rows.map(() => '?').join(', ')})`;
  const result = (await trx.raw(sql, [...bind(1), ...bind(2), ...bind(3), ...rows.map((r) => r[0])])) as { rowCount?: number; changes?: number };
  const changed = result.rowCount ?? result.changes;
  // Another sealer got there first (it cannot under the lease; see above): undo the whole batch.
  if (changed !== rows.length) throw new Error(`audit sealing updated ${String(changed)} of ${rows.length} rows`);
}
