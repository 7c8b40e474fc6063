import type { Knex } from 'knex';
import type { Database } from './database.js';
import { writeBatch } from './write-batch.js';
import { keptSeconds, type Adapter, type AdapterPayload } from './adapter-types.js';
import { keysOfFacts, type KeyLinkModel } from '../oidc/token-facts.js';

/**
 * Models whose records belong to one account and must be found by it. Sessions by their stable uid.
 * Channel logins (kiosk, counter, device key: src/oidc/grant-tokens.ts) by their grant id, so that
 * live ones can be counted; `list` leaves them out (their grant is listed).
 */
const INDEXED: Record<string, (id: string, payload: AdapterPayload) => string | undefined> = {
  Session: (_id, payload) => payload.uid,
  Grant: (id) => id,
  ChannelSession: (id) => id,
  // Pending credential offers (src/credentials/credential-offers.ts), which die with a disabled account.
  CredentialOffer: (id) => id,
};
/**
 * Artifacts that carry their login's facts (src/oidc/token-facts.ts). One issued from a login that a
 * device key made or approved, or that a passkey or an authenticator app made, links its grant to
 * the key (`DeviceKeyGrant`, `PasskeyGrant` or `TotpGrant`, id `<key>:<grant>`), so that removing
 * the key finds every grant it let in: an offline grant whose browser session has ended, or a
 * counter's CIBA login, which never had one.
 */
const KEY_CARRIERS = new Set(['AuthorizationCode', 'RefreshToken', 'BackchannelAuthenticationRequest', 'DeviceCode']);
export type { KeyLinkModel };
/**
 * A verifiable credential issued on a login a key made or approved (src/credentials) is linked to
 * the key the same way (id `<key>:<credential>`, until the credential expires), so that removing
 * the key revokes it as it ends the key's grants.
 */
const CREDENTIAL_LINKS: Record<KeyLinkModel, string> = { DeviceKeyGrant: 'DeviceKeyCredential', PasskeyGrant: 'PasskeyCredential', TotpGrant: 'TotpCredential' };
/**
 * A key bound from a login another key made (a passkey added in a portal session signed in with an
 * authenticator app, a device key enrolled with a token from a passkey's sign-in) is linked to that
 * key (id `<key>:<bound kind>:<bound key>`, without expiry), so that whoever removes the first can be
 * asked about what was added with it: someone with a copy of it may have bound their own. The link
 * stays when either key goes: a chain through a removed key still leads from the first key to
 * what was bound further down (src/portal/self-service.ts, `boundFrom`).
 */
const BOUND_KEY_LINKS: Record<KeyLinkModel, string> = { DeviceKeyGrant: 'DeviceKeyBoundKey', PasskeyGrant: 'PasskeyBoundKey', TotpGrant: 'TotpBoundKey' };
const keysOfCarrier = (payload: AdapterPayload): [KeyLinkModel, string][] =>
  keysOfFacts(payload.facts as Record<string, unknown> | undefined).map(({ model, id }) => [model, id]);

/** Destroyed by the id they are indexed under, so that their row can go with them without a read. */
const REMOVED_ON_DESTROY = new Set(['ChannelSession', 'CredentialOffer']);

/** Live sign-ins, as the index knows them (see `count`). */
export interface LiveSessionCount {
  /** Browser sessions (the web channel, QR hand-off and federated sign-ins included). */
  browser: number;
  /** Kiosk, counter and mobile-app logins, which have no browser session. */
  channel: number;
}

