import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import { accountName, type Acr, type Authentication } from '../accounts/index.js';
import type { AuditEventInput, AuditLog } from '../audit/index.js';
import type { Logger } from '../logger.js';
import { InvalidCitizenIdError, parseCitizenId, type CitizenId } from '../identity/index.js';
import type { Sealer } from '../identity/index.js';
import type { IdentityRegistry } from '../registry/index.js';
import { federatedAmr, mappedAcr, upstreamAcrValuesFor } from './assurance.js';
import { isOpaqueId } from './opaque-id.js';
import type { FlowStore } from './flow-store.js';
import type { LinkedIdentities, LinkRefusal } from './linked-identities.js';
import type { Upstream } from './upstream.js';
import { unavailableReason, UpstreamUnavailableError, type UpstreamClients } from './upstream-clients.js';
import type { UpstreamStore } from './upstream-store.js';

/** A login through an upstream: the usual Authentication, plus the upstream session it came from. */
export interface FederatedAuthentication extends Authentication {
  upstream: {
    name: string;
    sub: string;
    sid?: string;
    /** The upstream's ID token, sealed: the id_token_hint for signing out there (only where that is on). */
    idToken?: string;
  };
}

/** The sealed upstream ID token opens only for its upstream and purpose. */
export const idTokenPurpose = (upstream: string) => `federation_id_token:${upstream}`;

