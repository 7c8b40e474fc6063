/**
 * The bare provider's store: oidc-provider's in-memory adapter minus its cost per grant member.
 *
 * oidc-provider's own memory adapter keeps each grant's members in one map and, on every save of a
 * token of that grant, walks the whole map (an expiry sweep and `Math.max(...members)`). A rotating
 * refresh token adds two members per use and consumed ones stay until they expire, so in the
 * bench's refresh run each refresh walked thousands of members: half of the bare provider's refresh
 * CPU was that walk (perf, 2026-12-06), which made oidc-provider's refresh floor look twice what it
 * is. Yihao's stores index grant members in a set (one command per member), and so does this.
 *
 * Everything lives in process memory; records past their expiry are dropped when read and swept
 * every few seconds, so a long run stays bounded by its live tokens.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number;
}

const records = new Map<string, Entry>();
const byGrant = new Map<string, Set<string>>();
const byUid = new Map<string, string>();
const byUserCode = new Map<string, string>();

const sweep = setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of records) if (entry.expiresAt <= now) drop(key, entry);
}, 5_000);
sweep.unref();

function drop(key: string, entry: Entry): void {
  records.delete(key);
  const { grantId, uid, userCode } = entry.payload;
  if (grantId) byGrant.get(grantId)?.delete(key);
  if (uid && byUid.get(uid) === key) byUid.delete(uid);
  if (userCode && byUserCode.get(userCode) === key) byUserCode.delete(userCode);
}

function live(key: string | undefined): AdapterPayload | undefined {
  if (key === undefined) return undefined;
  const entry = records.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= Date.now()) {
    drop(key, entry);
    return undefined;
  }
  return entry.payload;
}

export class BareAdapter implements Adapter {
  constructor(private readonly model: string) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const key = this.key(id);
    const previous = records.get(key);
    if (previous) drop(key, previous);
    records.set(key, { payload, expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity });
    if (payload.grantId) {
      let members = byGrant.get(payload.grantId);
      if (!members) byGrant.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
    if (this.model === 'Session' && payload.uid) byUid.set(payload.uid, key);
    if (payload.userCode) byUserCode.set(payload.userCode, key);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return live(this.key(id));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return live(byUid.get(uid));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return live(byUserCode.get(userCode));
  }

  async consume(id: string): Promise<void> {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    const key = this.key(id);
    const entry = records.get(key);
    if (entry) drop(key, entry);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of byGrant.get(grantId) ?? []) {
      const entry = records.get(key);
      if (entry) drop(key, entry);
    }
    byGrant.delete(grantId);
  }
}
