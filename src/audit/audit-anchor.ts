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
  /** Keeps `line` unless a checkpoint further along is kept already (a late write of an earlier sealer). */
  write(line: string, seq: number): Promise<void>;
}

// Replaces the kept line only with one further along: two sealers never seal at once, but the
// write comes after the commit, and an old holder's could arrive after its successor's.
const KEEP_FURTHEST = `local kept = redis.call('GET', KEYS[1])
if kept then
  local ok, old = pcall(cjson.decode, kept)
  if ok and type(old) == 'table' and tonumber(old.seq) and tonumber(old.seq) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

/** The anchor in Redis, under `<prefix>audit:anchor`. */
export function redisAuditAnchor(redis: RedisClient, prefix: string): AuditAnchor {
  const key = `${prefix}audit:anchor`;
  return {
    read: async () => (await redis.get(key)) ?? undefined,
    write: async (line, seq) => void (await redis.eval(KEEP_FURTHEST, 1, key, line, String(seq))),
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
