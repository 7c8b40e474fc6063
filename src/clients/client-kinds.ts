import type { Channel } from '../accounts/index.js';
import { DEVICE_CODE_GRANT, ID_CARD_GRANT, PRESENTATION_GRANT } from '../channels/kiosk/grant-type.js';
import { TOKEN_EXCHANGE_GRANT } from '../channels/counter/grant-type.js';

/** RFC 7523: the mobile app's device-key login. Spelled here so that the CLI need not load the grant (and oidc-provider). */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** OpenID CIBA core: the grant a CIBA client polls (or is pinged for). */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** OID4VCI 1.0 §4.1.1: the government app's wallet redeems a credential offer (docs/credentials.md). */
export const PRE_AUTHORIZED_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';

/**
 * The kinds of relying party that the channels need. A kind only fills in what the operator left
 * unset: an explicit option always wins, and the registry's checks then apply to the result.
 */
export const CLIENT_KINDS = ['web', 'mobile', 'ciba', 'kiosk', 'counter', 'service'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

export interface KindDefaults {
  grantTypes: string[];
  public?: boolean;
  applicationType?: 'web' | 'native';
  dpopRequired?: boolean;
  allowedChannels?: Channel[];
  cibaMode?: 'poll' | 'ping';
  /** The client must authenticate with its own keys (private_key_jwt): --jwks-file or --jwks-uri. */
  needsKeys?: boolean;
}

export const KIND_DEFAULTS: Readonly<Record<ClientKind, KindDefaults>> = {
  // A server-side web app: code flow with a secret.
  web: { grantTypes: ['authorization_code', 'refresh_token'] },
  // A native app holds no secret (PKCE instead), logs in again with its device key (JWT bearer), and
  // its tokens are bound to a DPoP key so that a copied token is useless off the phone.
  mobile: { grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER_GRANT], public: true, applicationType: 'native', dpopRequired: true },
  // A counter system that asks for a citizen by ID number; poll unless a notification endpoint is given.
  ciba: { grantTypes: [CIBA_GRANT], cibaMode: 'poll' },
  // A kiosk signs in citizens by the device flow (phone) or its card reader; it proves itself with its own keys.
  // No channel limit: with the device flow the citizen signs in on a phone or a browser, not at the kiosk.
  kiosk: { grantTypes: [DEVICE_CODE_GRANT, ID_CARD_GRANT, PRESENTATION_GRANT, 'refresh_token'], needsKeys: true },
  // A counter system: staff sign in with the code flow, then exchange their token for an assisted citizen login.
  counter: { grantTypes: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE_GRANT] },
  // A back-end service calling APIs in its own name.
  service: { grantTypes: ['client_credentials'] },
};

/**
 * The kind of a client: the one it was registered as, or for one registered before kinds were
 * recorded, the kind its grants say.
 */
export function kindOf(s: { kind?: ClientKind | undefined; grant_types?: readonly string[] | undefined }): ClientKind {
  if (s.kind) return s.kind;
  const g = s.grant_types ?? [];
  if (g.includes(CIBA_GRANT)) return 'ciba';
  if (g.includes(DEVICE_CODE_GRANT) || g.includes(ID_CARD_GRANT)) return 'kiosk';
  if (g.includes(TOKEN_EXCHANGE_GRANT)) return 'counter';
  if (g.includes(JWT_BEARER_GRANT)) return 'mobile';
  if (g.length > 0 && g.every((x) => x === 'client_credentials')) return 'service';
  return 'web';
}
