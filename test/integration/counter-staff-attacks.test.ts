/**
 * The counter channel against a malicious staff member or counter system (a review's attacks, all
 * refused): chaining an exchanged token to act as a colleague, one counter's staff token at another,
 * refresh tokens from an exchange, a removed role or a disabled account, and the per-staff
 * revocation budget under parallel requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { oauthError, REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const enabled = pgAvailable && redisAvailable;
let seq = 0;

describe.runIf(enabled)('the counter channel against its own staff (PostgreSQL + Redis)', () => {
  let h: Harness;
  let counter: oidc.Configuration;
  let counterB: oidc.Configuration;
  let departmentId: string;

  const person = async (name: string, phone?: string) => {
    const citizenId = syntheticCitizenId({ seq: seq++ });
    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const account = await h.yihao.accounts.create({ citizenId, name, password, ...(phone ? { phone } : {}) });
    return { citizenId, password, sub: account.sub, id: account.id, name };
  };
  const staffOf = async (name: string, rp = counter) => {
    const s = await person(name);
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: s.sub, role: 'counter-staff', departmentId });
    return { ...s, token: (await staffSignIn(h, rp, s)).access_token };
  };
  const exchange = (actorToken: string, citizenId: string, rp = counter, extra: Record<string, string> = {}) =>
    oidc.genericGrantRequest(rp, TOKEN_EXCHANGE, {
      subject_token: citizenId, subject_token_type: 'urn:yihao:token-type:citizen-id',
      actor_token: actorToken, actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      document_check: 'in_person', scope: 'openid profile', ...extra,
    });
  const post = (path: string, token: string, body?: unknown) =>
    fetch(`${h.issuer}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });

  beforeAll(async () => {
    h = await startHarness({ backend: 'postgres+redis', overrides: (c) => ({ ...c, rateLimits: { ...c.rateLimits, counterDeviceRevocations: { points: 3, durationSeconds: 86_400 } } }) });
    const client = await h.client({ name: '柜台A', kind: 'counter' as never, grantTypes: ['authorization_code', 'refresh_token' as never, TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile offline_access', firstParty: true, allowedChannels: ['web', 'counter'] } as never);
    counter = await relyingParty(h, client);
    departmentId = await counterClientOf(h, client, '杭州市政务服务中心');
    const clientB = await h.client({ name: '柜台B', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true, allowedChannels: ['web', 'counter'] } as never);
    counterB = await relyingParty(h, clientB);
    await counterClientOf(h, clientB, 'x', departmentId);
  }, 120_000);
  afterAll(async () => h?.close());

  it('a citizen token minted by exchange for a colleague (counter staff) does not act as that colleague', async () => {
    const a = await staffOf('甲柜员');
    const b = await staffOf('乙柜员');
    const citizen = await person('王五');
    // A makes a check of a citizen (pending evidence) ...
    const first = await exchange(a.token, citizen.citizenId);
    const evidenceId = (first as unknown as { proofing_evidence_id?: string }).proofing_evidence_id;
    expect(evidenceId).toBeTruthy();
    // ... then exchanges for colleague B, who is not present, and uses B's loa:3 token as B.
    const asB = (await exchange(a.token, b.citizenId)).access_token;
    const confirm = await post(`/counter/proofing/${evidenceId}/confirm`, asB);
    expect(confirm.status, await confirm.clone().text()).not.toBe(200);
    expect(await oauthError(exchange(asB, citizen.citizenId))).toMatchObject({ error: 'invalid_grant' });
    const revoke = await post('/counter/device-keys/revoke', asB, { citizen_id: citizen.citizenId, document_check: 'in_person' });
    expect(revoke.status).toBe(401);
  });

  it('a staff token of counter A is refused by counter B (same department)', async () => {
    const a = await staffOf('丙柜员');
    const citizen = await person('赵六');
    expect(await oauthError(exchange(a.token, citizen.citizenId, counterB))).toMatchObject({ error: 'invalid_grant' });
  });

  it('an exchanged login gets no refresh token even with offline_access at a counter-kind client', async () => {
    const a = await staffOf('丁柜员');
    const citizen = await person('钱七');
    const tokens = await exchange(a.token, citizen.citizenId, counter, { scope: 'openid profile offline_access' });
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.expires_in).toBeLessThanOrEqual(600);
  });

  it('a staff member whose role was removed, or whose account was disabled, no longer acts', async () => {
    const a = await staffOf('戊柜员');
    const b = await staffOf('己柜员');
    const citizen = await person('孙八', '13900000011');
    await h.yihao.stores.db('role_assignments').where({ account_id: a.id }).delete();
    expect(await oauthError(exchange(a.token, citizen.citizenId))).toMatchObject({ error: 'invalid_grant' });
    expect((await post('/credentials/offers/counter', a.token, { citizen_id: citizen.citizenId, document_check: 'in_person' })).status).toBe(403);
    expect((await post('/counter/device-keys/revoke', a.token, { citizen_id: citizen.citizenId, document_check: 'in_person' })).status).toBe(403);
    await h.yihao.accounts.setStatus(b.id, 'disabled');
    expect(await oauthError(exchange(b.token, citizen.citizenId))).toMatchObject({ error: 'invalid_grant' });
    expect((await post('/credentials/offers/counter', b.token, { citizen_id: citizen.citizenId, document_check: 'in_person' })).status).toBe(401);
    expect((await post('/counter/device-keys/revoke', b.token, { citizen_id: citizen.citizenId, document_check: 'in_person' })).status).toBe(401);
  });

  it('holds the per-staff revocation budget under parallel requests', async () => {
    const a = await staffOf('庚柜员');
    const citizens = await Promise.all(Array.from({ length: 8 }, (_, i) => person(`市民${i}`)));
    const answers = await Promise.all(citizens.map((c) => post('/counter/device-keys/revoke', a.token, { citizen_id: c.citizenId, document_check: 'in_person' })));
    expect(answers.filter((r) => r.status === 200).length).toBeLessThanOrEqual(3);
  });
});
