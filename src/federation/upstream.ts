import { z } from 'zod';
// Only pure modules here: the configuration schema imports this file.
import { ACR, ACR_VALUES, type Acr, type Channel } from '../accounts/authentication.js';

const CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const satisfies readonly Channel[];
const claimName = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be a claim name (1-64 characters of A-Z a-z 0-9 _ . : -)');
const acr = z.enum(ACR_VALUES as [Acr, ...Acr[]], { error: `must be one of ${ACR_VALUES.join(', ')}` });

/** What an operator gives to define an upstream provider (CLI or config file); secrets come apart. */
export const upstreamInput = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 characters of a-z 0-9 - (it appears in URLs)'),
    displayName: z.string().trim().min(1).max(64).optional(),
    displayNameEn: z.string().trim().min(1).max(64).optional(),
    issuer: z
      .url({ message: 'must be an absolute URL' })
      .max(512)
      .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
      .transform((u) => u.replace(/\/$/, '')),
    clientId: z.string().min(1).max(255),
    clientAuth: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).default('client_secret_basic'),
    scope: z
      .string()
      .max(512)
      .regex(/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/, 'must be space-separated scope names')
      .refine((s) => s.split(' ').includes('openid'), 'must include openid')
      .default('openid profile'),
    citizenIdClaim: claimName,
    nameClaim: claimName.default('name'),
    phoneClaim: claimName.default('phone_number'),
    /** Upstream acr value -> ours. Values not listed count as one factor. */
    acrMap: z.record(z.string().min(1).max(255), acr).default({}),
    /** The highest level a sign-in through this upstream can reach, whatever it claims. */
    maxAcr: acr.default(ACR.oneFactor),
    /** Whether the upstream's own amr values are passed on (after `fed`). */
    trustAmr: z.boolean().default(false),
    channels: z.array(z.enum(CHANNELS)).min(1).default(['web']),
    /** Push the authorization request first (RFC 9126), when the upstream offers it. */
    usePar: z.boolean().default(false),
    /**
     * A citizen who signs out at Yihao in a browser is sent through the upstream's
     * end_session_endpoint too (RP-Initiated Logout), when the Yihao session came from it.
     */
    signOutUpstream: z.boolean().default(false),
  })
  .strict();
export type UpstreamInput = z.input<typeof upstreamInput>;

/**
 * An upstream defined in the configuration file. Its client secret stays out of the file: it is read
 * at start-up from `clientSecretFile` (a mounted secret). With private_key_jwt, Yihao makes the key
 * pair on first start; `yihao idp list --json` shows the public key to register.
 */
export const configuredUpstream = upstreamInput.extend({ clientSecretFile: z.string().min(1).optional() }).strict();
export type ConfiguredUpstream = z.output<typeof configuredUpstream>;

export type UpstreamStatus = 'active' | 'disabled';

/** An upstream as the rest of Yihao sees it: never its secret or private key. */
export interface Upstream extends Required<Omit<z.output<typeof upstreamInput>, 'displayName' | 'displayNameEn'>> {
  displayName: string;
  displayNameEn: string;
  status: UpstreamStatus;
  /** For private_key_jwt: the public key to register at the upstream. */
  publicJwk: Record<string, unknown> | undefined;
  createdAt: number;
}

/** How Yihao authenticates to the upstream's token endpoint, unsealed only to make that request. */
export type UpstreamCredential = { kind: 'secret'; secret: string } | { kind: 'private_key'; jwk: Record<string, unknown> };

/** RFC 8176 values: only these pass on from a trusted upstream, so a token cannot carry made-up ones. */
export const RFC8176_AMR = new Set(['face', 'fpt', 'geo', 'hwk', 'iris', 'kba', 'mca', 'mfa', 'otp', 'pin', 'pwd', 'rba', 'retina', 'sc', 'sms', 'swk', 'tel', 'user', 'vbm', 'wia']);

/** An upstream's definition, as its audit events record it: never its secret or private key. */
export const upstreamDefinition = (u: Upstream) => ({
  name: u.name,
  display_name: u.displayName,
  display_name_en: u.displayNameEn,
  issuer: u.issuer,
  client_id: u.clientId,
  client_auth: u.clientAuth,
  scope: u.scope,
  citizen_id_claim: u.citizenIdClaim,
  name_claim: u.nameClaim,
  phone_claim: u.phoneClaim,
  acr_map: u.acrMap,
  max_acr: u.maxAcr,
  trust_amr: u.trustAmr,
  channels: u.channels,
  par: u.usePar,
  sign_out_upstream: u.signOutUpstream,
});
