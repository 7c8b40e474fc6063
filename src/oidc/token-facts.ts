import type { Adapter } from 'oidc-provider';
import type { Authentication, Channel } from '../accounts/index.js';
import { requestMemo } from '../storage/request-memo.js';

/**
 * What a login established, as every token issued from it states it: `acr`, `amr`, `auth_time`
 * and `channel`. Carried on the token itself from the moment it is issued, so that userinfo,
 * refresh and introspection never re-read the session's authentication record, and a token keeps
 * the facts it was issued with when its session is later stepped up (or signed in again elsewhere).
 */
export interface TokenFacts {
  acr: string;
  amr: string[];
  auth_time: number;
  channel: Channel;
  /** RFC 8693: who acted for the subject (a counter's staff member), on an assisted login's tokens. */
  act?: Actor;
  /**
   * How a device key made the login, if one did: `login`, the app's own device-key login;
   * `approval`, a phone approving a sign-in shown elsewhere (a QR code, a counter's CIBA request),
   * and so every token of the browser session it signed in. Neither enrols a device key.
   */
  device_key?: DeviceKeyUse;
  /**
   * Which device key that was, or which passkey made the login. Kept with the artifacts in the
   * store (codes, refresh tokens, CIBA requests), where it links their grant to the key
   * (storage/account-index.ts), so that removing the key ends them; never put in a token or an
   * introspection answer (`publicFacts`).
   */
  device_key_id?: string;
  passkey_id?: string;
  /** Which authenticator app (TOTP credential) gave the login's second factor, by code or by one of its recovery codes. */
  totp_id?: string;
}

export type DeviceKeyUse = 'login' | 'approval';

/** The device key that made or approved a login, and how: kept in the login's record, so that revoking the key ends the login. */
export interface DeviceKeyPart {
  id: string;
  use: DeviceKeyUse;
}

/** A login that a device key made or approved, as its record (session-authentications.ts) keeps it. */
export interface DeviceKeyLogin extends Authentication {
  deviceKey: DeviceKeyPart;
}

/** The device key a login's record names, if a device key made or approved it. */
export const deviceKeyOf = (auth: Authentication | undefined): DeviceKeyPart | undefined => (auth as Partial<DeviceKeyLogin> | undefined)?.deviceKey;

/** A login a passkey made, as its record keeps it: so that removing the passkey ends the login. */
export interface PasskeyLogin extends Authentication {
  passkey: { id: string };
}

/** The passkey a login's record names, if one made it. */
export const passkeyOf = (auth: Authentication | undefined): { id: string } | undefined => (auth as Partial<PasskeyLogin> | undefined)?.passkey;

/** A login whose second factor an authenticator app gave, as its record keeps it: so that removing the app ends the login. */
export interface TotpLogin extends Authentication {
  totp: { id: string };
}

/** The authenticator app a login's record names, if it gave the second factor. */
export const totpOf = (auth: Authentication | undefined): { id: string } | undefined => (auth as Partial<TotpLogin> | undefined)?.totp;

/** The kinds of key a login can name, each with the link model its artifacts are filed under (storage/account-index.ts). */
export type KeyLinkModel = 'DeviceKeyGrant' | 'PasskeyGrant' | 'TotpGrant';

const KEY_OF_LOGIN: Record<KeyLinkModel, (auth: Authentication | undefined) => { id: string } | undefined> = {
  DeviceKeyGrant: deviceKeyOf,
  PasskeyGrant: passkeyOf,
  TotpGrant: totpOf,
};

/** The key of one kind that a login's record names, if any. */
export const keyOfLogin = (auth: Authentication | undefined, model: KeyLinkModel): string | undefined => KEY_OF_LOGIN[model](auth)?.id;

/** Every key a login's record names (a passkey and an authenticator app never both; a device key alone). */
export const keysOfLogin = (auth: Authentication | undefined): { model: KeyLinkModel; id: string }[] =>
  (Object.keys(KEY_OF_LOGIN) as KeyLinkModel[]).flatMap((model) => {
    const id = keyOfLogin(auth, model);
    return id === undefined ? [] : [{ model, id }];
  });

/** The fact each kind of key is named by on a token or an artifact. */
const KEY_FACTS: readonly [fact: 'device_key_id' | 'passkey_id' | 'totp_id', model: KeyLinkModel][] = [
  ['device_key_id', 'DeviceKeyGrant'],
  ['passkey_id', 'PasskeyGrant'],
  ['totp_id', 'TotpGrant'],
];

/** Every key a token's or an artifact's facts name: the keys of the login it was issued on. */
export const keysOfFacts = (facts: Pick<TokenFacts, 'device_key_id' | 'passkey_id' | 'totp_id'> | Record<string, unknown> | undefined): { model: KeyLinkModel; id: string }[] =>
  facts ? KEY_FACTS.flatMap(([fact, model]) => {
    const id: unknown = (facts as Record<string, unknown>)[fact];
    return typeof id === 'string' ? [{ model, id }] : [];
  }) : [];

