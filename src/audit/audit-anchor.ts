import type { RedisClient } from '../storage/redis.js';

/**
 * The newest signed checkpoint, kept outside the database: the sealer writes it after each commit,
 * a sealer taking over reads it, and `yihao audit verify` checks the database against it. Someone
 * who can write the database but not this store cannot make the log shorter than it, nor have a
 * sealer sign a history rewritten below it (audit-sealer.ts).
 */
export interface AuditAnchor {
  /** The checkpoint line (`{ seq, hash, at, kid, jws }`, as exported), or undefined when none was kept. */
  read(): Promise<string | undefined>;
  /**
   * Keeps `line` unless the kept one is further along (`behind`: a late write of an earlier sealer)
   * or at the same place with another hash (`forked`: two histories were signed up to it).
   */
  write(line: string, seq: number, hash: string): Promise<AnchorWrite>;
  /**
   * Sets the line whatever head it holds, or removes it, but only while Redis still keeps `expected`
   * (false otherwise: a sealer wrote meanwhile). Only for an operator accepting the database's head.
   */
  replace(line: string | undefined, expected: string | undefined): Promise<boolean>;
}

export type AnchorWrite = 'kept' | 'behind' | 'forked';

// Replaces the kept line only with one further along, or the same head signed again: two sealers
// never seal at once, but the write comes after the commit, and an old holder's could arrive after
// its successor's. A different hash at the same place is refused: a history rewritten up to the
// anchor's place must not take the genuine one's place.
const KEEP_FURTHEST = `local kept = redis.call('GET', KEYS[1])
if kept then
  local ok, old = pcall(cjson.decode, kept)
  if ok and type(old) == 'table' and tonumber(old.seq) then
    if tonumber(old.seq) > tonumber(ARGV[2]) then return 0 end
    if tonumber(old.seq) == tonumber(ARGV[2]) and old.hash ~= ARGV[3] then return -1 end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

// Compare-and-set: an acceptance checked against one anchor never replaces a later one.
const REPLACE_IF_KEPT = `if (redis.call('GET', KEYS[1]) or '') ~= ARGV[2] then return 0 end
if ARGV[1] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;

const WRITTEN: Record<number, AnchorWrite> = { 1: 'kept', 0: 'behind', [-1]: 'forked' };

/** The anchor in Redis, under `<prefix>audit:anchor`. */
export function redisAuditAnchor(redis: RedisClient, prefix: string): AuditAnchor {
  const key = `${prefix}audit:anchor`;
  return {
    read: async () => (await redis.get(key)) ?? undefined,
    write: async (line, seq, hash) => WRITTEN[Number(await redis.eval(KEEP_FURTHEST, 1, key, line, String(seq), hash))] ?? 'behind',
    replace: async (line, expected) => Number(await redis.eval(REPLACE_IF_KEPT, 1, key, line ?? '', expected ?? '')) === 1,
  };
}

/** `seq` and `hash` of a kept line, or undefined when it does not parse. */
export function anchoredHead(line: string | undefined): { seq: number; hash: string; jws: string } | undefined {
  if (!line) return undefined;
  try {
    const v = JSON.parse(line) as { seq?: unknown; hash?: unknown; jws?: unknown };
    return typeof v.seq === 'number' && typeof v.hash === 'string' && typeof v.jws === 'string' ? { seq: v.seq, hash: v.hash, jws: v.jws } : undefined;
  } catch {
    return undefined;
  }
}
