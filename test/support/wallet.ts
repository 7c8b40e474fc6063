/**
 * An independent wallet, built only from @openid4vc/openid4vci (issuance), @openid4vc/openid4vp
 * (presentation) and @sd-jwt/* (holding and presenting) with jose for its keys: nothing of Yihao's
 * own code, so that a test passes only if Yihao speaks the protocols as another implementation
 * reads them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { clientAuthenticationNone, type HashAlgorithm, type JwtSigner } from '@openid4vc/oauth2';
import { Openid4vciClient, type CredentialOfferObject, type IssuerMetadataResult } from '@openid4vc/openid4vci';
import { Openid4vpClient, type ResolvedOpenid4vpAuthorizationRequest } from '@openid4vc/openid4vp';
import { setGlobalConfig } from '@openid4vc/utils';
import { digest, ES256 } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { calculateJwkThumbprint, compactVerify, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

// The harness serves plain http on loopback; a real wallet insists on https.
setGlobalConfig({ allowInsecureUrls: true });

export interface WalletKey {
  publicJwk: JWK;
  privateJwk: JWK;
}

export async function walletKey(): Promise<WalletKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
}

export const jwkSigner = (key: WalletKey): JwtSigner & { method: 'jwk' } => ({ method: 'jwk', alg: 'ES256', publicJwk: key.publicJwk as never });

/** The wallet's key store: signs for whichever of its keys a JWT names. */
class KeyStore {
  private readonly keys = new Map<string, WalletKey>();
  async add(key: WalletKey): Promise<WalletKey> {
    this.keys.set(await calculateJwkThumbprint(key.publicJwk), key);
    return key;
  }
  async privateFor(publicJwk: JWK): Promise<JWK> {
    const key = this.keys.get(await calculateJwkThumbprint(publicJwk));
    if (!key) throw new Error('the wallet holds no such key');
    return key.privateJwk;
  }
}

export class Wallet {
  readonly keys = new KeyStore();
  readonly client: Openid4vciClient;
  /** The wallet's DPoP key (RFC 9449), for every token of this wallet. */
  dpopKey!: WalletKey;
  readonly credentials: { credential: string; key: WalletKey }[] = [];

  constructor(readonly clientId: string) {
    this.client = new Openid4vciClient({
      callbacks: {
        hash: (data: Uint8Array, alg: HashAlgorithm) => new Uint8Array(createHash(alg.replace('-', '')).update(data).digest()),
        generateRandom: (n: number) => new Uint8Array(randomBytes(n)),
        clientAuthentication: clientAuthenticationNone({ clientId }),
        signJwt: async (signer, { header, payload }) => {
          if (signer.method !== 'jwk') throw new Error('this wallet signs with JWKs only');
          const jwt = await new SignJWT(payload as never).setProtectedHeader(header as never).sign(await importJWK(await this.keys.privateFor(signer.publicJwk as JWK), 'ES256'));
          return { jwt, signerJwk: signer.publicJwk };
        },
      },
    });
  }

  static async create(clientId: string): Promise<Wallet> {
    const wallet = new Wallet(clientId);
    wallet.dpopKey = await wallet.keys.add(await walletKey());
    return wallet;
  }

  async newKey(): Promise<WalletKey> {
    return this.keys.add(await walletKey());
  }

  /** The offer a wallet makes itself when the citizen picks the issuer and credential in the app (wallet-initiated). */
  static offer(issuer: string, configurationId: string): CredentialOfferObject {
    return { credential_issuer: issuer, credential_configuration_ids: [configurationId], grants: { authorization_code: {} } };
  }

  /**
   * Scans a credential offer (`openid-credential-offer://?credential_offer_uri=…`, or one it has read already), reads the
   * issuer's metadata and redeems the pre-authorized code with the transaction code the citizen
   * typed in, for a DPoP-bound access token (OID4VCI §4.1, §6.1).
   */
  async redeemOffer(offerUri: string | CredentialOfferObject, txCode: string | undefined) {
    const offer = typeof offerUri === 'string' ? await this.client.resolveCredentialOffer(offerUri) : offerUri;
    const metadata = await this.client.resolveIssuerMetadata(offer.credential_issuer);
    const tokens = await this.client.retrievePreAuthorizedCodeAccessTokenFromOffer({
      credentialOffer: offer,
      issuerMetadata: metadata,
      ...(txCode === undefined ? {} : { txCode }),
      dpop: { signer: jwkSigner(this.dpopKey) },
    });
    return { offer, metadata, accessToken: tokens.accessTokenResponse.access_token, tokenResponse: tokens.accessTokenResponse, dpop: tokens.dpop };
  }

  /**
   * The wallet-initiated path (OID4VCI §5, authorization code): the app asks for `scope`, the citizen
   * signs in at Yihao in a browser (`signIn`, which ends on the app's redirect URI), and the wallet
   * redeems the code for a DPoP-bound access token.
   */
  async authorize(offer: CredentialOfferObject, metadata: IssuerMetadataResult, scope: string, redirectUri: string, signIn: (authorizationUrl: URL) => Promise<URL>) {
    const dpop = { signer: jwkSigner(this.dpopKey) };
    const auth = await this.client.initiateAuthorization({ credentialOffer: offer, issuerMetadata: metadata, clientId: this.clientId, redirectUri, scope, dpop });
    if (auth.authorizationFlow !== 'Oauth2Redirect') throw new Error(`unexpected flow ${auth.authorizationFlow}`);
    const landed = await signIn(new URL(auth.authorizationRequestUrl));
    const code = landed.searchParams.get('code');
    if (!code) throw new Error(`no code at the redirect: ${landed.search}`);
    return this.client.retrieveAuthorizationCodeAccessTokenFromOffer({ credentialOffer: offer, issuerMetadata: metadata, authorizationCode: code, pkceCodeVerifier: auth.pkce?.codeVerifier, redirectUri, dpop });
  }

