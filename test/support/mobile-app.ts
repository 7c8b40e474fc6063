/**
 * A simulated government mobile app, built on openid-client and jose, that talks to a started
 * Yihao exactly as a phone would: a native OIDC client (code + PKCE, RFC 8252 loopback redirect,
 * DPoP-bound tokens), a P-256 device key enrolled through the API, the device-key login (RFC 7523
 * JWT bearer grant), and the approvals API with a device signature on every call.
 *
 * Part B (kiosk, counter) reuses it: `phone.approvals()`, `phone.decide(id, 'approve')`.
 */
import { randomBytes, createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { generate } from 'otplib';
import type { ClientInput } from '../../src/clients/index.js';
import type { Harness } from './harness.js';
import { formAction, formField, go, page, ScriptedBrowser, submit, type PageStep, type Step } from './scripted-browser.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Registered once; RFC 8252 §7.3: any port on the loopback address matches. */
export const APP_REDIRECT = 'http://127.0.0.1/callback';

const b64sha = (v: string | Buffer) => createHash('sha256').update(v).digest('base64url');

/**
 * Registers the government app as an operator would (`yihao client create --kind mobile`, through
 * the same registry): a public native client, first party, DPoP-bound tokens, allowed the JWT bearer grant.
 */
export async function registerMobileApp(h: Harness, extra: Partial<ClientInput> = {}): Promise<{ client_id: string }> {
  const { client_id } = await h.yihao.clients.create({
    kind: 'mobile',
    name: '一号 App',
    redirectUris: [APP_REDIRECT, 'https://app.yihao.example/callback'],
    firstParty: true,
    scope: 'openid profile offline_access',
    ...extra,
  });
  return { client_id };
}

/** What an authenticator app would show `steps` periods from now. */
export const totpCode = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

export interface CallOptions {
  /** Leave out the DPoP proof. */
  noDpop?: boolean;
  /** Send the token as a Bearer token instead. */
  bearer?: boolean;
  /** Leave out the device signature, or sign with another key pair. */
  noSignature?: boolean;
  signWith?: { privateKey: CryptoKey; kid: string };
  /** Reuse an earlier call's proofs (replay). */
  reuse?: { dpop: string; signature: string };
}

export class MobileApp {
  private dpopKeys!: oidc.CryptoKeyPair;
  private dpopJwk!: JWK;
  deviceKeys!: { publicKey: CryptoKey; privateKey: CryptoKey };
  deviceJwk!: JWK;
  deviceKeyId: string | undefined;
  accessToken: string | undefined;
  refreshToken: string | undefined;
  /** The proofs of the last API call, for replay tests. */
  lastProofs: { dpop: string; signature: string } | undefined;

  private constructor(
    readonly h: Harness,
    readonly rp: oidc.Configuration,
    readonly clientId: string,
  ) {}

  static async create(h: Harness, client: { client_id: string }): Promise<MobileApp> {
    // A second instance shares the issuer but listens elsewhere: send this phone's requests there.
    const toInstance: oidc.CustomFetch = (url, options) => fetch(url.replace(h.issuer, h.url), options as RequestInit);
    const rp = await oidc.discovery(new URL(h.issuer), client.client_id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: toInstance });
    rp[oidc.customFetch] = toInstance;
    const app = new MobileApp(h, rp, client.client_id);
    app.dpopKeys = await oidc.randomDPoPKeyPair('ES256', { extractable: true });
    app.dpopJwk = await exportJWK(app.dpopKeys.publicKey);
    app.deviceKeys = await generateKeyPair('ES256', { extractable: true });
    app.deviceJwk = await exportJWK(app.deviceKeys.publicKey);
    return app;
  }

  /** openid-client's DPoP handle for the app's key, for token requests (refresh, ...). */
  get dpop(): oidc.DPoPHandle {
    return oidc.getDPoPHandle(this.rp, this.dpopKeys);
  }

  /**
   * The first sign-in, in the system browser: code + PKCE with a loopback redirect on an ephemeral
   * port, at loa:2 (password, then TOTP, set up on the way when the account has none).
   * Returns the ID token claims; the app keeps the DPoP-bound tokens. In a `browser` that is already
   * signed in (a step-up), the sign-in starts at the second factor.
   */
  async signInWithBrowser(
    citizen: { citizenId: string; password: string },
    totp: { secret?: string; passwordOnly?: boolean; /** The time step of the code, for a known secret (default: the next one). */ step?: number } = {},
    browser = new ScriptedBrowser(),
  ): Promise<{ claims: oidc.IDToken; totpSecret: string }> {
    const { url, verifier, state, nonce, origin } = await this.authorizationRequest(totp.passwordOnly ? 'urn:yihao:loa:1' : 'urn:yihao:loa:2');
    const login = page(await go(browser, url, origin));
    const afterPassword = formAction(login.html, '/login') ? await submit(browser, login, '/login', { identifier: citizen.citizenId, password: citizen.password }, origin) : login;
    if (totp.passwordOnly) return this.finishBrowser(afterPassword, browser, { verifier, state, nonce, origin, secret: '' });
    const step = page(afterPassword);
    let secret = totp.secret;
    if (!secret) {
      secret = /id="manual-key">([^<]+)</.exec(step.html)?.[1]?.replace(/\s/g, '');
      if (!secret) throw new Error(`no TOTP enrolment page: ${step.html.slice(0, 300)}`);
      const shown = page(await submit(browser, step, '/totp-enrolment', { code: await totpCode(secret) }, origin));
      const back = await go(browser, new URL(formAction(shown.html, '/auth/')!, shown.url), origin);
      return this.finishBrowser(back, browser, { verifier, state, nonce, origin, secret });
    }
    const back = await submit(browser, step, '/second-factor', { code: await totpCode(secret, totp.step ?? 1) }, origin);
    return this.finishBrowser(back, browser, { verifier, state, nonce, origin, secret });
  }

  /**
   * The app's sign-in in a system browser that is already signed in (single sign-on), at loa:2: no
   * credentials asked, at most the consent page. Throws if the browser is asked to sign in.
   */
  async signInWithSession(browser: ScriptedBrowser): Promise<oidc.IDToken> {
    const { url, verifier, state, nonce, origin } = await this.authorizationRequest('urn:yihao:loa:2');
    const at = await go(browser, url, origin);
    if (at.kind === 'page' && !formAction(at.html, '/confirm')) throw new Error(`expected single sign-on, got ${at.status} at ${at.url.pathname}: ${at.html.slice(0, 300)}`);
    return (await this.finishBrowser(at, browser, { verifier, state, nonce, origin, secret: '' })).claims;
  }

  /** An authorization request of the app (code + PKCE, loopback redirect on an ephemeral port, offline_access). */
  private async authorizationRequest(acr: string) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const redirect = `http://127.0.0.1:${loopbackPort([new URL(this.h.issuer).port, new URL(this.h.url).port])}/callback`;
    const url = oidc.buildAuthorizationUrl(this.rp, {
      redirect_uri: redirect,
      scope: 'openid profile offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      acr_values: acr,
      prompt: 'consent',
      ui_locales: 'en',
      state,
      nonce,
    });
    return { url, verifier, state, nonce, origin: new URL(this.h.issuer).origin };
  }

  private async finishBrowser(
    at: Awaited<ReturnType<typeof go>>,
    browser: ScriptedBrowser,
    c: { verifier: string; state: string; nonce: string; origin: string; secret: string },
  ): Promise<{ claims: oidc.IDToken; totpSecret: string }> {
    // A first-party app may still be asked for consent (prompt=consent): allow it.
    if (at.kind === 'page' && formAction(at.html, '/confirm')) at = await submit(browser, at, '/confirm', {}, c.origin);
    if (at.kind !== 'rp') throw new Error(`expected the app's redirect, got ${at.status} at ${at.url.pathname}: ${at.html.slice(0, 300)}`);
    const tokens = await oidc.authorizationCodeGrant(this.rp, at.url, { pkceCodeVerifier: c.verifier, expectedState: c.state, expectedNonce: c.nonce }, undefined, { DPoP: this.dpop });
    this.accessToken = tokens.access_token;
    this.refreshToken = tokens.refresh_token;
    return { claims: tokens.claims()!, totpSecret: c.secret };
  }

  /** A DPoP proof (RFC 9449) for one request, with `ath` for the access token. */
  async dpopProof(method: string, url: string, accessToken = this.accessToken): Promise<string> {
    return new SignJWT({ htm: method, htu: url, jti: randomBytes(12).toString('base64url'), ...(accessToken ? { ath: b64sha(accessToken) } : {}) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: this.dpopJwk })
      .setIssuedAt()
      .sign(this.dpopKeys.privateKey);
  }

  /** The device signature over one API call. */
  async deviceSignature(method: string, url: string, body: string, key: { privateKey: CryptoKey; kid?: string | undefined } = { privateKey: this.deviceKeys.privateKey, kid: this.deviceKeyId }): Promise<string> {
    return new SignJWT({ htm: method, htu: url, bsh: b64sha(body), ath: b64sha(this.accessToken ?? ''), jti: randomBytes(12).toString('base64url') })
      .setProtectedHeader({ alg: 'ES256', typ: 'device-signature+jwt', ...(key.kid ? { kid: key.kid } : {}) })
      .setIssuedAt()
      .sign(key.privateKey);
  }

  /** One API call to Yihao, authenticated as the options say (by default: DPoP token + proof + device signature). */
  async call(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<{ status: number; json: Record<string, unknown> }> {
    const url = `${new URL(this.h.issuer).origin}${path}`;
    const raw = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (this.accessToken) headers.authorization = `${opts.bearer ? 'Bearer' : 'DPoP'} ${this.accessToken}`;
    if (raw) headers['content-type'] = 'application/json';
    const dpop = opts.reuse?.dpop ?? (await this.dpopProof(method, url));
    if (!opts.noDpop) headers.dpop = dpop;
    const signature =
      opts.reuse?.signature ??
      (await this.deviceSignature(method, url, raw, opts.signWith ?? { privateKey: this.deviceKeys.privateKey, kid: this.deviceKeyId }));
    if (!opts.noSignature) headers['device-signature'] = signature;
    this.lastProofs = { dpop, signature };
    const res = await fetch(`${this.h.url}${path}`, { method, headers, ...(raw ? { body: raw } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  /** Enrols the device key (signed with the new key itself, as the API wants). */
  async enrolDeviceKey(extra: { storage?: string; name?: string } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await this.call('POST', '/mobile/device-keys', { jwk: this.deviceJwk, ...extra }, { signWith: { privateKey: this.deviceKeys.privateKey, kid: '' } });
    if (res.status === 201) this.deviceKeyId = res.json.id as string;
    return res;
  }

  /** A new device key pair in place of the app's (not enrolled yet), as an app that lost its key, or an attacker's, would make. */
  async newDeviceKey(): Promise<void> {
    this.deviceKeys = await generateKeyPair('ES256', { extractable: true });
    this.deviceJwk = await exportJWK(this.deviceKeys.publicKey);
    this.deviceKeyId = undefined;
  }

  /** The RFC 7638 thumbprint of the app's DPoP key. */
  dpopThumbprint(): Promise<string> {
    return calculateJwkThumbprint(this.dpopJwk);
  }

  /**
   * A device-key assertion (RFC 7523) for a challenge, bound to the app's DPoP key (`cnf.jkt`);
   * `jkt: null` leaves the binding out.
   */
  async assertion(challenge: string, overrides: { privateKey?: CryptoKey; kid?: string; iss?: string; jkt?: string | null } = {}): Promise<string> {
    const kid = overrides.kid ?? this.deviceKeyId!;
    const jkt = overrides.jkt === undefined ? await this.dpopThumbprint() : overrides.jkt;
    return new SignJWT({ nonce: challenge, jti: randomBytes(12).toString('base64url'), ...(jkt ? { cnf: { jkt } } : {}) })
      .setProtectedHeader({ alg: 'ES256', typ: 'device-key-assertion+jwt', kid })
      .setIssuer(overrides.iss ?? this.clientId)
      .setSubject(kid)
      .setAudience(this.h.issuer)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(overrides.privateKey ?? this.deviceKeys.privateKey);
  }

  async challenge(): Promise<string> {
    const res = await fetch(new URL('/mobile/challenge', this.h.url), { method: 'POST' });
    if (res.status !== 200) throw new Error(`challenge: ${res.status}`);
    return ((await res.json()) as { challenge: string }).challenge;
  }

  /** The device-key login: challenge, signed assertion, DPoP-bound tokens. */
  async loginWithDeviceKey(assertion?: string, scope = 'openid profile'): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
    const tokens = await oidc.genericGrantRequest(this.rp, JWT_BEARER, { assertion: assertion ?? (await this.assertion(await this.challenge())), scope }, { DPoP: this.dpop });
    this.accessToken = tokens.access_token;
    if (tokens.refresh_token) this.refreshToken = tokens.refresh_token;
    return tokens;
  }

  approvals() {
    return this.call('GET', '/mobile/approvals');
  }

  scan(code: string) {
    return this.call('POST', '/mobile/approvals/scan', { code });
  }

  decide(id: string, decision: 'approve' | 'deny', opts: CallOptions = {}) {
    return this.call('POST', `/mobile/approvals/${id}`, { decision }, opts);
  }
}

/**
 * A random port for the app's loopback redirect, never Yihao's own: the harness listens on an
 * ephemeral port in the same range, and a redirect to it looked like one of Yihao's pages (a 404 at
 * /callback in one CI run in about 20,000).
 */
function loopbackPort(yihaoPorts: string[]): number {
  for (;;) {
    const port = 40000 + Math.floor(Math.random() * 20000);
    if (!yihaoPorts.includes(String(port))) return port;
  }
}

/** A citizen with the app signed in (loa:2 via TOTP) and a device key enrolled. */
export async function phoneWithDeviceKey(h: Harness, client: { client_id: string }, citizen?: Awaited<ReturnType<Harness['citizen']>>) {
  const who = citizen ?? (await h.citizen());
  const phone = await MobileApp.create(h, client);
  const { claims, totpSecret } = await phone.signInWithBrowser(who);
  const enrolled = await phone.enrolDeviceKey();
  if (enrolled.status !== 201) throw new Error(`enrolment failed: ${JSON.stringify(enrolled.json)}`);
  return { citizen: who, phone, firstClaims: claims, totpSecret };
}

/**
 * The QR page's "Continue" (its script posts it by itself once the phone decided), then, when the
 * answer is the question whose account this is, the citizen's "Continue as …". Where the browser
 * ends up: the relying party, or the page that answered instead.
 */
export async function continueQr(browser: ScriptedBrowser, from: PageStep, origin: string): Promise<Step> {
  const asked = await submit(browser, from, '/qr/complete', {}, origin);
  if (asked.kind !== 'page' || asked.status !== 200 || !formAction(asked.html, '/qr/confirm')) return asked;
  return submit(browser, asked, '/qr/confirm', { approval: formField(asked.html, 'approval') ?? '' }, origin);
}

/** The hand-off code inside the QR shown on a sign-in page (`<origin>/m/qr/<code>`), as the app reads it. */
export const qrCodeFrom = (text: string): string => /\/m\/qr\/([A-Za-z0-9_-]+)$/.exec(text)?.[1] ?? '';

/**
 * A web sign-in at a relying party that switches to "sign in with the mobile app": the browser's
 * QR page, and the code its QR carries (read from the hand-off store, as the phone's camera would
 * read it off the screen).
 */
export async function startQrSignIn(h: Harness, rp: oidc.Configuration, browser = new ScriptedBrowser(), extra: Record<string, string> = {}) {
  const origin = new URL(h.issuer).origin;
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: 'http://127.0.0.1:9/cb',
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ui_locales: 'en',
    state,
    nonce,
    ...extra,
  });
  const login = page(await go(browser, url, origin));
  const link = /href="(\/interaction\/[^"]+\/qr)"/.exec(login.html)?.[1];
  if (!link) throw new Error('the login page offers no mobile app sign-in');
  const qr = page(await go(browser, new URL(link, origin), origin));
  const uid = /\/interaction\/([^/]+)\/qr/.exec(link)![1]!;
  const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(uid)) as { ref: string; bindingCode: string } | undefined;
  if (!handoff) throw new Error('no hand-off stored for the interaction');
  const tokens = (callback: URL) => oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  const redeem = async (callback: URL) => (await tokens(callback)).claims()!;
  return { browser, origin, uid, qr, code: handoff.ref, bindingCode: handoff.bindingCode, redeem, tokens };
}
