import { createHash, randomBytes } from 'node:crypto';
import type { HashAlgorithm, VerifyJwtCallback } from '@openid4vc/oauth2';
import type { IssuerMetadataResult, Openid4vciIssuer } from '@openid4vc/openid4vci';
import { calculateJwkThumbprint, compactVerify, decodeJwt, importJWK, type JWK } from 'jose';
import type { AuditLog } from '../audit/index.js';
import { ChannelApiError } from '../http/api-error.js';
import { verifyDpopProof, type ProofReplay } from '../http/request-proofs.js';
import { AccessTokenRefused, type VerifyAccessToken } from '../oidc/access-token-verifier.js';
import { AccountNotActive, CertificateNotValid, type CredentialStore } from './credential-store.js';
import { IDENTITY_CONFIGURATION_ID, IDENTITY_SCOPE, IDENTITY_VCT, issueIdentityCredential } from './identity-credential.js';
import type { IssuerSigner } from './issuer-signer.js';
import { BATCH_SIZE, PROOF_ALGS } from './issuer-metadata.js';
import { oauth2, openid4vci } from './libraries.js';
import { lazyImport } from '../lazy-import.js';
import type { CredentialNonces } from './nonces.js';
import type { StatusLists } from './status-lists.js';
import type { CertificateIssuance } from './certificates.js';
import { recoveryHoldUntil } from '../accounts/recovery-hold.js';
import { ACR } from '../accounts/index.js';
import { requestMemo } from '../storage/request-memo.js';
import { FRESH_SIGN_IN_SECONDS } from '../accounts/fresh-sign-in.js';
import { isKioskToken } from '../channels/kiosk/idle.js';

/** The level the identity credential needs (docs/channels/assurance.md): two factors or a device-bound key. */
export const IDENTITY_MIN_ACR = 'urn:yihao:loa:2';

/** How far a key proof's `iat` may be from our clock: behind (the wallet took its time), and ahead (clock skew). */
const PROOF_MAX_AGE_SECONDS = 300;
const PROOF_MAX_AHEAD_SECONDS = 60;

const refuse = (error: string, description: string, status = 400) => new ChannelApiError(status, error, description);
const tokenChallenge = (scheme: string, error: string, description: string) => `${scheme} error="${error}", error_description="${description}"`;

/** Links the credentials issued on one request to the keys that made or approved the token's login. */
export interface CredentialLinks {
  /** Records that a credential just issued came from the token's login (until it expires). */
  add(credentialId: string, expiresAt: number): Promise<void>;
  /**
   * Once every credential of the request is linked: true if the keys are all still there. A removal
   * takes the key away before it collects its links, so either it found these links, or the key is
   * found gone here, and the credentials linked so far are revoked before any leaves.
   */
  settle(): Promise<boolean>;
}
export type CredentialLink = CredentialLinks['add'];

/** What the HTTP layer hands over: the request as received. */
export interface CredentialHttpRequest {
  method: string;
  /** Our public URL of the endpoint (RFC 9449 `htu`). */
  url: string;
  authorization: string;
  dpop: string | undefined;
  body: unknown;
  rawBody: Buffer;
  ip?: string | undefined;
  requestId?: string | undefined;
}

const hash = (data: Uint8Array, alg: HashAlgorithm) => new Uint8Array(createHash(alg.replace('-', '')).update(data).digest());

/** A key proof verifies only with the public key in its own header (`jwk`), ES256. */
const verifyProofJwt: VerifyJwtCallback = async (signer, { compact }) => {
  if (signer.method !== 'jwk' || !PROOF_ALGS.includes(signer.alg)) return { verified: false };
  try {
    await compactVerify(compact, await importJWK(signer.publicJwk as JWK, signer.alg), { algorithms: PROOF_ALGS });
    return { verified: true, signerJwk: signer.publicJwk };
  } catch {
    return { verified: false };
  }
};

/**
 * The credential endpoint's work (OID4VCI 1.0 §8): the access token through the one access-token
 * verifier (for this issuer, with the credential's scope, from a sign-in at loa:2 at least, its
 * DPoP proof if it is DPoP-bound), then the request, then every key proof (signed by the key in its
 * header, for this issuer, fresh, carrying one of our nonces, which is then used up), and only then
 * one credential per proven key, each bound to its key and given its own status list entry.
 */
