import { expect } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Config } from '../../src/config/index.js';
import { startHarness, type Backend, type Harness } from './harness.js';
import { simulatedKiosk, type SimulatedKiosk } from './simulated-kiosk.js';
import { startAsKiosk } from './presentations.js';

/** The credential issuer's keys as an instance publishes them. */
export const issuerJwks = async (at: Harness) => ((await (await fetch(`${at.url}/.well-known/jwt-vc-issuer`)).json()) as { jwks: JSONWebKeySet }).jwks;
/** The OID4VP verifier's keys as an instance publishes them. */
export const verifierJwks = async (at: Harness) => ((await (await fetch(`${at.url}/presentations/verifier`)).json()) as { jwks: JSONWebKeySet }).jwks;

/** 'verified', or why `jwks` refused `jwt` (with the kids involved). */
export const verifiesWith = (jwt: string, jwks: JSONWebKeySet) =>
  jwtVerify(jwt, createLocalJWKSet(jwks)).then(
    () => 'verified',
    (e: unknown) => `refused: ${(e as Error).message} (kid ${decodeProtectedHeader(jwt).kid}; published ${jwks.keys.map((k) => k.kid).join(', ')})`,
  );

/**
 * Two instances on one store for the credential keys' rotation tests: A and B with their own key
 * settings, a kiosk that starts presentation requests at A, and a credential whose status list A
 * signs on each fetch.
 */
export async function credentialKeyPair(backend: Backend, overridesA: (c: Config) => Config, overridesB: (c: Config) => Config) {
  const a = await startHarness({ backend, overrides: overridesA });
  const b = await startHarness({ share: a, overrides: overridesB });
  const kiosk: SimulatedKiosk = await simulatedKiosk(a);
  const citizen = await a.citizen();
  const account = await a.yihao.accounts.findBySub(citizen.sub);
  const { statusListId } = await a.yihao.credentials.store.record({ accountId: account!.id, type: 'urn:yihao:vct:identity:1', clientId: 'yh_app', holderJkt: 'jkt', issuedAt: Date.now(), expiresAt: Date.now() + 86_400_000 });
  return {
    a,
    b,
    /** A status list as A signs it now. */
    statusListAtA: async () => (await fetch(`${a.url}/credentials/status/${statusListId}`)).text(),
    /** A presentation request object as A signs it now. */
    async requestObjectAtA(): Promise<string> {
      const started = await startAsKiosk(a, kiosk, { type: 'identity', claims: ['name'] });
      expect(started.status).toBe(201);
      const { request_uri } = (await started.json()) as { request_uri: string };
      return (await fetch(request_uri)).text();
    },
    async close() {
      await b.close();
      await a.close();
    },
  };
}
export type CredentialKeyPair = Awaited<ReturnType<typeof credentialKeyPair>>;
