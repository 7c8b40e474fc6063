import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import { requestMemo } from '../storage/request-memo.js';

type AdapterClass = new (name: string) => Adapter;

/**
 * Bearer artifacts whose value alone is enough to use them: a refresh token (30 days by default), an
 * opaque access token, a code, a client_credentials token, and a device code (a public client may
 * poll with it: whoever reads it from a dump while a citizen approves gets their tokens). A CIBA
 * request keeps its plain id: polling it needs the client's own authentication, and the phone's
 * approval finds it by that id.
 */
export const HASHED_TOKEN_MODELS: ReadonlySet<string> = new Set(['AccessToken', 'RefreshToken', 'AuthorizationCode', 'ClientCredentials', 'DeviceCode']);

/**
 * The randomness of the tokens stored hashed: 264 bits, 44 characters, one more than oidc-provider's
 * default (256 bits, 43). Only a token issued before ids were hashed can be stored under its own
 * value, and it is 43 characters long: the lookup under the value is skipped for every other token,
 * so that it costs the ordinary request nothing (an introspection looks each token up as an access
 * token and as a client_credentials token, and one of the two always misses).
 */
export const HASHED_TOKEN_BITS = 264;
/** oidc-provider's tokens before: 256 bits. */
const PLAIN_TOKEN_LENGTH = Math.ceil(256 / 6);
/**
 * Marks a record stored under a keyed hash. A keyed hash is itself 43 characters of base64url, the
 * shape of a token stored plainly before: without the mark, an id read from a dump, presented as a
 * token, would be found "plainly" under itself.
 */
const HASHED = 'idHashed';

export interface TokenIdKeys {
  /** The keyed hash records are stored under (the `token_id` purpose at its current version). */
  current: (value: string) => string;
  /** The one of an earlier key version, tried after `current` misses while tokens stored under it may live. */
  previous?: ((value: string) => string) | undefined;
  /** Whether a token issued before ids were hashed (43 characters) is also looked for under its own value. */
  unhashed: boolean;
}

/** Where this request found a token stored (when not under the current key), so that its consume, destroy and save go there. */
const foundUnder = (model: string, value: string) => `tokenId:${model}:${value}`;
/** That the record this request reached under its stored key (not its value) is a hashed one: saved back, it keeps its mark. */
const markedAt = (model: string, key: string) => `tokenIdMarked:${model}:${key}`;

/**
 * Whether `id` is a device code's stored key, asked for by oidc-provider's own device pages: after
 * the citizen signs in, its resume finds the code by the key its confirmation kept on the
 * Interaction (9.13, actions/authorization/device.js). Nowhere else is a stored key a device code:
 * presented at /token, it is an id read from a dump.
 */
function deviceCodeKeyOnDevicePages(id: string): boolean {
  const ctx = (Provider as unknown as { ctx?: { oidc?: { route?: string; entities?: { Interaction?: { deviceCode?: unknown } } } } }).ctx;
  return ctx?.oidc?.route === 'device_resume' && ctx.oidc.entities?.Interaction?.deviceCode === id;
}

/**
 * Stores tokens under a keyed hash of their value instead of the value itself, so that a database
 * backup or a Redis dump holds nothing a thief could present (oidc-provider keys every record by
 * its value, and its payload repeats it as `jti`). oidc-provider, and every wrapper above this one,
 * still sees the value: `find` puts it back as `jti`, so the token's later consume, destroy or save
 * name the value again and come back here to be hashed. Everything below (the stores, their grant
 * member sets, the request memo, consume give-backs) sees only the hash.
 *
 * Records stored before (plain, see HASHED_TOKEN_BITS) or under an earlier key version are found by
 * trying those after a miss; the request remembers where it found one, so that consuming a refresh
 * token stored plainly spends that record, and reuse is still caught.
 */