/** RFC 8693 `act`. */
export interface Actor {
  sub: string;
}

/**
 * The artifacts a token is issued from. Each saved one carries `facts` in its payload (oidc-provider
 * keeps payload fields it does not know in the store, and we read them back from there); a rotated
 * refresh token takes them from the one it replaces. Access tokens carry them in `extra`.
 */
const CARRIERS: ReadonlySet<string> = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

const LOGIN = 'facts:login';
const byGrant = (grantId: string) => `facts:grant:${grantId}`;

export const factsOf = (auth: Authentication): TokenFacts => {
  const deviceKey = deviceKeyOf(auth);
  const passkey = passkeyOf(auth);
  const totp = totpOf(auth);
  return {
    acr: auth.acr,
    amr: auth.amr,
    auth_time: auth.at,
    channel: auth.channel,
    ...(deviceKey ? { device_key: deviceKey.use, device_key_id: deviceKey.id } : {}),
    ...(passkey ? { passkey_id: passkey.id } : {}),
    ...(totp ? { totp_id: totp.id } : {}),
  };
};

/** The facts as a token states them: without the internal ids of the key that made the login. */
export function publicFacts(facts: TokenFacts): TokenFacts {
  if (facts.device_key_id === undefined && facts.passkey_id === undefined && facts.totp_id === undefined) return facts;
  const { device_key_id: _device, passkey_id: _passkey, totp_id: _totp, ...shown } = facts;
  return shown;
}

/**
 * The login this request completed or resumed: what the artifacts it issues for that account will
 * carry, with the actor of an assisted login (so `act` survives on the tokens themselves, refreshes too).
 */
export function noteLogin(auth: Authentication, act?: Actor): void {
  requestMemo()?.notes.set(LOGIN, { accountId: auth.accountId, facts: act ? { ...factsOf(auth), act } : factsOf(auth) });
}

/**
 * The facts of the grant's artifact this request has read (a code, a refresh token), else of the
 * login it noted, if that login is the same account's.
 */
export function currentFacts(grantId: unknown, accountId: unknown): TokenFacts | undefined {
  const notes = requestMemo()?.notes;
  if (!notes) return undefined;
  const ofGrant = typeof grantId === 'string' ? (notes.get(byGrant(grantId)) as TokenFacts | undefined) : undefined;
  if (ofGrant) return ofGrant;
  const login = notes.get(LOGIN) as { accountId: string; facts: TokenFacts } | undefined;
  return login && login.accountId === accountId ? login.facts : undefined;
}

/** The facts an access token was issued with (its `extra`), if it has them. */
export function issuedFacts(token: unknown): TokenFacts | undefined {
  const extra = (token as { extra?: Partial<TokenFacts> } | undefined)?.extra;
  return extra?.channel && extra.acr ? (extra as TokenFacts) : undefined;
}

type AdapterClass = new (name: string) => Adapter;

/** Wraps the adapter so that artifacts carry their login's facts and reading one makes them current. */
export function withTokenFacts(Inner: AdapterClass): AdapterClass {
  return class TokenFactsAdapter {
    readonly #inner: Adapter;
    readonly #carrier: boolean;

    constructor(model: string) {
      this.#inner = new Inner(model);
      this.#carrier = CARRIERS.has(model);
    }

    // Not async: on the hot paths each wrapper's own promise (and its async hooks) adds up.
    upsert(id: string, payload: Record<string, unknown>, expiresIn: number) {
      if (this.#carrier && payload.facts === undefined && payload.accountId) {
        const facts = currentFacts(payload.grantId, payload.accountId);
        if (facts) payload = { ...payload, facts };
      }
      return this.#inner.upsert(id, payload as never, expiresIn);
    }

    find(id: string) {
      const found = this.#inner.find(id);
      return this.#carrier ? found.then(remembered) : found;
    }

    findByUserCode(userCode: string) {
      const found = this.#inner.findByUserCode(userCode);
      return this.#carrier ? found.then(remembered) : found;
    }

    findByUid(uid: string) {
      return this.#inner.findByUid(uid);
    }
    consume(id: string) {
      return this.#inner.consume(id);
    }
    destroy(id: string) {
      return this.#inner.destroy(id);
    }
    revokeByGrantId(grantId: string) {
      return this.#inner.revokeByGrantId(grantId);
    }
  } as unknown as AdapterClass;
}

function remembered<T>(found: T): T {
  const { facts, grantId } = (found ?? {}) as { facts?: TokenFacts; grantId?: string };
  if (facts && grantId) requestMemo()?.notes.set(byGrant(grantId), facts);
  return found;
}
