import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Openid4vpVerifier } from '@openid4vc/openid4vp';
import { calculateJwkThumbprint } from 'jose';
import type { Sealer } from '../identity/index.js';
import { ReplayDetectedError, type AdapterConstructor, type AdapterPayload } from '../storage/oidc-adapter.js';
import type { IssuerSigner } from './issuer-signer.js';
import { openid4vp } from './libraries.js';
import { lazyImport } from '../lazy-import.js';
import { checkPresentation, PresentationRefused, REFUSALS, type CredentialTypeCheck, type IssuerTrust, type RefusalCode, type StatusListSource } from './presentation-check.js';

/** Who started a request, and so who may read its result: a kiosk (by client), or a staff member at a counter system. */
export type Starter = { type: 'kiosk'; clientId: string } | { type: 'staff'; sub: string; clientId: string };

/** A type a verifier may ask for: the identity credential, or a department certificate type by id. */
export interface RequestableType {
  /** `identity`, or the certificate type's id. */
  id: string;
  check: CredentialTypeCheck;
  /** The claims one may ask to see. */
  claims: readonly string[];
}

export const PRESENTATION_PATHS = {
  requests: '/presentations/requests',
  object: (id: string) => `/presentations/requests/${id}/object`,
  response: (id: string) => `/presentations/requests/${id}/response`,
  result: (id: string) => `/presentations/requests/${id}`,
  verifier: '/presentations/verifier',
  page: '/presentations/page',
} as const;

const REQUEST_ID = /^[A-Za-z0-9_-]{32}$/;

/** Refusals beyond the presentation's own checks: the wallet declined, or sent something that is no OID4VP response. */
export const RESPONSE_REFUSALS = {
  ...REFUSALS,
  declined: 'the wallet declined to present the credential',
  bad_response: 'the wallet sent no presentation for this request',
} as const;
export type ResponseRefusal = keyof typeof RESPONSE_REFUSALS;

/** What the starter reads: only the claims the holder disclosed, or why the presentation was refused. */
export type PresentationOutcome =
  | { status: 'pending' }
  | { status: 'verified'; vct: string; claims: Record<string, unknown>; issuedAt: number; expiresAt: number; statusAsOf: number }
  | { status: 'refused'; reason: ResponseRefusal };

/** What names the credential presented, for sign-in by presentation: never shown to the starter. */
export interface PresentedCredential {
  vct: string;
  statusList: string;
  statusIndex: number;
  holderJkt: string;
}

interface StoredRequest {
  starter: Starter;
  typeId: string;
  vct: string;
  claims: string[];
  nonce: string;
  /** The `openid4vp://` link (QR code, same-device). */
  link: string;
  /** The signed request object (JAR) served at `request_uri`. */
  requestObject: string;
  /** The authorization request as the wallet reads it (the JAR's payload), for parsing its response. */
  payload: Record<string, unknown>;
  resultTokenHash: string;
  expiresAt: number;
  /** The outcome, sealed: the disclosed claims may hold an ID number. */
  sealedOutcome?: string;
  /** Set once a verified presentation is there (identity credentials: what sign-in by presentation reads). */
  credential?: PresentedCredential;
}

export interface CreatedPresentationRequest {
  id: string;
  /** Handed only to the starter: it reads the result with it. */
  resultToken: string;
  requestUri: string;
  /** `openid4vp://?client_id=…&request_uri=…`: for the QR code, and a same-device link. */
  link: string;
  expiresAt: number;
}

export interface PresentationRequestsDeps {
  issuer: string;
  /** The verifier's client id (pre-registered with the wallet; the key-binding JWT's `aud`). */
  clientId: string;
  signer: IssuerSigner;
  sealer: Sealer;
  Adapter: AdapterConstructor;
  lifetimeSeconds: number;
  /** The issuer's keys, as verifiers see them at `/.well-known/jwt-vc-issuer`. */
  trust: () => Promise<IssuerTrust>;
  statusLists: StatusListSource;
  /** Told of every answered request, once (the verifier audits it). */
  answered?: (a: AnsweredRequest) => Promise<void>;
}

