import { exportJWK, generateKeyPair } from 'jose';
import { YihaoError } from '../errors.js';
import type { Sealer } from '../identity/index.js';
import type { Database } from '../storage/database.js';
import { uniqueViolation } from '../accounts/account-store.js';
import { upstreamInput, type Upstream, type UpstreamCredential, type UpstreamInput, type UpstreamStatus } from './upstream.js';

interface UpstreamRow {
  name: string;
  display_name: string;
  display_name_en: string;
  issuer: string;
  client_id: string;
  client_auth: Upstream['clientAuth'];
  sealed_credential: string | null;
  public_jwk: string | null;
  scope: string;
  citizen_id_claim: string;
  name_claim: string;
  phone_claim: string;
  acr_map: string;
  max_acr: Upstream['maxAcr'];
  trust_amr: boolean | number;
  channels: string;
  use_par: boolean | number;
  sign_out_upstream: boolean | number;
  status: UpstreamStatus;
  created_at: number;
  updated_at: number;
}

const TABLE = 'federation_upstreams';
/** The sealed credential opens only for its upstream and purpose. */
export const upstreamCredentialPurpose = (name: string) => `federation_credential:${name}`;
const purposeOf = upstreamCredentialPurpose;

const toUpstream = (r: UpstreamRow): Upstream => ({
  name: r.name,
  displayName: r.display_name,
  displayNameEn: r.display_name_en,
  issuer: r.issuer,
  clientId: r.client_id,
  clientAuth: r.client_auth,
  scope: r.scope,
  citizenIdClaim: r.citizen_id_claim,
  nameClaim: r.name_claim,
  phoneClaim: r.phone_claim,
  acrMap: JSON.parse(r.acr_map) as Upstream['acrMap'],
  maxAcr: r.max_acr,
  trustAmr: Boolean(r.trust_amr),
  channels: JSON.parse(r.channels) as Upstream['channels'],
  usePar: Boolean(r.use_par),
  signOutUpstream: Boolean(r.sign_out_upstream),
  status: r.status,
  publicJwk: r.public_jwk ? (JSON.parse(r.public_jwk) as Record<string, unknown>) : undefined,
  createdAt: Number(r.created_at),
});

/** Parses an operator's definition with the one schema; the first problem becomes the message. */
export function parseUpstreamInput(input: UpstreamInput) {
  const parsed = upstreamInput.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? `${issue.path.join('.')} ` : '';
    throw new YihaoError('invalid_input', `${field}${issue.message}`);
  }
  return parsed.data;
}

/** The columns an operator's definition sets, the same for a new upstream and an updated one. */
function definitionColumns(def: ReturnType<typeof parseUpstreamInput>) {
  return {
    display_name: def.displayName ?? def.name,
    display_name_en: def.displayNameEn ?? def.displayName ?? def.name,
    issuer: def.issuer,
    client_id: def.clientId,
    client_auth: def.clientAuth,
    scope: def.scope,
    citizen_id_claim: def.citizenIdClaim,
    name_claim: def.nameClaim,
    phone_claim: def.phoneClaim,
    acr_map: JSON.stringify(def.acrMap),
    max_acr: def.maxAcr,
    trust_amr: def.trustAmr,
    channels: JSON.stringify(def.channels),
    use_par: def.usePar,
    sign_out_upstream: def.signOutUpstream,
  };
}

/**
 * Upstream definitions in SQL. The client secret (or the private key for private_key_jwt, which
 * Yihao generates itself) is sealed and is opened only to authenticate to the upstream.
 */
/**
 * `changed` hears of every change this store makes, so that whoever caches a view of the upstreams
 * in this process can drop it at once (other processes wait out their own caches).
 */