export function credentialRequests(deps: {
  issuer: string;
  /** Read per request: certificate types add configurations without a restart. */
  metadata: () => Promise<IssuerMetadataResult>;
  verifyAccessToken: VerifyAccessToken;
  replay: ProofReplay;
  nonces: CredentialNonces;
  store: CredentialStore;
  statusLists: StatusLists;
  signer: IssuerSigner;
  audit: AuditLog;
  validitySeconds: number;
  /** Department certificates (`cert_<type>` configurations), when the server issues them. */
  certificates?: CertificateIssuance | undefined;
  /**
   * Links each credential issued on a token to the key (a device key, a passkey) that made or
   * approved the token's login, so that removing the key revokes it (revocation.ts revokeForKey).
   */
  loginLinks?: ((token: unknown, accountSub: string) => Promise<CredentialLinks>) | undefined;
  /** `passwordReset.holdSeconds` (accounts/recovery-hold.ts); none when absent. */
  recoveryHoldSeconds?: number | undefined;
}) {
  // Built with its library on the first credential request (libraries.ts).
  const library = lazyImport(async () => {
    const [{ Openid4vciIssuer }, { Oauth2ServerErrorResponseError }] = await Promise.all([openid4vci(), oauth2()]);
    const vci = new Openid4vciIssuer({
      callbacks: {
        hash,
        verifyJwt: verifyProofJwt,
        generateRandom: (n) => new Uint8Array(randomBytes(n)),
        signJwt: () => {
          throw new Error('the credential endpoint signs with the issuer key directly');
        },
        clientAuthentication: () => undefined,
      },
    });
    return { vci, Oauth2ServerErrorResponseError };
  });

  /** The token's scope is checked once the request says which configuration (and so which scope) it is for. */
  async function authorize(req: CredentialHttpRequest) {
    const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/.exec(req.authorization);
    if (!match) throw new ChannelApiError(401, 'invalid_token', 'an access token is required (Authorization: Bearer or DPoP)', 'Bearer, DPoP algs="ES256 EdDSA RS256 PS256"');
    const [, scheme, token] = match as unknown as [string, 'Bearer' | 'DPoP', string];
    try {
      return await deps.verifyAccessToken(token, {
        audience: deps.issuer,
        minAcr: IDENTITY_MIN_ACR,
        dpop: {
          required: scheme === 'DPoP',
          prove: async (jkt) => {
            // RFC 9449 §7.1: a DPoP-bound token comes with the DPoP scheme, and a proof of its key for this call.
            if (scheme !== 'DPoP') throw new ChannelApiError(401, 'invalid_token', 'the access token is DPoP-bound: send it as Authorization: DPoP', tokenChallenge('DPoP', 'invalid_token', 'the access token is DPoP-bound'));
            await verifyDpopProof(req.dpop, { method: req.method, url: req.url, accessToken: token, body: req.rawBody }, jkt, deps.replay);
            return true;
          },
        },
      });
    } catch (e) {
      if (!(e instanceof AccessTokenRefused)) throw e;
      if (e.reason === 'insufficient_acr') {
        throw new ChannelApiError(401, 'insufficient_user_authentication', e.message, tokenChallenge(scheme, 'insufficient_user_authentication', e.message) + `, acr_values="${IDENTITY_MIN_ACR}"`);
      }
      if (e.reason === 'insufficient_scope') throw new ChannelApiError(403, 'insufficient_scope', e.message, tokenChallenge(scheme, 'insufficient_scope', e.message));
      throw new ChannelApiError(401, 'invalid_token', e.message, tokenChallenge(scheme, 'invalid_token', e.message));
    }
  }

  function parse({ vci, Oauth2ServerErrorResponseError }: Awaited<ReturnType<typeof library>>, body: unknown, metadata: IssuerMetadataResult) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw refuse('invalid_credential_request', 'the body must be a JSON object');
    try {
      return vci.parseCredentialRequest({ issuerMetadata: metadata, credentialRequest: body as Record<string, unknown> });
    } catch (e) {
      if (e instanceof Oauth2ServerErrorResponseError) throw refuse(String(e.errorResponse.error), String(e.errorResponse.error_description ?? 'the credential request is not valid'));
      throw refuse('invalid_credential_request', 'the credential request is not valid');
    }
  }

  /** Checks every proof and returns the keys they prove, using up their (one) nonce. */
  async function provenKeys(vci: Openid4vciIssuer, jwts: string[], clientId: string, now: number, metadata: IssuerMetadataResult): Promise<JWK[]> {
    if (jwts.length === 0) throw refuse('invalid_proof', 'a key proof (proofs.jwt) is required');
    if (jwts.length > BATCH_SIZE) throw refuse('invalid_proof', `at most ${BATCH_SIZE} key proofs per request`);
    let nonce: string | undefined;
    const keys: JWK[] = [];
    for (const jwt of jwts) {
      let claimed: Record<string, unknown>;
      try {
        claimed = decodeJwt(jwt);
      } catch {
        throw refuse('invalid_proof', 'a key proof is not a JWT');
      }
      // OID4VCI §8.3.1.2: a missing, unknown, expired or used nonce asks the wallet for a fresh one.
      const checked = deps.nonces.check(claimed.nonce, now);
      if (!checked.ok) throw refuse('invalid_nonce', checked.reason === 'expired' ? 'the key proof nonce has expired: get a new one from the nonce endpoint' : 'the key proof needs a nonce from the nonce endpoint');
      if (nonce !== undefined && claimed.nonce !== nonce) throw refuse('invalid_proof', 'every key proof of a request must carry the same nonce');
      nonce = claimed.nonce as string;
      let verified: Awaited<ReturnType<typeof vci.verifyCredentialRequestJwtProof>>;
      try {
        // `iss` is optional (OID4VCI §F.1); when present it must be this app.
        const expectedIss = claimed.iss === undefined ? {} : { clientId };
        verified = await vci.verifyCredentialRequestJwtProof({ issuerMetadata: metadata, jwt, expectedNonce: nonce, nonceExpiresAt: checked.expiresAt, ...expectedIss, now: new Date(now) });
      } catch {
        throw refuse('invalid_proof', 'a key proof is not signed by the key in its header (jwk, ES256), or is not for this issuer and app');
      }
      const iat = verified.payload.iat;
      if (iat < now / 1000 - PROOF_MAX_AGE_SECONDS || iat > now / 1000 + PROOF_MAX_AHEAD_SECONDS) throw refuse('invalid_proof', 'a key proof is not fresh (iat)');
      const jwk = verified.signer.publicJwk as JWK;
      if (verified.signer.method !== 'jwk' || 'd' in jwk) throw refuse('invalid_proof', 'a key proof must name its public key (jwk)');
      keys.push(jwk);
    }
    const thumbprints = await Promise.all(keys.map((k) => calculateJwkThumbprint(k)));
    if (new Set(thumbprints).size !== thumbprints.length) throw refuse('invalid_proof', 'each key proof of a batch must be for a different key');
    if (!(await deps.nonces.consume(nonce!))) throw refuse('invalid_nonce', 'the key proof nonce was used before: get a new one from the nonce endpoint');
    return keys;
  }

  return {
    async handle(req: CredentialHttpRequest): Promise<Record<string, unknown>> {
      try {
        return await issue(req);
      } catch (e) {
        // Revoked or suspended after the request read it: refused as the request would be now.
        if (e instanceof CertificateNotValid) throw refuse('credential_request_denied', 'the certificate is no longer valid');
        // Disabled after its token was checked: refused as its token would be now.
        if (!(e instanceof AccountNotActive)) throw e;
        const scheme = req.authorization.startsWith('DPoP') ? 'DPoP' : 'Bearer';
        const message = 'the account behind the access token is not active';
        throw new ChannelApiError(401, 'invalid_token', message, tokenChallenge(scheme, 'invalid_token', message));
      }
    },
  };

  async function issue(req: CredentialHttpRequest): Promise<Record<string, unknown>> {
    const now = Date.now();
    const { client, account, facts, token } = await authorize(req);
    const metadata = await deps.metadata();
    const lib = await library();
    const { vci } = lib;
    const parsed = parse(lib, req.body, metadata);
    const certificate = parsed.credentialConfigurationId === undefined ? undefined : deps.certificates?.configuration(parsed.credentialConfigurationId);
    if (parsed.credentialConfigurationId !== IDENTITY_CONFIGURATION_ID && !certificate) {
      throw refuse('unknown_credential_configuration', `this issuer issues ${IDENTITY_CONFIGURATION_ID} and its certificate types' configurations (credential_configuration_id)`);
    }
    const scope = certificate?.scope ?? IDENTITY_SCOPE;
    if (!String(token.scope ?? '').split(' ').includes(scope)) {
      const message = `the access token lacks the ${scope} scope`;
      throw new ChannelApiError(403, 'insufficient_scope', message, tokenChallenge(req.authorization.startsWith('DPoP') ? 'DPoP' : 'Bearer', 'insufficient_scope', message));
    }
    const jwts = parsed.proofs?.jwt;
    if (!jwts) throw refuse('invalid_proof', 'key proofs of type jwt are required (proofs.jwt)');
    // A credential outlasts the login: none while the recovery hold after an SMS reset runs, unless
    // the login checked the citizen's ID document (a counter's offer, loa:3), which a phone alone
    // cannot pass. Before a proof uses its nonce up.
    const holdUntil = recoveryHoldUntil(account, deps.recoveryHoldSeconds ?? 0, now);
    if (holdUntil !== undefined && facts?.acr !== ACR.document) {
      throw refuse('credential_request_denied', `the password was reset by SMS lately: no credential is issued before ${new Date(holdUntil).toISOString()}`);
    }
    // The wallet's own sign-in (an authorization code with the issuer as resource) is held to what
    // the portal asks before an offer (portal/lasting-credential-gate.ts): a credential outlasts the
    // login by a year, so a browser left signed in or a stolen cookie must not yield one through
    // single sign-on. A fresh sign-in, then, and not a phone's approval of a QR code, which can be
    // relayed to a phished citizen (the portal asks the account's SMS code after one; this path has
    // no page to ask on). An offer's token was gated where the offer was made.
    if (token.gty !== 'pre-authorized_code') {
      const scheme = req.authorization.startsWith('DPoP') ? 'DPoP' : 'Bearer';
      const signInAgain = (message: string) =>
        new ChannelApiError(401, 'insufficient_user_authentication', message, tokenChallenge(scheme, 'insufficient_user_authentication', message) + `, max_age="${FRESH_SIGN_IN_SECONDS}"`);
      if (facts?.device_key === 'approval') throw signInAgain('a sign-in approved on a phone yields no credential: sign in on this device (prompt=login)');
      // A kiosk's session is the citizen's for as long as they stand there (credential-resource.ts).
      if (isKioskToken(token as { gty?: string })) throw signInAgain('a kiosk session yields no credential: ask for one in the government app');
      if (!facts || now / 1000 - facts.auth_time > FRESH_SIGN_IN_SECONDS) throw signInAgain(`a credential needs a sign-in at most ${FRESH_SIGN_IN_SECONDS} seconds old: sign in again (prompt=login)`);
    }
    // Before a proof uses its nonce up: a citizen without the certificate may ask again once they have it.
    const held = certificate && (await deps.certificates!.held(account, certificate.typeId, now, token as { gty?: string; grantId?: string }));
    if (certificate && !held) throw refuse('credential_request_denied', 'the citizen holds no valid certificate of this type');
    const keys = await provenKeys(vci, jwts, client.clientId, now, metadata);
    // An offer's token (a counter's, at loa:3, or a department's certificate offer) yields one
    // issuance, of as many keys as its request proves: the same token again, with fresh nonces and
    // new keys, would mint copies of the citizen's credential for whoever holds it, for its lifetime.
    // Taken once across instances, kept as long as the token lives, and given back if this request
    // fails (a store that went away) before the credentials go out, so the wallet's retry gets them.
    if (token.gty === 'pre-authorized_code' && token.grantId) {
      const grantId = token.grantId;
      const keep = Math.max(60, Number(token.exp ?? 0) - Math.floor(now / 1000) + 60);
      if (!(await deps.replay('vc_offer_issued', grantId, 'once', keep))) {
        throw refuse('credential_request_denied', 'this offer’s credentials were issued already: ask for a new offer');
      }
      requestMemo()?.onFailure.push(() => deps.replay.giveBack('vc_offer_issued', grantId, 'once'));
    }
    const links = await deps.loginLinks?.(token, account.sub);
    const keyRemoved = () => {
      const scheme = req.authorization.startsWith('DPoP') ? 'DPoP' : 'Bearer';
      const message = 'the key that made the access token’s sign-in was removed';
      return new ChannelApiError(401, 'invalid_token', message, tokenChallenge(scheme, 'invalid_token', message));
    };
    if (held) {
      const credentials = await deps.certificates!.issue(held, { account, client: client.clientId, keys, now, ip: req.ip, requestId: req.requestId, link: links?.add.bind(links) });
      if (links && !(await links.settle())) throw keyRemoved();
      return vci.createCredentialResponse({ credentialRequest: parsed, credentials });
    }
    const acr = facts?.acr ?? IDENTITY_MIN_ACR;
    const expiresAt = now + deps.validitySeconds * 1000;
    const signingKey = await deps.signer.active();
    const credentials: { credential: string }[] = [];
    const ids: string[] = [];
    for (const holderJwk of keys) {
      const row = await deps.store.record({ accountId: account.id, type: IDENTITY_VCT, clientId: client.clientId, holderJkt: await calculateJwkThumbprint(holderJwk), issuedAt: now, expiresAt, kid: signingKey.kid });
      ids.push(row.id);
      await links?.add(row.id, expiresAt);
      const credential = await issueIdentityCredential({
        subject: { account, acr },
        holderJwk,
        issuer: deps.issuer,
        issuedAt: now,
        expiresAt,
        status: { uri: deps.statusLists.uri(row.statusListId), idx: row.statusIndex },
        signingKey,
      });
      credentials.push({ credential });
    }
    if (links && !(await links.settle())) throw keyRemoved();
    await deps.audit.append({
      action: 'vc.issued',
      actorType: 'citizen',
      actorId: account.sub,
      accountId: account.sub,
      clientId: client.clientId,
      ip: req.ip,
      requestId: req.requestId,
      details: { type: IDENTITY_VCT, credential_ids: ids, acr },
    });
    return vci.createCredentialResponse({ credentialRequest: parsed, credentials });
  }
}
export type CredentialRequests = ReturnType<typeof credentialRequests>;
