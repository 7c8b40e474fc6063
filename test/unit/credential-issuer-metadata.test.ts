/**
 * The issuer metadata and the library's request checks work for a development issuer on http://
 * (the embedded default, http://localhost:3000) without the library's process-wide
 * `allowInsecureUrls` switch: the server must start, and parse requests, on a fresh machine.
 */
import { Openid4vciIssuer } from '@openid4vc/openid4vci';
import { getGlobalConfig, setGlobalConfig } from '@openid4vc/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialIssuerMetadata, issuerMetadataResult } from '../../src/credentials/issuer-metadata.js';

const unused = () => {
  throw new Error('unused');
};

describe('credential issuer metadata on an http:// development issuer', () => {
  // The test wallet (test/support/wallet.ts) turns the switch on for the whole process; a file that
  // used it may have run in this worker before, so it is turned off here for this file alone.
  const before = getGlobalConfig();
  beforeAll(() => setGlobalConfig({ ...before, allowInsecureUrls: false }));
  afterAll(() => setGlobalConfig(before));

  it('builds, and the library parses a credential request against it', async () => {
    expect(getGlobalConfig().allowInsecureUrls).toBe(false);
    const issuer = 'http://localhost:3000';
    const metadata = credentialIssuerMetadata(issuer);
    const result = await issuerMetadataResult(issuer, metadata);
    expect(Object.keys(result.knownCredentialConfigurations)).toEqual(['yihao_identity_sd_jwt']);
    const vci = new Openid4vciIssuer({ callbacks: { hash: unused, signJwt: unused, verifyJwt: unused, generateRandom: unused, clientAuthentication: unused } });
    const parsed = vci.parseCredentialRequest({ issuerMetadata: result, credentialRequest: { credential_configuration_id: 'yihao_identity_sd_jwt', proofs: { jwt: ['eyJhbGciOiJFUzI1NiJ9.e30.c2ln'] } } });
    expect(parsed.credentialConfigurationId).toBe('yihao_identity_sd_jwt');
    expect(parsed.proofs?.jwt).toHaveLength(1);
  });
});
