/**
 * A wallet copy of a department certificate must never outlive the certificate's revocation or
 * suspension. The attacker is a citizen whose licence is about to be withdrawn, who keeps asking
 * for copies: one request reads the certificate as valid, the department revokes it, and the
 * request goes on to record its copy. Revocation turns only the copies linked at that moment, and a
 * second revoke answers 409, so an unguarded copy would stay valid in its status list until the
 * certificate's validUntil. Each interleaving is driven in order by calling the service's steps (or
 * by starting the revocation at the copy's own insert), never by waiting.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Openid4vciRetrieveCredentialsError } from '@openid4vc/openid4vci';
import { exportJWK, generateKeyPair } from 'jose';
import type { Department } from '../../src/admin/index.js';
import type { Certificate } from '../../src/credentials/certificate-store.js';
import { browserSignIn, LOA2 } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { APP_REDIRECT, registerMobileApp } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet } from '../support/wallet.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const TYPE = 'driving_licence';
const CONFIGURATION = 'cert_driving_licence';
const SCOPE = 'certificate:driving_licence';
const OPERATOR = { sub: 'op-police' };

describe.each(backends)('a certificate revoked or suspended while a wallet copy is issued ($name)', ({ name, enabled }) => {
  let h: Harness;
  let police: Department;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let account: { id: string; sub: string };
  let appId: string;

  const certificates = () => h.yihao.credentials.certificates;

  async function pushCertificate(): Promise<Certificate> {
    const now = Date.now();
    const { certificate } = await h.yihao.stores.db.transaction((trx) =>
      certificates().store.insert(
        { typeId: TYPE, departmentId: police.id, accountId: account.id, claims: { licence_number: 'X1' }, validFrom: now - 1000, validUntil: now + 365 * 86_400_000, pushedBy: 'police-system', createdAt: now, idempotencyKey: undefined },
        trx,
      ),
    );
    return certificate;
  }

  async function walletKeys() {
    const { publicKey } = await generateKeyPair('ES256');
    return [await exportJWK(publicKey)];
  }

  /** The status of every wallet copy linked to the certificate, and of every copy the account holds of its type. */
  async function copies(certificateId: string) {
    const linked = await certificates().store.credentialIds(certificateId);
    const rows = await Promise.all(linked.map((id) => h.yihao.credentials.store.find(id)));
    const held = await h.yihao.credentials.store.listByAccount(account.id);
    return { linked: rows.map((r) => r!.status), valid: held.filter((c) => c.status === 'valid').map((c) => c.id) };
  }

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    police = await h.yihao.admin.services.bootstrap.createDepartment({ name: '公安厅', level: 'national' });
    await certificates().store.insertType({
      id: TYPE,
      departmentId: police.id,
      vct: `${h.issuer}/credentials/types/${TYPE}`,
      names: { 'zh-CN': '驾驶证', en: 'Driving licence' },
      claims: { licence_number: { type: 'string', required: true } },
      validityDays: 2190,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
    });
    citizen = await h.citizen({ name: '王五' });
    account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2 }));
  });
  afterAll(async () => {
    await h?.close();
  });

  it.runIf(enabled)('refuses the copy of a certificate revoked after the request read it, and leaves no valid copy', async () => {
    const certificate = await pushCertificate();
    const now = Date.now();
    const held = await certificates().issuance.held(account, TYPE, now);
    expect(held?.certificate.id).toBe(certificate.id);
    await certificates().issuance.revoke(certificate, OPERATOR, citizen.sub, 'licence withdrawn');

    await expect(certificates().issuance.issue(held!, { account, client: appId, keys: await walletKeys(), now })).rejects.toMatchObject({ name: 'CertificateNotValid' });
    expect(await copies(certificate.id)).toEqual({ linked: [], valid: [] });
  });

  it.runIf(enabled)('refuses the copy of a certificate suspended after the request read it, and none turns valid on resume', async () => {
    const certificate = await pushCertificate();
    const now = Date.now();
    const held = await certificates().issuance.held(account, TYPE, now);
    await certificates().issuance.suspend(certificate, true, OPERATOR, citizen.sub, 'points');

    await expect(certificates().issuance.issue(held!, { account, client: appId, keys: await walletKeys(), now })).rejects.toMatchObject({ name: 'CertificateNotValid' });
    expect(await copies(certificate.id)).toEqual({ linked: [], valid: [] });
    await certificates().issuance.suspend(certificate, false, OPERATOR, citizen.sub);
    await certificates().issuance.revoke({ ...certificate, status: 'valid' }, OPERATOR, citizen.sub);
    expect((await copies(certificate.id)).valid).toEqual([]);
  });

  it.runIf(enabled)('a copy being recorded when the revocation starts is revoked with the certificate', async () => {
    const certificate = await pushCertificate();
    const now = Date.now();
    const held = await certificates().issuance.held(account, TYPE, now);
    let revoking: Promise<unknown> | undefined;
    // The revocation starts the moment the copy's row goes in: before its link, in the old order.
    const startRevoking = (q: { sql: string }) => {
      if (revoking || !/insert into "?issued_credentials"?/i.test(q.sql)) return;
      revoking = certificates().issuance.revoke(certificate, OPERATOR, citizen.sub, 'licence withdrawn');
    };
    h.yihao.stores.db.on('query', startRevoking);
    try {
      await certificates().issuance.issue(held!, { account, client: appId, keys: await walletKeys(), now });
    } finally {
      h.yihao.stores.db.off('query', startRevoking);
    }
    await revoking;

    expect(await copies(certificate.id)).toEqual({ linked: ['revoked'], valid: [] });
  });

  it.runIf(enabled)('the credential endpoint answers credential_request_denied, not a 500, when the revocation lands mid-request', async () => {
    const certificate = await pushCertificate();
    const wallet = await Wallet.create(appId);
    const metadata = await wallet.client.resolveIssuerMetadata(h.issuer);
    const offer = Wallet.offer(h.issuer, CONFIGURATION);
    const tokens = await wallet.authorize(offer, metadata, SCOPE, APP_REDIRECT, browserSignIn(citizen, APP_REDIRECT));

    const ask = async () =>
      wallet.client.retrieveCredentials({
        issuerMetadata: metadata,
        accessToken: tokens.accessTokenResponse.access_token,
        credentialConfigurationId: CONFIGURATION,
        proofs: { jwt: [await wallet.proof(metadata, CONFIGURATION, await wallet.newKey())] },
        dpop: tokens.dpop!,
      });
    await ask();
    expect(await copies(certificate.id)).toMatchObject({ linked: ['valid'] });

    const issuance = certificates().issuance;
    const read = issuance.held.bind(issuance);
    const spy = vi.spyOn(issuance, 'held').mockImplementationOnce(async (...args) => {
      const held = await read(...args);
      await issuance.revoke(certificate, OPERATOR, citizen.sub, 'licence withdrawn');
      return held;
    });
    try {
      const refused = await ask().then(
        () => undefined,
        async (e: unknown) => {
          if (!(e instanceof Openid4vciRetrieveCredentialsError)) throw e;
          return { status: e.response.response.status, body: (await e.response.response.clone().json()) as { error: string } };
        },
      );
      expect(spy).toHaveBeenCalledOnce();
      expect(refused).toMatchObject({ status: 400, body: { error: 'credential_request_denied' } });
    } finally {
      spy.mockRestore();
    }
    expect(await copies(certificate.id)).toEqual({ linked: ['revoked'], valid: [] });
  });
});