/** A request as it was answered: what was asked, by whom, and the outcome (with the credential when verified). */
export interface AnsweredRequest {
  id: string;
  starter: Starter;
  typeId: string;
  claims: readonly string[];
  outcome: Exclude<PresentationOutcome, { status: 'pending' }>;
  credential?: PresentedCredential;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');
const OUTCOME_AAD = (id: string) => `presentation_outcome:${id}`;

/**
 * Presentation requests (OpenID for Verifiable Presentations 1.0): a kiosk or counter starts one,
 * the wallet fetches its signed request object by reference and posts its `vp_token` back
 * (`direct_post`), once. The presentation goes through the shared checks (presentation-check.ts)
 * with this request's nonce and audience, the status lists read online; the starter reads the
 * outcome with the result token it alone was given. Records live in the short-lived store.
 */
export function presentationRequests(deps: PresentationRequestsDeps) {
  const records = new deps.Adapter('PresentationRequest');
  const slots = new deps.Adapter('ReplayDetection');
  const lifetime = deps.lifetimeSeconds;
  // The result stays readable for a while after the request itself expires.
  const keep = lifetime * 2;
  // The library builds and parses; jose (through the signer) signs. Nothing here is encrypted.
  const verifier = lazyImport(async () => new (await openid4vp()).Openid4vpVerifier({
    callbacks: {
      hash: (data: Uint8Array, alg: string) => new Uint8Array(createHash(alg.replace('-', '').toLowerCase()).update(data).digest()),
      signJwt: async (_signer: unknown, { header, payload }: { header: Record<string, unknown>; payload: Record<string, unknown> }) => ({ jwt: await deps.signer.signJwt(header, payload), signerJwk: undefined }),
      verifyJwt: async () => ({ verified: false }),
      decryptJwe: async () => ({ decrypted: false }),
      encryptJwe: async () => {
        throw new Error('request objects are not encrypted');
      },
    } as unknown as ConstructorParameters<typeof Openid4vpVerifier>[0]['callbacks'],
  }));

  async function load(id: string, now: number): Promise<StoredRequest | undefined> {
    if (!REQUEST_ID.test(id)) return undefined;
    const stored = (await records.find(id)) as StoredRequest | undefined;
    return stored && stored.expiresAt + (keep - lifetime) * 1000 > now ? stored : undefined;
  }

  /** Takes a one-time slot in the replay store; false if it was taken already (on any instance). */
  async function take(slot: string): Promise<boolean> {
    try {
      await slots.upsert(sha256(`presentation_request:${slot}`), { iat: Math.floor(Date.now() / 1000) }, keep + 60);
      return true;
    } catch (e) {
      if (e instanceof ReplayDetectedError) return false;
      throw e;
    }
  }

  async function settle(id: string, stored: StoredRequest, outcome: Exclude<PresentationOutcome, { status: 'pending' }>, credential?: PresentedCredential): Promise<void> {
    const left = Math.max(1, Math.ceil((stored.expiresAt - Date.now()) / 1000) + keep - lifetime);
    const next: StoredRequest = { ...stored, sealedOutcome: deps.sealer.seal(JSON.stringify(outcome), OUTCOME_AAD(id)), ...(credential ? { credential } : {}) };
    await records.upsert(id, next as unknown as AdapterPayload, left);
    await deps.answered?.({ id, starter: stored.starter, typeId: stored.typeId, claims: stored.claims, outcome, ...(credential ? { credential } : {}) });
  }

  return {
    lifetimeSeconds: lifetime,
    clientId: deps.clientId,

    async create(o: { starter: Starter; type: RequestableType; claims: readonly string[] }, now = Date.now()): Promise<CreatedPresentationRequest> {
      const id = randomBytes(24).toString('base64url');
      const resultToken = randomBytes(32).toString('base64url');
      const nonce = randomBytes(24).toString('base64url');
      const requestUri = `${deps.issuer}${PRESENTATION_PATHS.object(id)}`;
      const expiresAt = now + lifetime * 1000;
      const dcql = {
        credentials: [{ id: o.type.id, format: 'dc+sd-jwt', meta: { vct_values: [o.type.check.vct] }, claims: o.claims.map((c) => ({ path: [c] })) }],
      };
      const created = await (await verifier()).createOpenId4vpAuthorizationRequest({
        authorizationRequestPayload: {
          response_type: 'vp_token',
          client_id: deps.clientId,
          response_mode: 'direct_post',
          response_uri: `${deps.issuer}${PRESENTATION_PATHS.response(id)}`,
          nonce,
          state: id,
          dcql_query: dcql,
        },
        // OpenID4VP §5.8: a request object for a wallet found without discovery is for "https://self-issued.me/v2".
        jar: { requestUri, jwtSigner: { method: 'custom', alg: 'ES256' } as never, expiresInSeconds: lifetime, additionalJwtPayload: { aud: 'https://self-issued.me/v2' } },
        now: new Date(now),
      });
      const stored: StoredRequest = {
        starter: o.starter,
        typeId: o.type.id,
        vct: o.type.check.vct,
        claims: [...o.claims],
        nonce,
        link: created.authorizationRequest,
        requestObject: created.jar!.authorizationRequestJwt,
        payload: created.authorizationRequestPayload as Record<string, unknown>,
        resultTokenHash: sha256(resultToken),
        expiresAt,
      };
      await records.upsert(id, stored as unknown as AdapterPayload, keep);
      return { id, resultToken, requestUri, link: created.authorizationRequest, expiresAt };
    },

    /** The request's `openid4vp://` link, while it can still be answered. */
    async link(id: string, now = Date.now()): Promise<string | undefined> {
      const stored = await load(id, now);
      return stored && !stored.sealedOutcome && stored.expiresAt > now ? stored.link : undefined;
    },

    /** The signed request object, while the request can still be answered. */
    async requestObject(id: string, now = Date.now()): Promise<string | undefined> {
      const stored = await load(id, now);
      return stored && !stored.sealedOutcome && stored.expiresAt > now ? stored.requestObject : undefined;
    },

    /**
     * The wallet's `direct_post`. Answered once: the first response (valid or not) takes the
     * request, and a second one is refused without being looked at. Returns the outcome, or
     * undefined for an unknown, expired or already answered request.
     */
    async respond(id: string, body: Record<string, unknown>, types: (vct: string) => Promise<CredentialTypeCheck | undefined>, now = Date.now()): Promise<Exclude<PresentationOutcome, { status: 'pending' }> | undefined> {
      const stored = await load(id, now);
      if (!stored || stored.sealedOutcome || stored.expiresAt <= now) return undefined;
      if (!(await take(`${id}:answered`))) return undefined;
      if (typeof body.error === 'string') {
        const outcome = { status: 'refused', reason: 'declined' } as const;
        await settle(id, stored, outcome);
        return outcome;
      }
      let presentation: string | undefined;
      try {
        const parsed = await (await openid4vp()).parseOpenid4vpAuthorizationResponse({
          authorizationResponse: body,
          authorizationRequestPayload: stored.payload as never,
          callbacks: { verifyJwt: async () => ({ verified: false }), decryptJwe: async () => ({ decrypted: false }) } as never,
        });
        const entries = parsed.type === 'dcql' ? parsed.dcql.presentations[stored.typeId] : undefined;
        if (entries?.length === 1 && typeof entries[0] === 'string') presentation = entries[0];
      } catch {
        presentation = undefined;
      }
      if (!presentation) {
        const outcome = { status: 'refused', reason: 'bad_response' } as const;
        await settle(id, stored, outcome);
        return outcome;
      }
      const type = await types(stored.vct);
      try {
        if (!type) throw new PresentationRefused('unknown_type');
        const verified = await checkPresentation(presentation, { nonce: stored.nonce, audience: deps.clientId, claims: stored.claims, type }, await deps.trust(), deps.statusLists, now);
        // The starter gets the claims it asked for alone, whatever else the wallet disclosed: one that
        // asked for the masked ID number must never read the number (found by a review: a wallet that
        // shared everything handed a kiosk the full number and the name, while the audit record named
        // only what was asked).
        const asked = Object.fromEntries(stored.claims.filter((c) => c in verified.claims).map((c) => [c, verified.claims[c]]));
        const outcome = { status: 'verified', vct: verified.vct, claims: asked, issuedAt: verified.issuedAt, expiresAt: verified.expiresAt, statusAsOf: verified.statusAsOf } as const;
        await settle(id, stored, outcome, { vct: verified.vct, statusList: verified.statusList, statusIndex: verified.statusIndex, holderJkt: await calculateJwkThumbprint(verified.holderJwk) });
        return outcome;
      } catch (e) {
        if (!(e instanceof PresentationRefused)) throw e;
        const outcome = { status: 'refused', reason: e.reason as RefusalCode } as const;
        await settle(id, stored, outcome);
        return outcome;
      }
    },

    /** The outcome for whoever holds the request's result token; undefined for anyone else. */
    async result(id: string, resultToken: string, now = Date.now()): Promise<{ outcome: PresentationOutcome; starter: Starter; expiresAt: number } | undefined> {
      const stored = await load(id, now);
      if (!stored) return undefined;
      const hash = sha256(resultToken);
      if (hash.length !== stored.resultTokenHash.length || !timingSafeEqual(Buffer.from(hash), Buffer.from(stored.resultTokenHash))) return undefined;
      const outcome: PresentationOutcome = stored.sealedOutcome ? (JSON.parse(deps.sealer.open(stored.sealedOutcome, OUTCOME_AAD(id))) as PresentationOutcome) : { status: 'pending' };
      return { outcome, starter: stored.starter, expiresAt: stored.expiresAt };
    },

    /**
     * Sign-in by presentation: the credential a verified request was answered with, for the
     * starter that started it, once. Undefined if the request is unknown, not verified, someone
     * else's, or was used for a sign-in already.
     */
    async takeForSignIn(id: string, starter: (s: Starter) => boolean, now = Date.now()): Promise<PresentedCredential | undefined> {
      const stored = await load(id, now);
      if (!stored?.credential || !starter(stored.starter)) return undefined;
      if (!(await take(`${id}:signed_in`))) return undefined;
      return stored.credential;
    },
  };
}
export type PresentationRequests = ReturnType<typeof presentationRequests>;