export interface AccountIndex {
  /** Sessions (by uid) and grants (by id) of an account that have not expired. */
  list(accountId: string): Promise<{ model: 'Session' | 'Grant'; id: string }[]>;
  /** The ids of an account's records of one other indexed model (credential offers, keys' grants) that have not expired. */
  idsOf(accountId: string, model: 'CredentialOffer' | KeyLinkModel): Promise<string[]>;
  /** The grants of an account that a key (a device key, a passkey) made or approved logins for, and that may still hold live tokens. */
  grantsOfKey(accountId: string, model: KeyLinkModel, keyId: string): Promise<string[]>;
  /** The keys (a device key, a passkey) that made or approved the logins a grant's artifacts were issued from. */
  keysOfGrant(accountId: string, grantId: string): Promise<{ model: KeyLinkModel; id: string }[]>;
  /** Links a credential issued on a login that `key` made or approved, until `expiresAt` (epoch ms): removing the key finds it. */
  linkCredential(accountId: string, key: { model: KeyLinkModel; id: string }, credentialId: string, expiresAt: number): Promise<void>;
  /** The credentials issued on logins a key made or approved that have not expired. */
  credentialsOfKey(accountId: string, model: KeyLinkModel, keyId: string): Promise<string[]>;
  /** Drops a credential's link to a key (once the key's removal revoked it). */
  unlinkCredential(model: KeyLinkModel, keyId: string, credentialId: string): Promise<void>;
  /** Links a key bound from a login that `from` made or approved: removing `from` finds it. Kept until `from`'s links are dropped. */
  linkBoundKey(accountId: string, from: { model: KeyLinkModel; id: string }, bound: { model: KeyLinkModel; id: string }): Promise<void>;
  /** The keys bound from logins that a key made or approved (whether they are still held is the caller's to check). */
  keysBoundFrom(accountId: string, from: { model: KeyLinkModel; id: string }): Promise<{ model: KeyLinkModel; id: string }[]>;
  /** In `trx` when given (a held sign-out's transaction: storage/revocation-hold.ts). */
  remove(model: string, id: string, trx?: Knex.Transaction): Promise<void>;
  /**
   * Sessions not yet expired, for the console's dashboard: one indexed count, whether the sessions
   * live in SQL or Redis. A browser session ended by an app's logout link (RP-initiated logout)
   * keeps its row, so it counts until it would have expired; every other way out removes it.
   */
  countLive(now?: number): Promise<LiveSessionCount>;
  /** Wraps a model's adapter so that its writes keep the index current. */
  wrap(model: string, inner: Adapter): Adapter;
  /**
   * What `wrap` does after an artifact of `model` was saved, for a save that went around the wrapper
   * (a rotated refresh token, saved with its predecessor's consume): links its grant to the key of
   * its login. Nothing, and no round trip, for an artifact that carries no key.
   */
  linkKeys(model: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void>;
}

const UPSERT_INDEX =
  'insert into account_index (model, id, account_id, client_id, expires_at) values (?, ?, ?, ?, ?) ' +
  'on conflict (model, id) do update set account_id = excluded.account_id, client_id = excluded.client_id, expires_at = excluded.expires_at';

/** A grant's app, kept on its index row so that a citizen's grants for one app are found by index (src/oidc/remembered-consent.ts). */
const clientOf = (model: string, payload: AdapterPayload): string | null =>
  model === 'Grant' && typeof payload.clientId === 'string' ? payload.clientId : null;

export interface AccountIndexOptions {
  /**
   * How long an access token lives (ttl.accessTokenSeconds): a grant's link to its device key
   * outlives the artifact that made it by at least this, since the code's access tokens outlive the code.
   */
  accessTokenSeconds?: number;
}

export function createAccountIndex(db: Database, options: AccountIndexOptions = {}): AccountIndex {
  const linkFloor = options.accessTokenSeconds ?? 3600;
  const batch = writeBatch(db);
  // A session is saved on every authorization; its index row needs writing only once per uid.
  const written = new Map<string, number>();
  const remember = (key: string, until: number) => {
    if (written.size > 50_000) written.clear();
    written.set(key, until);
  };

  async function add(model: string, id: string, accountId: string, clientId: string | null, expiresIn: number | undefined) {
    const key = `${model}:${id}:${accountId}:${clientId ?? ''}`;
    const until = expiresIn === undefined ? Number.MAX_SAFE_INTEGER : Date.now() + keptSeconds(expiresIn)! * 1000;
    const known = written.get(key);
    if (known !== undefined && known >= until - 60_000) return;
    await batch.defer(`account_index:${model}:${id}`, UPSERT_INDEX, [model, id, accountId, clientId, expiresIn === undefined ? null : until]);
    remember(key, until);
  }

  async function liveIds(accountId: string, model: string): Promise<string[]> {
    await batch.flush();
    const rows = (await db('account_index')
      .select('id')
      .where({ account_id: accountId, model })
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()))) as { id: string }[];
    return rows.map((r) => r.id);
  }

  const index: AccountIndex = {
    async list(accountId) {
      await batch.flush();
      const rows = await db('account_index')
        .select('model', 'id')
        .where({ account_id: accountId })
        .whereIn('model', ['Session', 'Grant'])
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()));
      return rows as { model: 'Session' | 'Grant'; id: string }[];
    },
    idsOf: (accountId, model) => liveIds(accountId, model),
    async grantsOfKey(accountId, model, keyId) {
      const prefix = `${keyId}:`;
      return (await index.idsOf(accountId, model)).filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length));
    },
    async keysOfGrant(accountId, grantId) {
      await batch.flush();
      const suffix = `:${grantId}`;
      const rows = (await db('account_index')
        .select('model', 'id')
        .where({ account_id: accountId })
        .whereIn('model', Object.keys(CREDENTIAL_LINKS))
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()))) as { model: KeyLinkModel; id: string }[];
      return rows.filter((r) => r.id.endsWith(suffix)).map((r) => ({ model: r.model, id: r.id.slice(0, -suffix.length) }));
    },
    async linkCredential(accountId, key, credentialId, expiresAt) {
      // Written before the credential goes out, not at the end of the request.
      await add(CREDENTIAL_LINKS[key.model], `${key.id}:${credentialId}`, accountId, null, Math.max(1, Math.ceil((expiresAt - Date.now()) / 1000)));
      await batch.flush();
    },
    async credentialsOfKey(accountId, model, keyId) {
      await batch.flush();
      const prefix = `${keyId}:`;
      const rows = (await db('account_index')
        .select('id')
        .where({ account_id: accountId, model: CREDENTIAL_LINKS[model] })
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()))) as { id: string }[];
      return rows.map((r) => r.id).filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length));
    },
    async unlinkCredential(model, keyId, credentialId) {
      await index.remove(CREDENTIAL_LINKS[model], `${keyId}:${credentialId}`);
    },
    async linkBoundKey(accountId, from, bound) {
      // Written before the answer that reports the new key, not at the end of the request.
      await add(BOUND_KEY_LINKS[from.model], `${from.id}:${bound.model}:${bound.id}`, accountId, null, undefined);
      await batch.flush();
    },
    async keysBoundFrom(accountId, from) {
      const prefix = `${from.id}:`;
      return (await liveIds(accountId, BOUND_KEY_LINKS[from.model])).flatMap((id) => {
        if (!id.startsWith(prefix)) return [];
        const rest = id.slice(prefix.length);
        const at = rest.indexOf(':');
        const model = rest.slice(0, at);
        return at > 0 && model in BOUND_KEY_LINKS ? [{ model: model as KeyLinkModel, id: rest.slice(at + 1) }] : [];
      });
    },
    async remove(model, id, trx) {
      if (trx) {
        await trx('account_index').where({ model, id }).delete();
        return;
      }
      await batch.flush();
      await db('account_index').where({ model, id }).delete();
    },
    async countLive(now = Date.now()) {
      await batch.flush();
      const rows = (await db('account_index')
        .select('model')
        .count({ n: '*' })
        .whereIn('model', ['Session', 'ChannelSession'])
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
        .groupBy('model')) as { model: string; n: number | string }[];
      const of = (model: string) => Number(rows.find((r) => r.model === model)?.n ?? 0);
      return { browser: of('Session'), channel: of('ChannelSession') };
    },
    wrap(model, inner) {
      if (KEY_CARRIERS.has(model)) return linkingKeys(model, inner);
      const keyOf = INDEXED[model];
      if (!keyOf) return inner;
      const wrapped: Adapter = {
        ...bind(inner),
        async upsert(id, payload, expiresIn) {
          await inner.upsert(id, payload, expiresIn);
          const key = keyOf(id, payload);
          const accountId = payload.accountId as string | undefined;
          if (key && accountId) await add(model, key, accountId, clientOf(model, payload), expiresIn);
        },
      };
      if (REMOVED_ON_DESTROY.has(model)) {
        wrapped.destroy = async (id) => {
          await inner.destroy(id);
          await index.remove(model, id);
        };
      }
      return wrapped;
    },
    async linkKeys(model, payload, expiresIn) {
      if (!KEY_CARRIERS.has(model)) return;
      const { grantId, accountId } = payload as { grantId?: unknown; accountId?: unknown };
      if (typeof grantId !== 'string' || typeof accountId !== 'string') return;
      // Beyond the artifact by an access token's lifetime: the last one it gives outlives it by that much.
      for (const [link, keyId] of keysOfCarrier(payload)) await add(link, `${keyId}:${grantId}`, accountId, null, (expiresIn ?? 0) + linkFloor);
    },
  };
  function linkingKeys(model: string, inner: Adapter): Adapter {
    return {
      ...bind(inner),
      async upsert(id, payload, expiresIn) {
        await inner.upsert(id, payload, expiresIn);
        await index.linkKeys(model, payload, expiresIn);
      },
    };
  }

  return index;
}

function bind(a: Adapter): Adapter {
  return {
    upsert: a.upsert.bind(a),
    find: a.find.bind(a),
    findByUid: a.findByUid.bind(a),
    findByUserCode: a.findByUserCode.bind(a),
    consume: a.consume.bind(a),
    destroy: a.destroy.bind(a),
    revokeByGrantId: a.revokeByGrantId.bind(a),
  };
}
