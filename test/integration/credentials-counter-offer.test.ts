/**
 * The counter's credential offer (docs/credentials.md, "at a counter") keeps the staff member's
 * document check as proofing evidence, as token exchange does (who, which counter, when, which
 * document type; never the number), and names the staff member in the wallet's token as `act.sub`
 * the way token exchange does: the staff member's `sub` as the client receiving the token sees it
 * (pairwise for a pairwise app), never the public `sub` handed to an app that should not have it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { LOA2 } from '../support/admin-operators.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { JWT_BEARER, registerMobileApp } from '../support/mobile-app.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet } from '../support/wallet.js';
import { subjectFor, type PairwiseClient } from '../../src/oidc/pairwise.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

describe.each(backends)('a counter’s credential offer: evidence and act ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  let counterId: string;
  let staff: Awaited<ReturnType<Harness['citizen']>>;
  let staffToken: string;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    // A pairwise government app: it must not learn the staff member's public sub.
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED], subjectType: 'pairwise', redirectUris: ['http://127.0.0.1/callback'] }));
    const client = await h.client({ name: '政务服务中心柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    counterId = client.client_id;
    const departmentId = await counterClientOf(h, client, '杭州市政务服务中心');
    staff = await h.citizen({ name: '李柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    staffToken = (await staffSignIn(h, await relyingParty(h, client), staff)).access_token;
  });
  afterAll(async () => h?.close());

  const offerFor = async (citizenId: string) => {
    const res = await fetch(`${h.issuer}/credentials/offers/counter`, {
      method: 'POST',
      headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ citizen_id: citizenId, document_check: 'in_person' }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { credential_offer: string; tx_code: string; proofing_evidence_id?: string };
  };

  it.runIf(enabled)('keeps the staff member’s in-person check as pending evidence, as token exchange does, and answers with its id', async () => {
    const citizen = await h.citizen({ name: '孙七' });
    const made = await offerFor(citizen.citizenId);
    expect(made.proofing_evidence_id).toMatch(/^pe_/);
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    const evidence = (await h.yihao.stores.db('identity_proofing_evidence').where({ account_id: account!.id })) as Record<string, unknown>[];
    expect(evidence).toEqual([expect.objectContaining({ id: made.proofing_evidence_id, status: 'pending', method: 'in_person', channel: 'counter', client_id: counterId, actor_type: 'staff', actor_id: staff.sub, document_type: 'idcard' })]);
    // Raised only once a second staff member or the citizen confirms it.
    expect(account!.assurance).toBe('self_asserted');
    const audited = await h.yihao.stores.db('audit_events').where({ account_id: citizen.sub }).whereIn('action', ['identity.proofing_recorded', 'vc.offer_created']);
    expect(audited.map((e: { action: string }) => e.action).sort()).toEqual(['identity.proofing_recorded', 'vc.offer_created']);
    expect(JSON.stringify(audited)).not.toContain(citizen.citizenId);
  });

  it.runIf(enabled)('names the staff member in the wallet’s token by the sub that app sees (pairwise), as token exchange does', async () => {
    const citizen = await h.citizen({ name: '周八' });
    const made = await offerFor(citizen.citizenId);
    const wallet = await Wallet.create(appId);
    const redeemed = await wallet.redeemOffer(made.credential_offer, made.tx_code);
    // The app asks about its own token, as any client may (introspection).
    const app = await oidc.discovery(new URL(h.issuer), appId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const introspected = await oidc.tokenIntrospection(app, redeemed.accessToken);
    expect(introspected.active).toBe(true);
    const appClient = (await h.yihao.holder.current.Client.find(appId)) as unknown as PairwiseClient;
    const expected = subjectFor(h.yihao.services.purposeKeys.keyed('pairwise', 1), appClient, staff.sub);
    expect(expected).not.toBe(staff.sub);
    expect(introspected.act).toEqual({ sub: expected });
  });
});