  /** Asks the nonce endpoint and signs a key proof for `key`. */
  /** `clientId: null` leaves `iss` out, as a wallet may. */
  async proof(metadata: IssuerMetadataResult, configurationId: string, key: WalletKey, opts: { nonce?: string; issuedAt?: Date; clientId?: string | null } = {}): Promise<string> {
    const nonce = opts.nonce ?? (await this.client.requestNonce({ issuerMetadata: metadata })).c_nonce;
    const { jwt } = await this.client.createCredentialRequestJwtProof({
      issuerMetadata: metadata,
      credentialConfigurationId: configurationId,
      signer: jwkSigner(key),
      nonce,
      ...(opts.clientId === null ? {} : { clientId: opts.clientId ?? this.clientId }),
      ...(opts.issuedAt ? { issuedAt: opts.issuedAt } : {}),
    });
    return jwt;
  }

  /** Shows the disclosures `frame` names, with a key-binding JWT for `aud` and `nonce`. */
  async present(held: { credential: string; key: WalletKey }, frame: Record<string, boolean>, kb: { aud: string; nonce: string }): Promise<string> {
    const sdjwt = new SDJwtVcInstance({ hasher: digest, kbSigner: await ES256.getSigner(held.key.privateJwk), kbSignAlg: 'ES256' });
    return sdjwt.present(held.credential, frame, { kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: kb.aud, nonce: kb.nonce } } });
  }
}

/**
 * The wallet's side of OpenID4VP 1.0: it knows the verifiers it trusts (pre-registered: a client id
 * and the keys that sign that verifier's requests, as the government app ships them), resolves a
 * scanned `openid4vp://` request through the library, which verifies the request object's
 * signature through `verifyJwt` below, and answers with `direct_post`.
 */
export class PresentingWallet {
  readonly client: Openid4vpClient;

  constructor(readonly trusted: { clientId: string; jwks: { keys: JWK[] } }) {
    this.client = new Openid4vpClient({
      callbacks: {
        hash: (data: Uint8Array, alg: HashAlgorithm) => new Uint8Array(createHash(alg.replace('-', '')).update(data).digest()),
        fetch: (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => fetch(input, init),
        verifyJwt: async (signer: { method: string; kid?: string }, { compact, payload }: { compact: string; payload: unknown }) => {
          // Only a pre-registered verifier's own key, by kid: the library calls this for the request object.
          const p = payload as { client_id?: string };
          if (signer.method !== 'custom' || p.client_id !== this.trusted.clientId) return { verified: false };
          const key = this.trusted.jwks.keys.find((k) => k.kid === signer.kid);
          if (!key) return { verified: false };
          try {
            await compactVerify(compact, await importJWK(key, 'ES256'), { algorithms: ['ES256'] });
            return { verified: true, signerJwk: key as never };
          } catch {
            return { verified: false };
          }
        },
        signJwt: async () => {
          throw new Error('this wallet does not sign authorization responses');
        },
        decryptJwe: async () => ({ decrypted: false }),
        encryptJwe: async () => {
          throw new Error('this wallet does not encrypt authorization responses');
        },
      } as never,
    });
  }

  /** Resolves a scanned `openid4vp://` link: fetches the request object and verifies its signature. */
  async resolve(link: string): Promise<ResolvedOpenid4vpAuthorizationRequest> {
    const parsed = this.client.parseOpenid4vpAuthorizationRequest({ authorizationRequest: link });
    return this.client.resolveOpenId4vpAuthorizationRequest({ authorizationRequestPayload: parsed.params as never });
  }

  /** The DCQL query's credential id and the claims it asks for (each a one-member path). */
  static asked(resolved: ResolvedOpenid4vpAuthorizationRequest): { id: string; vct: string[]; claims: string[] } {
    const query = resolved.dcql!.query as { credentials: { id: string; meta: { vct_values: string[] }; claims?: { path: string[] }[] }[] };
    const c = query.credentials[0]!;
    return { id: c.id, vct: c.meta.vct_values, claims: (c.claims ?? []).map((x) => x.path[0]!) };
  }

  /** Posts `vp_token` (`{ <credential query id>: [presentation] }`) to the request's response_uri. */
  async submit(resolved: ResolvedOpenid4vpAuthorizationRequest, vpToken: Record<string, string[]>): Promise<Response> {
    const created = await this.client.createOpenid4vpAuthorizationResponse({ authorizationRequestPayload: resolved.authorizationRequestPayload, authorizationResponsePayload: { vp_token: vpToken } });
    const { response } = await this.client.submitOpenid4vpAuthorizationResponse({ authorizationRequestPayload: resolved.authorizationRequestPayload as never, authorizationResponsePayload: created.authorizationResponsePayload });
    return response;
  }
}
