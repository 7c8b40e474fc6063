import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { hostCanHoldPasskeys } from './rp-id.js';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { lazyImport } from '../lazy-import.js';
import { ACR, type Account, type Accounts, type Authentication } from '../accounts/index.js';
import { maskCitizenId } from '../identity/index.js';
import type { PasskeyLogin } from '../oidc/token-facts.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { webauthnChallenges, type ChallengeBinding } from './challenges.js';
import { passkeyStore, type PasskeyRow } from './passkey-store.js';
import { parseAuthenticationResponse, parseRegistrationResponse } from './responses.js';

// Its certificate and CBOR parsers are the heaviest library Yihao loads (src/lazy-import.ts).
const webauthn = lazyImport(() => import('@simplewebauthn/server'));

export interface PasskeysDeps {
  db: Database;
  Adapter: AdapterConstructor;
  accounts: Accounts;
  /** The relying party: the issuer's origin, and its host as the RP ID. */
  origin: string;
  rpId: string;
  rpName: string;
  /** How long a ceremony may take, challenge included. */
  timeoutSeconds: number;
  /** Announce a passkey its authenticator calls device-bound as amr `hwk` (config `passkeys.trustClaimedHardwareKeys`). */
  trustClaimedHardwareKeys: boolean;
}

export type PasskeyEnrolment = { ok: true; credentialId: string } | { ok: false; reason: 'invalid' | 'expired' | 'already_registered' };

export type PasskeySignIn =
  | { ok: true; account: Account; authentication: Authentication }
  | { ok: false; reason: 'invalid' | 'expired' | 'unknown_passkey' | 'inactive' };

/**
 * RFC 8176: a passkey bound to one authenticator is a hardware-secured key (`hwk`); a synced
 * passkey (backup eligible) lives in a cloud keychain, so it is a software-secured key (`swk`).
 * Without attestation "bound to one authenticator" is the authenticator's claim, so it counts only
 * where the deployment trusts such claims.
 */
export const passkeyAmr = (deviceType: PasskeyRow['device_type'], trustClaimedHardwareKeys: boolean): string[] => [trustClaimedHardwareKeys && deviceType === 'singleDevice' ? 'hwk' : 'swk'];

const newCredentialId = () => `c_${randomBytes(12).toString('base64url')}`;
// The WebAuthn user handle is the account's public `sub`: random, stable, and nothing about the citizen.
const userHandleOf = (account: Account) => new TextEncoder().encode(account.sub);

/**
 * Passkeys (WebAuthn, via @simplewebauthn/server): enrolment for a signed-in citizen, and
 * discoverable sign-in that reaches `urn:yihao:loa:2` on its own (possession of the key plus the
 * authenticator's user verification). Knows nothing about HTTP.
 *
 * - Every ceremony needs user verification, and every challenge is single use (see challenges.ts).
 * - Never throttled or locked by failed guesses of the account's other credentials (issue 11): a
 *   passkey is how a citizen gets in while a stranger guesses the password. A signature counter
 *   that goes backwards (a cloned authenticator) is refused.
 */
