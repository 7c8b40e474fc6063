/**
 * Assisted counter login for a citizen without a phone, end to end over HTTP with openid-client: a
 * staff member signs in to the counter system, checks the citizen's ID document in person, and the
 * counter system exchanges the staff member's token (RFC 8693, `actor_token`) and the citizen ID
 * number (`subject_token`) for the citizen's tokens: loa:3, channel counter, and an `act` claim
 * naming the staff member. The account's identity proofing becomes in-person and `verified_claims`
 * says so. Without the counter role the exchange is refused with nothing changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { oauthError, REDIRECT, authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const CITIZEN_ID_TYPE = 'urn:yihao:token-type:citizen-id';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const LOA3 = 'urn:yihao:loa:3';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];


describe.each(backends)('assisted counter login through token exchange ($name)', ({ name, enabled }) => {
  let h: Harness;
  let counter: oidc.Configuration;
  let counterClientId: string;
  /** The department that owns the counter system. */
  let departmentId: string;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const client = await h.client({
      name: '政务服务中心柜台',
      grantTypes: ['authorization_code', TOKEN_EXCHANGE as never],
      redirectUris: [REDIRECT],
      scope: 'openid profile identity_assurance',
      verifiedClaimsAllowed: true,
      allowedChannels: ['web', 'counter'],
      firstParty: true,
    });
    counterClientId = client.client_id;
    counter = await relyingParty(h, client);
    departmentId = await counterClientOf(h, client, '杭州市政务服务中心');
  });
  afterAll(async () => h?.close());

  /** A person signed in to `rp` on the web: their own access token and ID token claims. */
  async function signedIn(who: { citizenId: string; password: string }, rp = counter) {
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: 'openid' }), { identifier: who.citizenId, password: who.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    return { accessToken: tokens.access_token, claims: tokens.claims()! };
  }

  /** A counter-staff member of the counter's department, signed in to the counter system at loa:2. */
  async function staffMember(opts: { dpop?: oidc.DPoPHandle } = {}) {
    const staff = await h.citizen({ name: '李柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    return { ...staff, token: (await staffSignIn(h, counter, staff, opts)).access_token };
  }

  const exchangeParams = (actorToken: string, citizenId: string, extra: Record<string, string> = {}) => ({
    subject_token: citizenId,
    subject_token_type: CITIZEN_ID_TYPE,
    actor_token: actorToken,
    actor_token_type: ACCESS_TOKEN_TYPE,
    document_check: 'in_person',
    scope: 'openid profile identity_assurance',
    ...extra,
  });
  const exchange = (actorToken: string, citizenId: string, extra: Record<string, string> = {}, rp = counter) => oidc.genericGrantRequest(rp, TOKEN_EXCHANGE, exchangeParams(actorToken, citizenId, extra));

  const footprint = async (sub: string) => {
    const account = (await h.yihao.accounts.findBySub(sub))!;
    return { assurance: account.assurance, index: (await h.yihao.services.accountIndex.list(sub)).length, audit: (await h.yihao.services.audit.forAccount(sub)).length };
  };

  it.skipIf(!enabled)('gives the counter system a citizen token at loa:3, channel counter, with act naming the staff member; the in-person check is kept as pending evidence (proofing is raised only once confirmed); audited', async () => {
    const staff = await staffMember();
    const citizen = await h.citizen({ name: '王大爷' });
    const tokens = await exchange(staff.token, citizen.citizenId);
    expect(tokens.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
    expect(tokens.refresh_token).toBeUndefined();
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA3, amr: ['face'], channel: 'counter', act: { sub: staff.sub }, name: '王大爷' });
    expect(JSON.stringify(tokens)).not.toContain(citizen.citizenId);

    const introspected = await oidc.tokenIntrospection(counter, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, sub: citizen.sub, act: { sub: staff.sub }, acr: LOA3, amr: ['face'], channel: 'counter', auth_time: claims.auth_time });

    const info = await oidc.fetchUserInfo(counter, tokens.access_token, citizen.sub);
    expect(info.channel).toBe('counter');
    expect(info.verified_claims).toBeUndefined();
    // One staff member's word does not raise the citizen's standing proofing on its own
    // (docs/channels/assurance.md): the check waits, as evidence, for the citizen or a second staff member.
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    expect(account.assurance).not.toBe('in_person');
    const evidence = (await h.yihao.stores.db('identity_proofing_evidence').where({ account_id: account.id })) as { id: string; status: string; actor_id: string; channel: string }[];
    expect(evidence).toEqual([expect.objectContaining({ status: 'pending', actor_id: staff.sub, channel: 'counter' })]);
    expect(await h.yihao.services.proofing.confirm(evidence[0]!.id, { type: 'citizen', sub: citizen.sub, accountId: account.id })).toEqual({ ok: true, raised: true });
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.assurance).toBe('in_person');
    const confirmed = await oidc.fetchUserInfo(counter, tokens.access_token, citizen.sub);
    const verified = confirmed.verified_claims as { verification: { evidence: { check_details: { check_method: string }[] }[] } };
    expect(verified.verification.evidence[0]!.check_details).toEqual([{ check_method: 'pvp' }]);

    const event = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'counter.assisted_login');
    expect(event).toMatchObject({ actorType: 'operator', actorId: staff.sub, clientId: counterClientId, channel: 'counter', details: expect.objectContaining({ documentCheck: 'in_person' }) });
    expect(JSON.stringify(event)).not.toContain(citizen.citizenId);
  });

  it.skipIf(!enabled)('gives the same sub for the same person at the counter and on the web', async () => {
    const staff = await staffMember();
    const citizen = await h.citizen();
    const atCounter = (await exchange(staff.token, citizen.citizenId)).claims()!;
    const onWeb = (await signedIn(citizen)).claims;
    expect(onWeb).toMatchObject({ sub: citizen.sub, channel: 'web' });
    expect(atCounter.sub).toBe(onWeb.sub);
  });

  it.skipIf(!enabled)('refuses a staff member without the counter role with invalid_grant, and nothing about the citizen changes', async () => {
    const notStaff = await h.citizen({ name: '赵路人' });
    const token = (await staffSignIn(h, counter, notStaff)).access_token;
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    expect(await oauthError(exchange(token, citizen.citizenId))).toEqual({ error: 'invalid_grant', error_description: 'the actor is not counter staff' });
    expect(await footprint(citizen.sub)).toEqual(before);
    // The attempt is on record against the one who made it.
    expect(await h.yihao.stores.db('audit_events').where({ action: 'counter.assist_refused', actor_id: notStaff.sub }).count({ n: '*' }).first()).toEqual({ n: 1 });

    // The role withdrawn: the same refusal from then on.
    const staff = await staffMember();
    const staffAccount = (await h.yihao.accounts.findBySub(staff.sub))!;
    for (const held of await h.yihao.admin.services.stores.assignments.forAccount(staffAccount.id)) await h.yihao.admin.services.stores.assignments.remove(held.id);
    expect(await oauthError(exchange(staff.token, citizen.citizenId))).toMatchObject({ error: 'invalid_grant', error_description: 'the actor is not counter staff' });
    expect(await footprint(citizen.sub)).toEqual(before);
  });

  it.skipIf(!enabled)('refuses an actor whose Yihao session has ended, or whose grant was revoked, with invalid_grant and nothing changed', async () => {
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    const provider = h.yihao.holder.current;

    const signedOut = await staffMember();
    const session = await provider.Session.findByUid((await provider.AccessToken.find(signedOut.token))!.sessionUid!);
    await session!.destroy();
    expect(await oauthError(exchange(signedOut.token, citizen.citizenId))).toMatchObject({ error: 'invalid_grant' });

    const revoked = await staffMember();
    await h.yihao.signOut.revokeGrant((await provider.AccessToken.find(revoked.token))!.grantId!);
    expect(await oauthError(exchange(revoked.token, citizen.citizenId))).toMatchObject({ error: 'invalid_grant' });
    expect(await footprint(citizen.sub)).toEqual(before);
  });

  it.skipIf(!enabled)('refuses a staff member signed in with a password only (loa:1)', async () => {
    const staff = await h.citizen({ name: '李柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    const atLoa1 = (await signedIn(staff)).accessToken;
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    expect(await oauthError(exchange(atLoa1, citizen.citizenId))).toEqual({ error: 'invalid_grant', error_description: 'the actor must have signed in at urn:yihao:loa:2 or above' });
    expect(await footprint(citizen.sub)).toEqual(before);
  });

  it.skipIf(!enabled)('refuses counter staff of another department', async () => {
    const boot = h.yihao.admin.services.bootstrap;
    const elsewhere = await boot.createDepartment({ name: '宁波市政务服务中心', level: 'national' });
    const staff = await h.citizen({ name: '钱柜员' });
    await boot.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId: elsewhere.id });
    const token = (await staffSignIn(h, counter, staff)).access_token;
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    expect(await oauthError(exchange(token, citizen.citizenId))).toEqual({ error: 'invalid_grant', error_description: 'the actor is not counter staff' });
    expect(await footprint(citizen.sub)).toEqual(before);
  });

  it.skipIf(!enabled)('with a DPoP-bound actor token, requires a DPoP proof of the same key; the citizen token is bound to it', async () => {
    const key = await oidc.randomDPoPKeyPair('ES256');
    const dpop = oidc.getDPoPHandle(counter, key);
    const staff = await staffMember({ dpop });
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    expect(await oauthError(exchange(staff.token, citizen.citizenId))).toEqual({ error: 'invalid_grant', error_description: 'the actor_token is DPoP-bound: send a DPoP proof of its key' });
    const otherKey = oidc.getDPoPHandle(counter, await oidc.randomDPoPKeyPair('ES256'));
    expect(await oauthError(oidc.genericGrantRequest(counter, TOKEN_EXCHANGE, exchangeParams(staff.token, citizen.citizenId), { DPoP: otherKey }))).toEqual({
      error: 'invalid_grant',
      error_description: 'the actor_token is DPoP-bound: send a DPoP proof of its key',
    });
    expect(await footprint(citizen.sub)).toEqual(before);

    const tokens = await oidc.genericGrantRequest(counter, TOKEN_EXCHANGE, exchangeParams(staff.token, citizen.citizenId), { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const introspected = await oidc.tokenIntrospection(counter, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, act: { sub: staff.sub }, acr: LOA3, channel: 'counter', cnf: { jkt: expect.any(String) } });
  });

  it.skipIf(!enabled)('refuses a counter system whose tokens must be DPoP-bound an exchange without a DPoP proof, even with a Bearer actor token, changing nothing; with a proof the citizen token is bound to it', async () => {
    // A counter system of its own in the same department, so that requiring DPoP of it changes no other case.
    const client = await h.client({ name: '政务服务中心柜台 2', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', allowedChannels: ['web', 'counter'], firstParty: true });
    const rp = await relyingParty(h, client);
    await counterClientOf(h, client, '杭州市政务服务中心', departmentId);
    const staff = await h.citizen({ name: '周柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    const staffToken = (await staffSignIn(h, rp, staff)).access_token;
    // An operator then requires DPoP-bound tokens of the counter system; the staff member's Bearer token lives on.
    const clients = new h.yihao.services.Adapter('Client');
    await clients.upsert(client.client_id, { ...(await clients.find(client.client_id))!, dpop_bound_access_tokens: true });

    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    const params = exchangeParams(staffToken, citizen.citizenId, { scope: 'openid profile' });
    // RFC 9449 §5.2: as oidc-provider's own grants answer such a client.
    expect(await oauthError(oidc.genericGrantRequest(rp, TOKEN_EXCHANGE, params))).toEqual({ error: 'invalid_grant', error_description: 'DPoP proof JWT not provided' });
    expect(await footprint(citizen.sub)).toEqual(before);

    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
    const tokens = await oidc.genericGrantRequest(rp, TOKEN_EXCHANGE, params, { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(await oidc.tokenIntrospection(rp, tokens.access_token)).toMatchObject({ active: true, sub: citizen.sub, act: { sub: staff.sub }, channel: 'counter', cnf: { jkt: expect.any(String) } });
  });

  it.skipIf(!enabled)('refuses malformed exchanges with clear errors', async () => {
    const staff = await staffMember();
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    expect(await oauthError(exchange(staff.token, citizen.citizenId, { subject_token_type: ACCESS_TOKEN_TYPE }))).toEqual({
      error: 'invalid_request',
      error_description: `subject_token_type must be ${CITIZEN_ID_TYPE} or urn:yihao:token-type:presentation-request`,
    });
    expect(await oauthError(exchange(staff.token, citizen.citizenId, { document_check: 'none' }))).toMatchObject({ error: 'invalid_request' });
    expect(await oauthError(exchange('not-a-token', citizen.citizenId))).toEqual({
      error: 'invalid_grant',
      error_description: 'the actor_token is not a live access token of this counter system',
    });
    expect(await oauthError(exchange(staff.token, syntheticCitizenId()))).toEqual({ error: 'invalid_grant', error_description: 'there is no active account for this citizen ID number' });
    expect(await oauthError(exchange(staff.token, '12345'))).toEqual({ error: 'invalid_grant', error_description: 'the subject_token is not a valid citizen ID number' });

    // A staff token issued to another app does not act at this counter.
    const other = await h.client({ grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], allowedChannels: ['web', 'counter'], firstParty: true });
    const otherRp = await relyingParty(h, other);
    expect(await oauthError(exchange(staff.token, citizen.citizenId, {}, otherRp))).toMatchObject({ error: 'invalid_grant' });
    // A client that does not accept the counter channel gets nothing from it.
    const noCounter = await relyingParty(h, await h.client({ grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], allowedChannels: ['web'], firstParty: true }));
    expect(await oauthError(exchange(staff.token, citizen.citizenId, {}, noCounter))).toMatchObject({ error: 'unauthorized_client' });
    expect(await footprint(citizen.sub)).toEqual(before);
  });

  it.skipIf(!enabled)('puts on record, against the staff member, every lookup that found no active account and every attempt on their own identity, without the ID number', async () => {
    const staff = await staffMember();
    const probed = syntheticCitizenId();
    const disabled = await h.citizen();
    const disabledAccount = (await h.yihao.accounts.findBySub(disabled.sub))!;
    await h.yihao.signOut.disableAccount(disabledAccount.id, { actorType: 'system' });
    const own = staff.citizenId;

    expect(await oauthError(exchange(staff.token, probed))).toEqual({ error: 'invalid_grant', error_description: 'there is no active account for this citizen ID number' });
    expect(await oauthError(exchange(staff.token, disabled.citizenId))).toEqual({ error: 'invalid_grant', error_description: 'there is no active account for this citizen ID number' });
    expect(await oauthError(exchange(staff.token, own))).toEqual({ error: 'invalid_grant', error_description: 'staff cannot attest their own identity' });

    const refused = await h.yihao.stores.db('audit_events').where({ action: 'counter.assist_refused', actor_id: staff.sub }).orderBy('id');
    expect(refused.map((e: { account_id: string | null; details: unknown }) => ({ accountId: e.account_id, reason: (typeof e.details === 'string' ? JSON.parse(e.details) : e.details).reason }))).toEqual([
      { accountId: null, reason: 'no_active_account' },
      { accountId: disabled.sub, reason: 'no_active_account' },
      { accountId: staff.sub, reason: 'own_identity' },
    ]);
    expect(JSON.stringify(refused)).not.toContain(probed);
    expect(JSON.stringify(refused)).not.toContain(disabled.citizenId);
    expect(JSON.stringify(refused)).not.toContain(own);
  });

  it.skipIf(!enabled)('advertises token exchange in discovery', async () => {
    const meta = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(meta.grant_types_supported).toContain(TOKEN_EXCHANGE);
  });
});
