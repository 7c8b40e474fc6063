/**
 * Credentials follow their account (docs/credentials.md, "When an account is disabled"): once an
 * account is disabled, every identity credential issued to it reads "revoked" in its status list,
 * the wallet copies of its department certificates too, and its pending credential offers die,
 * while the department's certificate itself stays the department's (valid, for it to revoke). Another
 * citizen's credentials are untouched. The attacker here holds a wallet of a disabled account (a
 * fraudulently registered one, or a stolen phone) and keeps presenting what it was given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { digest } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { getListFromStatusListJWT } from '@sd-jwt/jwt-status-list';
import type { IssuerMetadataResult } from '@openid4vc/openid4vci';
import { adminResource, type Department } from '../../src/admin/index.js';
import { browserSignIn, callApi, LOA2 } from '../support/admin-operators.js';
import { counterClientOf, offerCodeSentTo, staffSignIn } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { APP_REDIRECT, JWT_BEARER, registerMobileApp } from '../support/mobile-app.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet } from '../support/wallet.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const IDENTITY = 'yihao_identity_sd_jwt';
const LICENCE = 'cert_driving_licence';
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

describe.each(backends)('credentials when their account is disabled ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  let systemToken: string;
  let counter: oidc.Configuration;
  let staffToken: string;
  const dept: Record<'nation' | 'police', Department> = {} as never;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    dept.nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept.police = await boot.createDepartment({ name: '浙江省公安厅', level: 'province', parentId: dept.nation.id });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
    // The police's certificate type, and their system that pushes certificates.
    await h.yihao.credentials.certificates.store.insertType({
      id: 'driving_licence',
      departmentId: dept.police.id,
      vct: `${h.issuer}/credentials/types/driving_licence`,
      names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' },
      claims: { licence_class: { type: 'string', required: true } },
      validityDays: 365,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
    });
    const system = await h.client({ kind: 'service', name: '交管业务系统' });
    await counterClientOf(h, system, '交管业务系统', dept.police.id);
    systemToken = (await oidc.clientCredentialsGrant(await relyingParty(h, system), { scope: 'certificates:push', resource: adminResource(h.issuer) })).access_token;
    // A counter system and its staff, who make offers for citizens in front of them.
    const counterClient = await h.client({ name: '政务服务中心柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    counter = await relyingParty(h, counterClient);
    await counterClientOf(h, counterClient, '政务服务中心柜台', dept.nation.id);
    const staff = await h.citizen({ name: '李柜员' });
    await boot.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId: dept.nation.id });
    staffToken = (await staffSignIn(h, counter, staff)).access_token;
  });
  afterAll(async () => h?.close());

  /** The citizen's wallet signs in (loa:2) for both scopes and gets one identity credential and one licence copy. */
  async function walletWithBoth(citizen: Citizen): Promise<{ identity: string; licence: string }> {
    const wallet = await Wallet.create(appId);
    const metadata: IssuerMetadataResult = await wallet.client.resolveIssuerMetadata(h.issuer);
    const offer = Wallet.offer(h.issuer, IDENTITY);
    const tokens = await wallet.authorize(offer, metadata, 'identity_credential certificate:driving_licence', APP_REDIRECT, browserSignIn(citizen, APP_REDIRECT));
    const dpop = tokens.dpop!;
    const one = async (configuration: string) => {
      const key = await wallet.newKey();
      const res = await wallet.client.retrieveCredentials({
        issuerMetadata: metadata,
        accessToken: tokens.accessTokenResponse.access_token,
        credentialConfigurationId: configuration,
        proofs: { jwt: [await wallet.proof(metadata, configuration, key)] },
        dpop,
      });
      return (res.credentialResponse.credentials![0] as { credential: string }).credential;
    };
    return { identity: await one(IDENTITY), licence: await one(LICENCE) };
  }

  /** A credential's entry in its status list, as any verifier reads it. */
  async function statusOf(credential: string): Promise<number> {
    const { status } = (await new SDJwtVcInstance({ hasher: digest }).decode(credential)).jwt!.payload as { status: { status_list: { uri: string; idx: number } } };
    return getListFromStatusListJWT(await (await fetch(status.status_list.uri)).text()).getStatus(status.status_list.idx);
  }

  async function pushLicence(citizen: Citizen): Promise<string> {
    const pushed = await callApi(h, systemToken, 'POST', '/certificates', { type: 'driving_licence', department_id: dept.police.id, citizen_id: citizen.citizenId, claims: { licence_class: 'C1' } });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
    return pushed.body.id as string;
  }

  it.runIf(enabled)('revokes the identity credentials and the certificates’ wallet copies, kills pending offers, leaves the certificate the department’s, and audits it', async () => {
    const citizen = { ...(await h.citizen({ name: '钱八' })), phone: '13900138088' };
    const bystander = await h.citizen({ name: '孙九' });
    const certificateId = await pushLicence(citizen);
    await pushLicence(bystander);
    const held = await walletWithBoth(citizen);
    const kept = await walletWithBoth(bystander);
    expect(await statusOf(held.identity)).toBe(0);
    expect(await statusOf(held.licence)).toBe(0);

    // An offer made at the counter, not yet redeemed when the account is disabled. Its code goes by
    // SMS, so the account gets a phone now (a phone before would have put the wallets' sign-ins at
    // loa:2 through an SMS step).
    await h.yihao.stores.db('accounts').where({ sub: citizen.sub }).update({ phone: `+86${citizen.phone}` });
    const made = await fetch(`${h.issuer}/credentials/offers/counter`, {
      method: 'POST',
      headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ citizen_id: citizen.citizenId, document_check: 'in_person' }),
    });
    expect(made.status).toBe(200);
    const offer = (await made.json()) as { credential_offer: string };
    const offerDocument = new URL(offer.credential_offer).searchParams.get('credential_offer_uri')!;
    expect((await fetch(offerDocument)).status).toBe(200);

    const account = await h.yihao.accounts.findBySub(citizen.sub);
    await h.yihao.signOut.disableAccount(account!.id, { actorType: 'operator', actorId: 'op-test' });

    // Every verifier now reads both of the disabled account's credentials as revoked (1)...
    expect(await statusOf(held.identity)).toBe(1);
    expect(await statusOf(held.licence)).toBe(1);
    // ...and the bystander's as valid.
    expect(await statusOf(kept.identity)).toBe(0);
    expect(await statusOf(kept.licence)).toBe(0);
    // The pending offer is gone: no document, no redemption, whatever the transaction code.
    expect((await fetch(offerDocument)).status).toBe(404);
    await expect((await Wallet.create(appId)).redeemOffer(offer.credential_offer, await offerCodeSentTo(h, citizen.phone))).rejects.toThrow();

    // The certificate itself is the department's record: still valid in its list, for it to revoke.
    const listed = await callApi(h, systemToken, 'GET', '/certificates');
    expect(listed.body.items.find((c: { id: string }) => c.id === certificateId)).toMatchObject({ status: 'valid' });

    const events = await h.yihao.services.audit.query({ action: 'vc.revoked_with_account', limit: 10 });
    expect(events.events).toHaveLength(1);
    expect(events.events[0]).toMatchObject({ actorType: 'operator', actorId: 'op-test', accountId: citizen.sub });
    expect(events.events[0]!.details).toMatchObject({ reason: 'account_disabled', offers: 1 });
    expect((events.events[0]!.details as { credential_ids: string[] }).credential_ids).toHaveLength(2);
    expect((events.events[0]!.details as { certificate_copies: string[] }).certificate_copies).toHaveLength(1);
    expect(JSON.stringify(events.events[0])).not.toContain(citizen.citizenId);
  });
});