export function withHashedTokenIds(Inner: AdapterClass, keys: TokenIdKeys): AdapterClass {
  return class HashedTokenIdAdapter extends Inner implements Adapter {
    readonly #hashed: boolean;
    readonly #model: string;

    constructor(model: string) {
      super(model);
      this.#model = model;
      this.#hashed = HASHED_TOKEN_MODELS.has(model);
    }

    /** Where a value is stored: under the current key, unless this request found it elsewhere. */
    #key(value: string): string {
      const elsewhere = requestMemo()?.notes.get(foundUnder(this.#model, value));
      return typeof elsewhere === 'string' ? elsewhere : keys.current(value);
    }

    /** Every key a value may be stored under, the current one first (or only where this request found it). */
    #candidates(value: string): string[] {
      const elsewhere = requestMemo()?.notes.get(foundUnder(this.#model, value));
      if (typeof elsewhere === 'string') return [elsewhere];
      const candidates = [keys.current(value)];
      if (keys.previous) candidates.push(keys.previous(value));
      if (keys.unhashed && value.length === PLAIN_TOKEN_LENGTH) candidates.push(value);
      return candidates;
    }

    // upsert, find and consume are not async themselves: on the hot paths each wrapper's own promise
    // (and its async hooks) adds up.
    override upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (!this.#hashed) return super.upsert(id, payload, expiresIn);
      const key = this.#key(id);
      // Found plainly (stored before): it stays as it was, unmarked, under its own value. Reached
      // under its stored key (a device code on the phone's pages): it keeps its mark.
      const marked = key !== id || requestMemo()?.notes.get(markedAt(this.#model, key)) === true;
      return super.upsert(key, marked ? { ...payload, jti: key, [HASHED]: true } : payload, expiresIn);
    }

    /** A record reached under its stored key: the request's later save, consume and destroy go to that key as it is. */
    #reachedUnderKey(found: AdapterPayload, key: string): AdapterPayload {
      const memo = requestMemo();
      memo?.notes.set(foundUnder(this.#model, key), key);
      if (found[HASHED] === true) memo?.notes.set(markedAt(this.#model, key), true);
      const { [HASHED]: _mark, ...payload } = found;
      return { ...payload, jti: key };
    }

    override find(id: string): Promise<AdapterPayload | undefined | void> {
      return !this.#hashed || typeof id !== 'string' ? super.find(id) : this.#findHashed(id);
    }

    async #findHashed(id: string): Promise<AdapterPayload | undefined> {
      if (this.#model === 'DeviceCode' && deviceCodeKeyOnDevicePages(id)) {
        const found = await super.find(id);
        return found ? this.#reachedUnderKey(found, id) : undefined;
      }
      const candidates = this.#candidates(id);
      for (const key of candidates) {
        const found = await super.find(key);
        if (!found) continue;
        // Under the value itself only a record stored before counts: a hashed one found there was
        // presented by its stored id (read from a dump), which is no token.
        if (key === id && found[HASHED] === true) return undefined;
        // Its consume, destroy and save go where it was found, and nowhere else.
        requestMemo()?.notes.set(foundUnder(this.#model, id), key);
        const { [HASHED]: _mark, ...payload } = found;
        return { ...payload, jti: id };
      }
      return undefined;
    }

    /**
     * A device code found by its user code (the phone's confirmation page) comes back under the key it
     * is stored under (a hash, or its own value if stored before), since the request has no device
     * code to give: its save, consume and destroy in this request go to that key as it is.
     */
    override async findByUserCode(userCode: string): Promise<AdapterPayload | undefined | void> {
      const found = await super.findByUserCode(userCode);
      if (!this.#hashed || !found || typeof found.jti !== 'string') return found;
      return this.#reachedUnderKey(found, found.jti);
    }

    override consume(id: string): Promise<void> {
      return super.consume(this.#hashed ? this.#key(id) : id);
    }

    override async destroy(id: string): Promise<void> {
      if (!this.#hashed) return super.destroy(id);
      // Not found by this request: wherever it may be stored.
      for (const key of this.#candidates(id)) await super.destroy(key);
    }
  };
}