export function createPasskeys(deps: PasskeysDeps) {
  const store = passkeyStore(deps.db);
  const challenges = webauthnChallenges(deps.Adapter, deps.timeoutSeconds);
  const timeout = deps.timeoutSeconds * 1000;
  const expected = { expectedOrigin: deps.origin, expectedRPID: deps.rpId, requireUserVerification: true };

  // The library base64url-encodes a challenge given as bytes; given a string, it would encode the
  // string's UTF-8 instead. Bytes, so that clientDataJSON carries exactly the stored id.
  const issue = async (binding: ChallengeBinding) => Buffer.from(await challenges.issue(binding), 'base64url');

  /** The challenge in a response's clientDataJSON, taken (single use) if it was issued for `binding`. */
  async function takeChallenge(clientDataJSON: string, binding: ChallengeBinding): Promise<string | undefined> {
    let challenge: unknown;
    try {
      challenge = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    } catch {
      return undefined;
    }
    return typeof challenge === 'string' && (await challenges.take(challenge, binding)) ? challenge : undefined;
  }

  return {
    /** False at an IP-address issuer: no browser would make or use a passkey for it. */
    available: hostCanHoldPasskeys(deps.rpId),
    async registrationOptions(account: Account, boundTo: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const existing = await store.forAccount(account.id);
      const label = maskCitizenId(account.citizenId());
      return (await webauthn()).generateRegistrationOptions({
        rpName: deps.rpName,
        rpID: deps.rpId,
        userName: label,
        userDisplayName: label,
        userID: userHandleOf(account),
        challenge: await issue({ purpose: 'register', boundTo }),
        timeout,
        attestationType: 'none',
        excludeCredentials: existing.map((p) => ({ id: p.webauthn_id, ...(p.transports ? { transports: p.transports.split(',') } : {}) })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
    },

    /**
     * Verifies a registration response against the challenge issued for `boundTo`, and stores the
     * passkey, with `record` (its audit event) in the same transaction.
     */
    async register(account: Account, boundTo: string, raw: unknown, record?: (trx: Knex.Transaction) => Promise<void>): Promise<PasskeyEnrolment> {
      const response = parseRegistrationResponse(raw);
      if (!response) return { ok: false, reason: 'invalid' };
      const challenge = await takeChallenge(response.response.clientDataJSON, { purpose: 'register', boundTo });
      if (!challenge) return { ok: false, reason: 'expired' };
      let info;
      try {
        const verified = await (await webauthn()).verifyRegistrationResponse({ response: response as RegistrationResponseJSON, expectedChallenge: challenge, ...expected });
        if (!verified.verified) return { ok: false, reason: 'invalid' };
        info = verified.registrationInfo;
      } catch {
        return { ok: false, reason: 'invalid' };
      }
      if (await store.byWebauthnId(info.credential.id)) return { ok: false, reason: 'already_registered' };
      const credentialId = newCredentialId();
      await store.insert(
        {
          credential_id: credentialId,
          account_id: account.id,
          webauthn_id: info.credential.id,
          public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
          sign_count: info.credential.counter,
          transports: info.credential.transports?.length ? info.credential.transports.join(',') : null,
          device_type: info.credentialDeviceType,
          backed_up: info.credentialBackedUp,
          aaguid: info.aaguid,
        },
        Date.now(),
        record,
      );
      return { ok: true, credentialId };
    },

    /** Options for a discoverable sign-in: no account is named, the authenticator offers its passkeys. */
    async authenticationOptions(boundTo: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
      return (await webauthn()).generateAuthenticationOptions({
        rpID: deps.rpId,
        challenge: await issue({ purpose: 'authenticate', boundTo }),
        timeout,
        userVerification: 'required',
      });
    },

    /** Verifies an assertion against the challenge issued for `boundTo`; on success, a web loa:2 Authentication. */
    async signIn(boundTo: string, raw: unknown): Promise<PasskeySignIn> {
      const response = parseAuthenticationResponse(raw);
      if (!response) return { ok: false, reason: 'invalid' };
      const challenge = await takeChallenge(response.response.clientDataJSON, { purpose: 'authenticate', boundTo });
      if (!challenge) return { ok: false, reason: 'expired' };
      const passkey = await store.byWebauthnId(response.id);
      if (!passkey) return { ok: false, reason: 'unknown_passkey' };
      const account = await deps.accounts.findById(passkey.account_id);
      if (!account || account.status !== 'active') return { ok: false, reason: 'inactive' };
      if (response.response.userHandle !== undefined && response.response.userHandle !== Buffer.from(userHandleOf(account)).toString('base64url')) {
        return { ok: false, reason: 'invalid' };
      }
      // No lockout: a signature cannot be guessed, and password guesses must never block a passkey.
      // Floods of bad assertions meet the rate limit at the edge instead.
      const fail = async (): Promise<PasskeySignIn> => ({ ok: false, reason: 'invalid' });
      let info;
      try {
        const verified = await (await webauthn()).verifyAuthenticationResponse({
          response: response as AuthenticationResponseJSON,
          expectedChallenge: challenge,
          ...expected,
          credential: { id: passkey.webauthn_id, publicKey: Buffer.from(passkey.public_key, 'base64url'), counter: Number(passkey.sign_count) },
        });
        if (!verified.verified) return await fail();
        info = verified.authenticationInfo;
      } catch {
        // Includes a counter that did not move forward: the sign of a cloned authenticator.
        return await fail();
      }
      if (!(await store.recordUse(passkey.credential_id, Number(passkey.sign_count), info.newCounter, Date.now()))) return await fail();
      // The record names the passkey, so that removing it ends the logins it made (oidc/sign-out.ts).
      const authentication: PasskeyLogin = {
        accountId: account.sub,
        channel: 'web',
        amr: passkeyAmr(info.credentialDeviceType, deps.trustClaimedHardwareKeys),
        acr: ACR.twoFactor,
        at: Math.floor(Date.now() / 1000),
        passkey: { id: passkey.credential_id },
      };
      return { ok: true, account, authentication };
    },
  };
}
export type Passkeys = ReturnType<typeof createPasskeys>;
