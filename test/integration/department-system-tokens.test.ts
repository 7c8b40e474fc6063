/**
 * A department's system at the admin API (docs/credentials.md, "Pushing certificates"): only a
 * department system (an active service client registered in a department) gets a token with the
 * `certificates:push` scope at all, refused at the token endpoint rather than at the API; and a
 * department system may hold a DPoP-bound token, which the certificate endpoints then take only with
 * a proof of its key for that very request (through the one access-token verifier). The attacker's
 * tries: any other client asking for the scope, and a stolen DPoP-bound token replayed without the
 * key, as Bearer, or with a captured proof.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { randomUUID, createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { adminResource, type Department } from '../../src/admin/index.js';
import { callApi } from '../support/admin-operators.js';
import { counterClientOf } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { oauthError, REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('department systems’ tokens ($name)', ({ name, enabled }) => {
  let h: Harness;
  let police: Department;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let system: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    police = await boot.createDepartment({ name: '浙江省公安厅', level: 'province', parentId: nation.id });
    await h.yihao.credentials.certificates.store.insertType({
      id: 'driving_licence',
      departmentId: police.id,
      vct: `${h.issuer}/credentials/types/driving_licence`,
      names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' },
      claims: { licence_class: { type: 'string', required: true } },
      validityDays: 365,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
    });
    const client = await h.client({ kind: 'service', name: '交管业务系统' });
    await counterClientOf(h, client, '交管业务系统', police.id);
    system = await relyingParty(h, client);
    citizen = await h.citizen({ name: '王五' });
  });
  afterAll(async () => h?.close());

  const push = () => ({ type: 'driving_licence', department_id: police.id, citizen_id: citizen.citizenId, claims: { licence_class: 'C1' } });
  const ask = (rp: oidc.Configuration, extra: Record<string, string> = {}, options?: oidc.DPoPOptions) =>
    oidc.clientCredentialsGrant(rp, { scope: 'certificates:push', resource: adminResource(h.issuer), ...extra }, options);

  it.runIf(enabled)('gives certificates:push to a department system, and refuses it at the token endpoint to every other client', async () => {
    expect((await ask(system)).scope).toBe('certificates:push');

    // A service client in no department (made before departments, never adopted).
    const stray = await relyingParty(h, await h.client({ kind: 'service', name: '无部门系统' }));
    expect((await oauthError(ask(stray))).error).toBe('invalid_target');
    // A client of the department, but not its system: a web app that may also use client_credentials.
    const web = await h.client({ name: '交管网站', grantTypes: ['authorization_code', 'client_credentials'], redirectUris: [REDIRECT] });
    await counterClientOf(h, web, '交管网站', police.id);
    expect((await oauthError(ask(await relyingParty(h, web)))).error).toBe('invalid_target');
    // Nor can any of them get the scope without naming the resource.
    const unnamed = await oidc.clientCredentialsGrant(stray, { scope: 'certificates:push' }).catch((e: unknown) => e);
    expect((unnamed as { scope?: string }).scope ?? '').not.toContain('certificates:push');
  });

  it.runIf(enabled)('a DPoP-bound token pushes with a proof of its key, and is refused without it: as Bearer, as DPoP with no proof, with a replayed proof or another key', async () => {
    const keys = await generateKeyPair('ES256', { extractable: true });
    const dpop = oidc.getDPoPHandle(system, keys);
    const tokens = await ask(system, {}, { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const url = new URL(`${h.issuer}/admin/api/v1/certificates`);

    // The department system itself, with openid-client making a fresh proof for each call.
    const pushed = await oidc.fetchProtectedResource(system, tokens.access_token, url, 'POST', JSON.stringify(push()), new Headers({ 'content-type': 'application/json' }), { DPoP: dpop });
    expect(pushed.status, await pushed.clone().text()).toBe(201);
    const listed = await oidc.fetchProtectedResource(system, tokens.access_token, url, 'GET', undefined, undefined, { DPoP: dpop });
    expect(listed.status).toBe(200);

    // Someone who stole the token but not the key.
    expect((await callApi(h, tokens.access_token, 'POST', '/certificates', push())).status).toBe(401);
    const send = (headers: Record<string, string>) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(push()) });
    const noProof = await send({ authorization: `DPoP ${tokens.access_token}` });
    expect(noProof.status).toBe(401);
    expect(noProof.headers.get('www-authenticate')).toMatch(/^DPoP /);

    const proofBy = async (key: Awaited<ReturnType<typeof generateKeyPair>>) =>
      new SignJWT({ htm: 'POST', htu: url.href, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: createHash('sha256').update(tokens.access_token).digest('base64url') })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) })
        .sign(key.privateKey);
    const strangerKey = await generateKeyPair('ES256', { extractable: true });
    expect((await send({ authorization: `DPoP ${tokens.access_token}`, dpop: await proofBy(strangerKey) })).status).toBe(401);
    // A proof captured from the system's own call works once, never again.
    const captured = await proofBy(keys);
    expect((await send({ authorization: `DPoP ${tokens.access_token}`, dpop: captured })).status).toBe(201);
    expect((await send({ authorization: `DPoP ${tokens.access_token}`, dpop: captured })).status).toBe(401);
    // An unbound token is not taken under the DPoP scheme either (and stays good as Bearer).
    const bearer = (await ask(system)).access_token;
    expect((await send({ authorization: `DPoP ${bearer}`, dpop: await proofBy(keys) })).status).toBe(401);
    expect((await callApi(h, bearer, 'POST', '/certificates', push())).status).toBe(201);
  });
});