/** Whether a string is a valid citizen ID number (which must never go into a URL). */
export function isCitizenId(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    parseCitizenId(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * An ID token fit to be an id_token_hint: it travels in a URL (the browser's GET to the upstream's
 * end_session_endpoint), so not one that carries a citizen ID number under any claim.
 */
const fitForHint = (upstream: Upstream, idToken: Record<string, unknown>) => idToken[upstream.citizenIdClaim] === undefined && !Object.values(idToken).some(isCitizenId);

/** Why a sign-in through an upstream was refused; each has its own message on the login page. */
export type Refusal =
  | 'browser_mismatch'
  | 'upstream_disabled'
  | 'upstream_error'
  | 'upstream_unavailable'
  | 'token_invalid'
  | 'citizen_id_missing'
  | 'citizen_id_malformed'
  | 'name_mismatch'
  | 'registry_unavailable'
  /** A name, subject or session id that Yihao cannot keep: too long, or with control characters. */
  | 'claims_unusable'
  /** The upstream's login predates the account's sign-out everywhere: it is asked to authenticate again. */
  | 'upstream_login_predates_sign_out'
  /** ... and asked with `prompt=login`, it still answered with that older login. */
  | 'upstream_login_stale'
  /**
   * The upstream did not say when the citizen logged in (no `auth_time`), where that decides: the
   * account was signed out everywhere, or the app wants a recent login. It is asked to authenticate again.
   */
  | 'upstream_login_time_unknown'
  /** ... and asked with `prompt=login` and `max_age`, it still did not say. */
  | 'upstream_login_time_unstated'
  /** Its login is older than the app's `max_age`, which the upstream was given. */
  | 'upstream_login_too_old'
  | LinkRefusal;

/** Refusals that send the browser back to the upstream once, asked to authenticate afresh. */
export const asksAfresh = (reason: Refusal): boolean => reason === 'upstream_login_predates_sign_out' || reason === 'upstream_login_time_unknown';

/**
 * openid-client's refusal of the ID token's `auth_time`, which it requires and checks only when
 * given the `max_age` the upstream was sent: missing, or older than that.
 */
function authTimeRefusal(e: unknown): 'missing' | 'too_old' | undefined {
  const { code, cause } = e as { code?: unknown; cause?: { message?: unknown; cause?: { claim?: unknown; claims?: Record<string, unknown> } } };
  if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' && cause?.cause?.claim === 'auth_time') return 'too_old';
  if (code === 'OAUTH_INVALID_RESPONSE' && cause?.cause?.claims?.auth_time === undefined && String(cause?.message).includes('"auth_time"')) return 'missing';
  return undefined;
}

export type SignInOutcome =
  | { ok: true; upstream: string; authentication: FederatedAuthentication; how: 'returning' | 'linked' | 'created' }
  | { ok: false; upstream: string; reason: Refusal };

/** Where a request came from, for the audit log. */
export interface Where {
  ip: string;
  requestId: string | undefined;
}

const random = () => randomBytes(32).toString('base64url');

const LANGUAGE_TAG = /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}$/;

/**
 * The app's `ui_locales` as the upstream gets them: the well-formed language tags only, in the app's
 * order, at most eight; undefined when none is left. The value goes into a URL at another provider,
 * so nothing else the request carried rides along.
 */
export function upstreamUiLocales(requested: unknown): string | undefined {
  if (typeof requested !== 'string') return undefined;
  const tags = [...new Set(requested.split(' ').filter((t) => LANGUAGE_TAG.test(t)))].slice(0, 8);
  return tags.length ? tags.join(' ') : undefined;
}
const sha256 = (s: string) => createHash('sha256').update(s).digest();

function sameBrowser(pendingBinding: string, cookie: string | undefined): boolean {
  if (!cookie) return false;
  const expected = Buffer.from(pendingBinding, 'base64url');
  const actual = sha256(cookie);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * Whether what the upstream said can be kept as it is: its `sub` and `sid` as opaque ids, its name
 * under the rules every account's name follows. Else the sign-in is refused before anything is
 * stored: PostgreSQL refused a NUL or an over-long value with a 500, and SQLite kept them.
 */
function usableClaims(claims: Record<string, unknown>, sid: unknown, name: string | undefined): boolean {
  if (!isOpaqueId(claims.sub)) return false;
  if (sid !== undefined && !isOpaqueId(sid)) return false;
  return name === undefined || accountName.safeParse(name).success;
}

const claimString = (claims: Record<string, unknown>, name: string): string | undefined => {
  const v = claims[name];
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
};

/**
 * The mobile number, only where the upstream says it verified that number: `<phone claim>_verified`
 * is true (`phone_number_verified` for the standard claim). A profile field that anyone can edit at
 * the upstream must not bind someone else's number to a new account.
 */
const verifiedPhone = (upstream: Upstream, claims: Record<string, unknown>): string | undefined =>
  claims[`${upstream.phoneClaim}_verified`] === true ? claimString(claims, upstream.phoneClaim) : undefined;

export interface FederatedSignInDeps {
  upstreams: UpstreamStore;
  clients: UpstreamClients;
  flows: FlowStore;
  links: LinkedIdentities;
  audit: AuditLog;
  registry: IdentityRegistry;
  sealer: Sealer;
  /** When an account was last signed out everywhere (`Account.notBefore`, epoch seconds). */
  notBeforeOf: (sub: string) => Promise<number | undefined>;
  /** Check the upstream's name against the population registry before linking. */
  registryCheck: boolean;
  /** Yihao's fixed callback, registered at every upstream as the redirect URI. */
  callbackUrl: string;
  /**
   * How long a Yihao session lives: how long an upstream session id is remembered (for its
   * back-channel logout), and how old an upstream login of unknown time is taken to be.
   */
  sessionTtlSeconds: number;
  logger: Pick<Logger, 'warn'>;
}

/**
 * Sign-in through an upstream OIDC provider: authorization code with PKCE, state and nonce (and
 * PAR where configured), all kept server-side and bound to the interaction and the browser. The ID
 * token is validated by openid-client; the citizen ID it carries (GB 11643) links the identity.
 */
export function createFederatedSignIn(deps: FederatedSignInDeps) {
  const { upstreams, clients, flows, links, audit } = deps;

  async function refuse(upstream: string, reason: Refusal, where: Where & { clientId?: string }, accountId?: string): Promise<SignInOutcome> {
    const event: AuditEventInput = { action: 'federation.refused', actorType: 'citizen', accountId, channel: 'web', details: { upstream, reason }, ...where };
    await audit.append(event);
    return { ok: false, upstream, reason };
  }

  /** The upstream's citizen ID claim, validated; or why it cannot be used. */
  function citizenIdOf(upstream: Upstream, claims: Record<string, unknown>): { id: CitizenId } | { problem: 'citizen_id_missing' | 'citizen_id_malformed' } {
    const raw = claims[upstream.citizenIdClaim];
    if (raw === undefined || raw === null || raw === '') return { problem: 'citizen_id_missing' };
    if (typeof raw !== 'string') return { problem: 'citizen_id_malformed' };
    try {
      return { id: parseCitizenId(raw.trim()) };
    } catch (e) {
      if (e instanceof InvalidCitizenIdError) return { problem: 'citizen_id_malformed' };
      throw e;
    }
  }

  /** The registry check, where it is on. */
  async function registryRefusal(citizenId: CitizenId, name: string | undefined): Promise<Refusal | undefined> {
    if (!deps.registryCheck) return undefined;
    if (!name) return 'name_missing';
    try {
      const result = await deps.registry.verify({ citizenId, name });
      return result.outcome === 'match' ? undefined : 'name_mismatch';
    } catch {
      return 'registry_unavailable';
    }
  }

  return {
    /**
     * Prepares the redirect to the upstream for one interaction. Returns the URL and the value for
     * the browser's binding cookie. Throws UpstreamUnavailableError when the upstream cannot be reached.
     */
    async start(
      upstream: Upstream,
      it: { uid: string; clientId: string; ttlSeconds: number; wantedAcr: Acr | undefined; freshLogin: boolean; maxAge: number | undefined; uiLocales?: unknown },
    ): Promise<{ url: URL; browserValue: string }> {
      const config = await clients.configuration(upstream);
      const state = random();
      const nonce = random();
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const uiLocales = upstreamUiLocales(it.uiLocales);
      const acrValues = upstreamAcrValuesFor(upstream, it.wantedAcr, config.serverMetadata().acr_values_supported);
      const params: Record<string, string> = {
        redirect_uri: deps.callbackUrl,
        scope: upstream.scope,
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        ...(acrValues.length ? { acr_values: acrValues.join(' ') } : {}),
        // What the app asked of Yihao about the sign-in's freshness, the upstream must honour too.
        // prompt=login alone does not oblige the upstream to say when the citizen logged in; max_age
        // does (OpenID Connect Core 1.0, section 2), and 0 asks for a login just now, as prompt=login does.
        ...(it.freshLogin ? { prompt: 'login' } : {}),
        ...(it.maxAge !== undefined || it.freshLogin ? { max_age: String(it.maxAge ?? 0) } : {}),
        // The citizen chose a language at the app; the upstream's pages should speak it too.
        ...(uiLocales ? { ui_locales: uiLocales } : {}),
      };
      let url: URL;
      if (upstream.usePar && config.serverMetadata().pushed_authorization_request_endpoint) {
        try {
          url = await oidc.buildAuthorizationUrlWithPAR(config, params);
        } catch (e) {
          throw new UpstreamUnavailableError(upstream.name, unavailableReason(e) ?? 'bad_metadata');
        }
      } else {
        url = oidc.buildAuthorizationUrl(config, params);
      }
      const browserValue = random();
      await flows.savePending(
        state,
        {
          upstream: upstream.name,
          interactionUid: it.uid,
          clientId: it.clientId,
          nonce,
          codeVerifier,
          browserBinding: sha256(browserValue).toString('base64url'),
          ...(it.freshLogin ? { freshLogin: true } : {}),
          ...(it.maxAge !== undefined ? { maxAge: it.maxAge } : {}),
        },
        Math.max(1, it.ttlSeconds),
      );
      return { url, browserValue };
    },

    /**
     * Handles the upstream's redirect back to Yihao. `refused` when the state is unknown, expired or
     * already used (a replay), or the browser is not the one that started: no interaction is touched
     * then. Otherwise the interaction it belongs to and what came of it (audited either way).
     */
    async callback(currentUrl: URL, browserCookie: string | undefined, where: Where): Promise<{ interactionUid: string; outcome: SignInOutcome } | { refused: 'state_unknown' | 'browser_mismatch' }> {
      const state = currentUrl.searchParams.get('state');
      const pending = state ? await flows.consumePending(state) : undefined;
      if (!state || !pending) {
        await audit.append({ action: 'federation.refused', actorType: 'citizen', channel: 'web', details: { reason: 'state_unknown' }, ...where });
        return { refused: 'state_unknown' };
      }
      const at = { ...where, clientId: pending.clientId };
      if (!sameBrowser(pending.browserBinding, browserCookie)) {
        await refuse(pending.upstream, 'browser_mismatch', at);
        return { refused: 'browser_mismatch' };
      }
      const done = (outcome: SignInOutcome) => ({ interactionUid: pending.interactionUid, outcome });
      const upstream = await upstreams.find(pending.upstream);
      if (upstream?.status !== 'active') return done(await refuse(pending.upstream, 'upstream_disabled', at));
      if (currentUrl.searchParams.has('error')) return done(await refuse(upstream.name, 'upstream_error', at));

      // Asked afresh already, an upstream that still does not say when the citizen logged in is refused.
      const timeUnknown: Refusal = pending.freshLogin ? 'upstream_login_time_unstated' : 'upstream_login_time_unknown';
      let claims: Record<string, unknown>;
      /** What the upstream's signed ID token says of the login itself; userinfo is no statement about it. */
      let login: { authTime: unknown; acr: unknown; amr: unknown; sid: unknown };
      let hintToken: string | undefined;
      try {
        const config = await clients.configuration(upstream);
        const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: pending.codeVerifier,
          expectedState: state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
          // The app's max_age went to the upstream: the ID token must then say when, and be within it.
          ...(pending.maxAge !== undefined ? { maxAge: pending.maxAge } : {}),
        });
        const idToken = tokens.claims()!;
        // From the ID token alone: the login's time, level, methods and session are the upstream's
        // signed statement, not userinfo fields (which any profile may carry, unsigned).
        login = { authTime: idToken.auth_time, acr: idToken.acr, amr: idToken.amr, sid: idToken.sid };
        if (upstream.signOutUpstream && fitForHint(upstream, idToken)) hintToken = tokens.id_token;
        claims = { ...idToken };
        // Providers often put profile claims in userinfo only; the ID token's own claims win.
        if ((claims[upstream.citizenIdClaim] === undefined || claims[upstream.nameClaim] === undefined) && tokens.access_token) {
          claims = { ...(await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub)), ...idToken };
        }
      } catch (e) {
        const refusedTime = authTimeRefusal(e);
        if (refusedTime) return done(await refuse(upstream.name, refusedTime === 'missing' ? timeUnknown : 'upstream_login_too_old', at));
        const unavailable = e instanceof UpstreamUnavailableError || unavailableReason(e) !== undefined;
        // For the operator connecting an upstream: openid-client says what did not fit (an alg, the
        // iss, the nonce). Its message and code only: never the tokens or claims it may hold.
        const { message, code } = e as { message?: string; code?: string };
        deps.logger.warn({ event: 'federation.callback_failed', upstream: upstream.name, code, error: String(message).slice(0, 200) }, 'sign-in through an upstream failed');
        return done(await refuse(upstream.name, unavailable ? 'upstream_unavailable' : 'token_invalid', at));
      }

      const now = Math.floor(Date.now() / 1000);
      const statedAt = typeof login.authTime === 'number' ? Math.min(login.authTime, now) : undefined;
      // The app wanted a login made just now (prompt=login): one of unknown time cannot be it.
      if (statedAt === undefined && pending.freshLogin) {
        return done(await refuse(upstream.name, timeUnknown, at, (await links.accountFor(upstream.issuer, String(claims.sub)))?.sub));
      }

      const asserted = citizenIdOf(upstream, claims);
      if ('problem' in asserted) return done(await refuse(upstream.name, asserted.problem, at));
      const citizenId = asserted.id;
      const name = claimString(claims, upstream.nameClaim);
      if (!usableClaims(claims, login.sid, name)) return done(await refuse(upstream.name, 'claims_unusable', at));
      const registryProblem = await registryRefusal(citizenId, name);
      if (registryProblem) return done(await refuse(upstream.name, registryProblem, at));

      const sub = String(claims.sub);
      const assertion = { upstream: upstream.name, issuer: upstream.issuer, sub, citizenId, name, phone: verifiedPhone(upstream, claims) };
      const linked = await links.link(assertion, (trx, { account, how }) =>
        audit.append(
          { action: 'federation.linked', actorType: 'citizen', actorId: account.sub, accountId: account.sub, channel: 'web', details: { upstream: upstream.name, created: how === 'created' }, ...at },
          { trx },
        ),
      );
      if (!linked.ok) return done(await refuse(upstream.name, linked.reason, at, linked.accountSub));
      const sid = typeof login.sid === 'string' ? login.sid : undefined;
      // A sign-out everywhere honours no older login (oidc/signed-out-since.ts): an upstream single
      // sign-on from before it, or of unknown time, must authenticate the citizen again.
      const notBefore = await deps.notBeforeOf(linked.account.sub);
      if (notBefore !== undefined) {
        if (statedAt === undefined) return done(await refuse(upstream.name, timeUnknown, at, linked.account.sub));
        if (statedAt < notBefore) return done(await refuse(upstream.name, pending.freshLogin ? 'upstream_login_stale' : 'upstream_login_predates_sign_out', at, linked.account.sub));
      }
      // Nothing here needed to know when, so the sign-in goes ahead; but an unknown time is not "now":
      // it is taken to be as old as the oldest login a Yihao session can carry, so that whatever needs
      // a recent login (an app's max_age, the portal's sensitive changes, a device key's enrolment)
      // asks for one afresh, which this upstream must then date.
      const loginAt = statedAt ?? now - deps.sessionTtlSeconds;
      if (sid) await flows.recordSession(upstream.name, sid, linked.account.id, deps.sessionTtlSeconds);
      const authentication: FederatedAuthentication = {
        accountId: linked.account.sub,
        channel: 'web',
        amr: federatedAmr(upstream, login.amr),
        acr: mappedAcr(upstream, login.acr),
        // When the citizen really authenticated: at the upstream, perhaps earlier (its single sign-on).
        at: loginAt,
        upstream: {
          name: upstream.name,
          sub,
          ...(sid ? { sid } : {}),
          // Kept only where Yihao signs citizens out at this upstream, and only sealed.
          ...(hintToken ? { idToken: deps.sealer.seal(hintToken, idTokenPurpose(upstream.name)) } : {}),
        },
      };
      return done({ ok: true, upstream: upstream.name, authentication, how: linked.how });
    },
  };
}
export type FederatedSignIn = ReturnType<typeof createFederatedSignIn>;
