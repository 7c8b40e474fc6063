import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { checkCharacter, type CitizenId, type Sealer } from '../identity/index.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';

/** A registration between its two steps: who the citizen says they are, and whether the phone is proven. */
export interface PendingRegistration {
  readonly citizenId: CitizenId;
  /** As `normaliseName` left it. */
  readonly name: string;
  /** E.164. */
  readonly phone: string;
  /** Set once the SMS code was right: a retry (registry unreachable) needs no second code. */
  readonly phoneVerified: boolean;
  /** How often the registry could not answer for this flow; retries are capped. */
  readonly registryFailures: number;
  /** Epoch milliseconds; the record is gone after this. */
  readonly expiresAt: number;
}

export interface PendingRegistrations {
  /** A fresh, unguessable flow id (192 bits) for the browser's cookie. */
  newId(): string;
  isId(value: unknown): value is string;
  /** Starts (or restarts) the flow's record; it lives `ttlSeconds` from now. */
  save(id: string, value: Pick<PendingRegistration, 'citizenId' | 'name' | 'phone'>): Promise<PendingRegistration>;
  /** Records progress (phone proven, a registry failure), keeping the original expiry. */
  update(id: string, next: PendingRegistration): Promise<PendingRegistration>;
  find(id: string): Promise<PendingRegistration | undefined>;
  remove(id: string): Promise<void>;
}

const MODEL = 'RegistrationPending';
const ID = /^[A-Za-z0-9_-]{32}$/;

const plainSchema = z.object({
  citizenId: z.string().regex(/^[0-9]{17}[0-9X]$/),
  name: z.string().min(1),
  phone: z.string().min(1),
  phoneVerified: z.boolean(),
  registryFailures: z.number().int().min(0),
  expiresAt: z.number().int(),
});

/**
 * Pending registrations, kept server-side (never in the page or a URL) in the short-lived store
 * through the storage adapter, so every instance sees them. The record is one AES-256-GCM sealed
 * value whose AAD names the flow id: a stored value opens only for its own flow, and the ID
 * number, name and phone are never readable in the database.
 */
export function createPendingRegistrations({ Adapter, sealer, ttlSeconds, now = Date.now }: {
  Adapter: AdapterConstructor;
  sealer: Sealer;
  ttlSeconds: number;
  now?: () => number;
}): PendingRegistrations {
  const store = new Adapter(MODEL);
  const aad = (id: string) => `registration_pending:${id}`;

  async function write(id: string, value: PendingRegistration): Promise<PendingRegistration> {
    const expiresIn = Math.ceil((value.expiresAt - now()) / 1000);
    if (expiresIn <= 0) {
      // It ran out during this request: the request may finish with the value, but nothing is kept.
      await store.destroy(id);
      return value;
    }
    await store.upsert(id, { sealed: sealer.seal(JSON.stringify(value), aad(id)) }, expiresIn);
    return value;
  }

  const isId = (value: unknown): value is string => typeof value === 'string' && ID.test(value);

  return {
    newId: () => randomBytes(24).toString('base64url'),
    isId,
    save: (id, { citizenId, name, phone }) => write(id, { citizenId, name, phone, phoneVerified: false, registryFailures: 0, expiresAt: now() + ttlSeconds * 1000 }),
    update: (id, next) => write(id, next),
    async find(id) {
      if (!isId(id)) return undefined;
      const payload = await store.find(id);
      if (!payload || typeof payload.sealed !== 'string') return undefined;
      let parsed;
      try {
        parsed = plainSchema.safeParse(JSON.parse(sealer.open(payload.sealed, aad(id))));
      } catch {
        return undefined; // sealed under a retired key, or not ours: the flow starts again
      }
      if (!parsed.success || parsed.data.expiresAt <= now()) return undefined;
      const { citizenId } = parsed.data;
      if (checkCharacter(citizenId.slice(0, 17)) !== citizenId[17]) return undefined;
      return { ...parsed.data, citizenId: citizenId as CitizenId };
    },
    async remove(id) {
      if (isId(id)) await store.destroy(id);
    },
  };
}
