/**
 * A second staff member confirms a colleague's in-person check over HTTP
 * (`POST /counter/proofing/{evidence_id}/confirm`, docs/channels/counter-assisted.md): the counter
 * system calls it with that staff member's own access token, through openid-client. The attacker
 * cases: the staff member who made the check, staff of another department, a staff member signed
 * in with a password only, the citizen the check is about, evidence from another counter system,
 * and a DPoP-bound token without its proof. None of them raises the citizen's proofing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { ACCESS_TOKEN_TYPE, CITIZEN_ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from '../../src/channels/counter/index.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a second staff member confirms an in-person check over HTTP ($name)', ({ name, enabled }) => {
  let h: Harness;
  let counter: oidc.Configuration;
  let counterClientId: string;
  let departmentId: string;
  const counterClient = (h: Harness, clientName: string) =>
    h.client({ name: clientName, grantTypes: ['authorization_code', TOKEN_EXCHANGE_GRANT as never], redirectUris: [REDIRECT], scope: 'openid profile', allowedChannels: ['web', 'counter'], firstParty: true });

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const client = await counterClient(h, '政务服务中心柜台');
    counterClientId = client.client_id;
    counter = await relyingParty(h, client);
    departmentId = await counterClientOf(h, client, '杭州市政务服务中心');
  });
  afterAll(async () => h?.close());

  const assurance = async (sub: string) => (await h.yihao.services.accounts.findBySub(sub))!.assurance;

  /** A counter-staff member of `dept` (default: the counter's), signed in to `rp` at loa:2. */
  async function staffMember(opts: { dpop?: oidc.DPoPHandle; dept?: string; rp?: oidc.Configuration } = {}) {
    const staff = await h.citizen({ name: '李柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId: opts.dept ?? departmentId });
    return { ...staff, token: (await staffSignIn(h, opts.rp ?? counter, staff, opts.dpop ? { dpop: opts.dpop } : {})).access_token };
  }

  /** A staff member's pending in-person check of a fresh citizen, made at `clientId`. */
  async function pendingCheck(by: { sub: string }, clientId = counterClientId) {
    const citizen = await h.citizen();
    const account = (await h.yihao.services.accounts.findBySub(citizen.sub))!;
    const { evidenceId } = await h.yihao.services.proofing.record({ account, method: 'in_person', channel: 'counter', clientId, actor: { type: 'staff', id: by.sub }, documentType: 'idcard' });
    return { citizen, evidenceId };
  }

  /** The counter system calls the endpoint with a staff member's token (openid-client). */
  async function confirm(token: string, evidenceId: string, opts: { dpop?: oidc.DPoPHandle; rp?: oidc.Configuration } = {}) {
    const url = new URL(`${h.issuer}/counter/proofing/${evidenceId}/confirm`);
    // openid-client throws on a WWW-Authenticate challenge; the refusal is in its response.
    const res = await oidc.fetchProtectedResource(opts.rp ?? counter, token, url, 'POST', null, undefined, opts.dpop ? { DPoP: opts.dpop } : {}).catch((e: unknown) => {
      if (e instanceof oidc.WWWAuthenticateChallengeError) return e.response;
      throw e;
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, challenge: res.headers.get('www-authenticate') };
  }

  it.skipIf(!enabled)('confirms through a second counter-staff member of that department, and raises proofing once', async () => {
    const first = await staffMember();
    const second = await staffMember();
    // The first staff member signs the citizen in; the exchange answers with the pending evidence's id.
    const citizen = await h.citizen();
    const exchanged = await oidc.genericGrantRequest(counter, TOKEN_EXCHANGE_GRANT, {
      subject_token: citizen.citizenId,
      subject_token_type: CITIZEN_ID_TOKEN_TYPE,
      actor_token: first.token,
      actor_token_type: ACCESS_TOKEN_TYPE,
      document_check: 'in_person',
      scope: 'openid',
    });
    const evidenceId = exchanged.proofing_evidence_id as string;
    expect(evidenceId).toMatch(/^pe_/);
    expect(await assurance(citizen.sub)).toBe('self_asserted');
    const done = await confirm(second.token, evidenceId);
    expect(done).toMatchObject({ status: 200, body: { evidence_id: evidenceId, status: 'confirmed', raised: true } });
    expect(await assurance(citizen.sub)).toBe('in_person');
    const confirmed = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'identity.proofing_confirmed');
    expect(confirmed).toMatchObject({ actorType: 'operator', actorId: second.sub, clientId: counterClientId, departmentId });
    expect((await confirm(second.token, evidenceId)).status).toBe(409);
  });

  it.skipIf(!enabled)('refuses the staff member who made the check', async () => {
    const first = await staffMember();
    const { citizen, evidenceId } = await pendingCheck(first);
    expect(await confirm(first.token, evidenceId)).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
    expect(await assurance(citizen.sub)).toBe('self_asserted');
  });

  it.skipIf(!enabled)('refuses counter staff of another department', async () => {
    const first = await staffMember();
    const elsewhere = await h.yihao.admin.services.bootstrap.createDepartment({ name: '宁波市政务服务中心', level: 'national' });
    const outsider = await staffMember({ dept: elsewhere.id });
    const { citizen, evidenceId } = await pendingCheck(first);
    expect(await confirm(outsider.token, evidenceId)).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
    expect(await assurance(citizen.sub)).toBe('self_asserted');
  });

  it.skipIf(!enabled)('refuses a staff member signed in with a password only (loa:1), asking for loa:2', async () => {
    const first = await staffMember();
    const weak = await h.citizen({ name: '钱柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: weak.sub, role: 'counter-staff', departmentId });
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(counter, verifier, { scope: 'openid' }), { identifier: weak.citizenId, password: weak.password });
    const atLoa1 = (await oidc.authorizationCodeGrant(counter, callback, { pkceCodeVerifier: verifier })).access_token;
    const { citizen, evidenceId } = await pendingCheck(first);
    const refused = await confirm(atLoa1, evidenceId);
    expect(refused).toMatchObject({ status: 401, body: { error: 'insufficient_user_authentication' } });
    expect(refused.challenge).toContain('acr_values="urn:yihao:loa:2"');
    expect(await assurance(citizen.sub)).toBe('self_asserted');
  });

  it.skipIf(!enabled)('refuses the citizen the check is about, even as counter staff, and a check made at another counter system', async () => {
    const first = await staffMember();
    // A colleague records a check about a staff member; that staff member cannot confirm it.
    const self = await staffMember();
    const account = (await h.yihao.services.accounts.findBySub(self.sub))!;
    const own = await h.yihao.services.proofing.record({ account, method: 'in_person', channel: 'counter', clientId: counterClientId, actor: { type: 'staff', id: first.sub }, documentType: 'idcard' });
    expect((await confirm(self.token, own.evidenceId)).status).toBe(403);
    expect(await assurance(self.sub)).toBe('self_asserted');

    // Another counter system of the same department: its evidence is not this counter's to confirm.
    const otherClient = await counterClient(h, '另一柜台');
    await counterClientOf(h, otherClient, '另一柜台', departmentId);
    const { citizen, evidenceId } = await pendingCheck(first, otherClient.client_id);
    const second = await staffMember();
    expect(await confirm(second.token, evidenceId)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    // A well-formed id that names nothing, and a malformed one.
    expect((await confirm(second.token, 'pe_AAAAAAAAAAAAAAAA')).status).toBe(404);
    expect((await confirm(second.token, 'not-an-id')).status).toBe(400);
    expect(await assurance(citizen.sub)).toBe('self_asserted');
    expect(await h.yihao.services.proofing.find(evidenceId)).toMatchObject({ status: 'pending' });
  });

  it.skipIf(!enabled)('with a DPoP-bound staff token, requires a DPoP proof of the same key', async () => {
    const first = await staffMember();
    const dpop = oidc.getDPoPHandle(counter, await oidc.randomDPoPKeyPair('ES256'));
    const second = await staffMember({ dpop });
    const { citizen, evidenceId } = await pendingCheck(first);
    // openid-client sends a DPoP-bound token as `Authorization: DPoP`; without a proof, or with another key's, it is refused.
    const bare = await fetch(`${h.issuer}/counter/proofing/${evidenceId}/confirm`, { method: 'POST', headers: { authorization: `DPoP ${second.token}` } });
    expect(bare.status).toBe(401);
    const otherKey = oidc.getDPoPHandle(counter, await oidc.randomDPoPKeyPair('ES256'));
    expect((await confirm(second.token, evidenceId, { dpop: otherKey })).status).toBe(401);
    expect(await assurance(citizen.sub)).toBe('self_asserted');
    expect(await confirm(second.token, evidenceId, { dpop })).toMatchObject({ status: 200, body: { raised: true } });
    expect(await assurance(citizen.sub)).toBe('in_person');
  });

  it.skipIf(!enabled)('refuses a missing or dead token without a 500', async () => {
    const first = await staffMember();
    const { evidenceId } = await pendingCheck(first);
    const none = await fetch(`${h.issuer}/counter/proofing/${evidenceId}/confirm`, { method: 'POST' });
    expect(none.status).toBe(401);
    expect((await confirm('not-a-token', evidenceId)).status).toBe(401);
  });
});