export function createUpstreamStore(db: Database, sealer: Sealer, changed: () => void = () => {}) {
  /** A fresh ES256 key pair for private_key_jwt: the private key sealed, the public one to register. */
  async function keyPair(name: string): Promise<{ sealed: string; publicJwk: Record<string, unknown> }> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `${name}-${Date.now().toString(36)}`;
    const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
    return {
      sealed: sealer.seal(JSON.stringify({ kind: 'private_key', jwk }), purposeOf(name)),
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
    };
  }

  return {
    /**
     * Adds an upstream. `clientSecret` for the secret methods; for private_key_jwt a fresh ES256
     * key pair is made here and its public half returned, for registering at the upstream.
     */
    async add(input: UpstreamInput, clientSecret?: string): Promise<Upstream> {
      const def = parseUpstreamInput(input);
      let sealed: string;
      let publicJwk: Record<string, unknown> | undefined;
      if (def.clientAuth === 'private_key_jwt') {
        if (clientSecret !== undefined) throw new YihaoError('invalid_input', 'private_key_jwt uses a key pair that Yihao makes, not a client secret');
        ({ sealed, publicJwk } = await keyPair(def.name));
      } else {
        if (!clientSecret) throw new YihaoError('invalid_input', `${def.clientAuth} needs the client secret`);
        if (clientSecret.length > 1024) throw new YihaoError('invalid_input', 'the client secret is too long');
        sealed = sealer.seal(JSON.stringify({ kind: 'secret', secret: clientSecret }), purposeOf(def.name));
      }
      const now = Date.now();
      const row: UpstreamRow = {
        name: def.name,
        ...definitionColumns(def),
        sealed_credential: sealed,
        public_jwk: publicJwk ? JSON.stringify(publicJwk) : null,
        status: 'active',
        created_at: now,
        updated_at: now,
      };
      try {
        await db(TABLE).insert(row);
      } catch (e) {
        if (uniqueViolation(e) !== undefined) throw new YihaoError('invalid_input', `an upstream named "${def.name}" already exists`, 409);
        throw e;
      }
      changed();
      return toUpstream(row);
    },

    /**
     * Adds the upstream, or brings an existing one of that name up to this definition (and secret).
     * Its status and, for private_key_jwt, its key pair stay as they are.
     */
    async put(input: UpstreamInput, clientSecret?: string): Promise<Upstream> {
      const def = parseUpstreamInput(input);
      const existing = await db<UpstreamRow>(TABLE).where({ name: def.name }).first();
      if (!existing) {
        try {
          return await this.add(input, clientSecret);
        } catch (e) {
          // Another instance starting at the same moment added it first: update that row below.
          if (!(e instanceof YihaoError && e.status === 409)) throw e;
        }
      }
      const keepKey = def.clientAuth === 'private_key_jwt' && existing?.client_auth === 'private_key_jwt';
      let sealed: string | null = existing?.sealed_credential ?? null;
      let publicJwk: string | null = existing?.public_jwk ?? null;
      if (def.clientAuth === 'private_key_jwt' && !keepKey) {
        const fresh = await keyPair(def.name);
        sealed = fresh.sealed;
        publicJwk = JSON.stringify(fresh.publicJwk);
      } else if (def.clientAuth !== 'private_key_jwt') {
        if (!clientSecret) throw new YihaoError('invalid_input', `${def.clientAuth} needs the client secret`);
        sealed = sealer.seal(JSON.stringify({ kind: 'secret', secret: clientSecret }), purposeOf(def.name));
        publicJwk = null;
      }
      await db(TABLE)
        .where({ name: def.name })
        .update({
          ...definitionColumns(def),
          sealed_credential: sealed,
          public_jwk: publicJwk,
          updated_at: Date.now(),
        });
      changed();
      return (await this.find(def.name))!;
    },

    async list(): Promise<Upstream[]> {
      return (await db<UpstreamRow>(TABLE).select().orderBy('name')).map(toUpstream);
    },

    async active(): Promise<Upstream[]> {
      return (await db<UpstreamRow>(TABLE).select().where({ status: 'active' }).orderBy('name')).map(toUpstream);
    },

    async find(name: string): Promise<Upstream | undefined> {
      const row = await db<UpstreamRow>(TABLE).where({ name }).first();
      return row && toUpstream(row);
    },

    /** Returns false when there is no such upstream. */
    async setStatus(name: string, status: UpstreamStatus): Promise<boolean> {
      const found = (await db(TABLE).where({ name }).update({ status, updated_at: Date.now() })) > 0;
      changed();
      return found;
    },

    /** Turns signing citizens out of the upstream too on or off; false when there is no such upstream. */
    async setSignOutUpstream(name: string, on: boolean): Promise<boolean> {
      const found = (await db(TABLE).where({ name }).update({ sign_out_upstream: on, updated_at: Date.now() })) > 0;
      changed();
      return found;
    },

    async credential(name: string): Promise<UpstreamCredential | undefined> {
      const row = await db<UpstreamRow>(TABLE).select('sealed_credential').where({ name }).first();
      if (!row?.sealed_credential) return undefined;
      return JSON.parse(sealer.open(row.sealed_credential, purposeOf(name))) as UpstreamCredential;
    },
  };
}
export type UpstreamStore = ReturnType<typeof createUpstreamStore>;
