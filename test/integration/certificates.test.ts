/**
 * Department certificates (docs/credentials.md): a national super-admin defines a certificate type
 * for a department (its id becomes the vct every verifier trusts, so no department names its own);
 * the department's own system (a service client of that department, with a
 * client_credentials token for the admin API and the certificates:push scope) pushes a citizen's
 * certificate; the citizen's wallet (test/support/wallet.ts: @openid4vc and @sd-jwt only) gets it by
 * the authorization-code flow as an SD-JWT VC; it presents a subset that a verifier built from
 * @sd-jwt/sd-jwt-vc accepts; and once an operator revokes the certificate the status list says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { Openid4vciRetrieveCredentialsError, type IssuerMetadataResult } from '@openid4vc/openid4vci';
import { digest, ES256 } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { getListFromStatusListJWT } from '@sd-jwt/jwt-status-list';
import type { JWK } from 'jose';
import { adminResource, type Department } from '../../src/admin/index.js';
import { browserSignIn, callApi, LOA2, operator, type SignedInOperator, certificateDepartments } from '../support/admin-operators.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { counterClientOf } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { APP_REDIRECT, registerMobileApp } from '../support/mobile-app.js';
import { relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet, type WalletKey } from '../support/wallet.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const LICENCE = {
  id: 'driving_licence',
  names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' },
  claims: {
    licence_number: { type: 'string', required: true, max_length: 20 },
    licence_class: { type: 'string', required: true, max_length: 4, names: { 'zh-CN': '准驾车型', en: 'Class' } },
    first_issued: { type: 'date', required: true },
    points: { type: 'number' },
  },
  validity_days: 2190,
};
const CONFIGURATION = 'cert_driving_licence';
const SCOPE = 'certificate:driving_licence';

describe.each(backends)('department certificates ($name)', ({ name, enabled }) => {
  let h: Harness;
  const dept: Record<'nation' | 'police' | 'social', Department> = {} as never;
  let policeAdmin: SignedInOperator;
  let socialAdmin: SignedInOperator;
  let nationAdmin: SignedInOperator;
  let nationReviewer: SignedInOperator;
  let systemToken: string;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let appId: string;

  /** The department system's call to the admin API. */
  const push = (body: unknown, token = systemToken) => callApi(h, token, 'POST', '/certificates', body);

  /** A client_credentials token of a service client of `d`, for the admin API. */
  async function systemTokenOf(d: Department, clientName: string): Promise<string> {
    const client = await h.client({ kind: 'service', name: clientName });
    await counterClientOf(h, client, clientName, d.id);
    const rp = await relyingParty(h, client);
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'certificates:push', resource: adminResource(h.issuer) });
    expect(tokens.scope).toBe('certificates:push');
    return tokens.access_token;
  }

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    Object.assign(dept, await certificateDepartments(h));
    policeAdmin = await operator(h, [{ role: 'dept-admin', departmentId: dept.police.id }], '交管管理员');
    socialAdmin = await operator(h, [{ role: 'dept-admin', departmentId: dept.social.id }], '社保管理员');
    nationAdmin = await operator(h, [{ role: 'super-admin', departmentId: dept.nation.id }], '国家管理员');
    nationReviewer = await operator(h, [{ role: 'super-admin', departmentId: dept.nation.id }], '国家复核员');
    systemToken = await systemTokenOf(dept.police, '交管业务系统');
    citizen = await h.citizen({ name: '王五' });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2 }));
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)("a department's own admin cannot name a certificate type, so none can take a name verifiers trust for another department's certificates", async () => {
    // The social-security bureau's admin defines "driving_licence" for their own department: the
    // vct would be the one verifiers everywhere take for a driving licence, and the traffic police
    // could never define it after them.
    const squatted = await socialAdmin.api('POST', '/certificate-types', { ...LICENCE, department_id: dept.social.id });
    expect(squatted.status, JSON.stringify(squatted.body)).toBe(403);
    expect(squatted.body.message).toMatch(/national department/);
    // So does the police's own admin: the name is allotted by the national department.
    expect((await policeAdmin.api('POST', '/certificate-types', { ...LICENCE, department_id: dept.police.id })).status).toBe(403);
    const denied = await h.yihao.services.audit.query({ actor: socialAdmin.sub, action: 'admin.denied', limit: 10 });
    expect(denied.events.map((e) => e.details)).toContainEqual({ operation: 'certificate_type.create', reason: 'national_review' });
    const metadata = (await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as { credential_configurations_supported: Record<string, unknown> };
    expect(metadata.credential_configurations_supported[CONFIGURATION]).toBeUndefined();
  });

  it.runIf(enabled)("a super-admin of one national department names no type for another national department's tree", async () => {
    // Two roots (a second national platform, or a sandbox): super-admin at one, and a dept-admin
    // in the other's tree, must not add up to naming types there.
    const otherNation = await h.yihao.admin.services.bootstrap.createDepartment({ name: '国家政务服务沙箱', level: 'national' });
    const both = await operator(h, [{ role: 'super-admin', departmentId: otherNation.id }, { role: 'dept-admin', departmentId: dept.social.id }], '两边的管理员');
    const crossed = await both.api('POST', '/certificate-types', { ...LICENCE, id: 'crossed_licence', department_id: dept.social.id });
    expect(crossed.status, JSON.stringify(crossed.body)).toBe(403);
    // In its own tree it names types as any national super-admin does.
    const own = await both.api('POST', '/certificate-types', { ...LICENCE, id: 'sandbox_licence', department_id: otherNation.id });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
  });

  it.runIf(enabled)('a national super-admin alone puts no certificate type in force: it takes no push and is announced nowhere until a second one approves the version they saw', async () => {
    // One national super-admin defines a type whose vct verifiers will trust (for the wrong
    // department, or a look-alike id): without a second pair of eyes it would be live at once.
    const made = await nationAdmin.api('POST', '/certificate-types', { ...LICENCE, department_id: dept.police.id });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ id: LICENCE.id, status: 'pending', approved_at: null });
    const good = { type: 'driving_licence', department_id: dept.police.id, citizen_id: citizen.citizenId, claims: { licence_number: '330100200001', licence_class: 'C1', first_issued: '2015-03-02' } };
    const early = await push(good);
    expect(early.status, JSON.stringify(early.body)).toBe(409);
    expect(early.body.message).toMatch(/approv/);
    const metadataOf = async () => ((await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as { credential_configurations_supported: Record<string, unknown> }).credential_configurations_supported;
    expect((await metadataOf())[CONFIGURATION]).toBeUndefined();
    expect((await fetch(made.body.vct)).status).toBe(404);

    // Its author cannot approve it, nor can the department's own admin (who may change it meanwhile).
    const own = await nationAdmin.api('POST', '/certificate-types/driving_licence/approve', { version: 1 });
    expect(own.status, JSON.stringify(own.body)).toBe(403);
    const denied = await h.yihao.services.audit.query({ actor: nationAdmin.sub, action: 'admin.denied', limit: 10 });
    expect(denied.events.map((e) => e.details)).toContainEqual({ operation: 'certificate_type.approve', reason: 'self_approval' });
    expect((await policeAdmin.api('POST', '/certificate-types/driving_licence/approve', { version: 1 })).status).toBe(403);
    // An approval names the version its reviewer saw: none is 400, one the type moved on from is 409.
    expect((await nationReviewer.api('POST', '/certificate-types/driving_licence/approve', {})).status).toBe(400);
    const changed = await policeAdmin.api('POST', '/certificate-types/driving_licence/versions', { validity_days: 2190 });
    expect(changed.status, JSON.stringify(changed.body)).toBe(201);
    const stale = await nationReviewer.api('POST', '/certificate-types/driving_licence/approve', { version: 1 });
    expect(stale.status, JSON.stringify(stale.body)).toBe(409);
    const approved = await nationReviewer.api('POST', '/certificate-types/driving_licence/approve', { version: 2 });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body).toMatchObject({ id: LICENCE.id, status: 'active', version: 2, approved_by: nationReviewer.sub });
    expect((await nationReviewer.api('POST', '/certificate-types/driving_licence/approve', { version: 2 })).status).toBe(409);
    const events = await h.yihao.services.audit.query({ actor: nationReviewer.sub, action: 'admin.certificate_type.approved', limit: 10 });
    expect(events.events).toHaveLength(1);
    expect(events.events[0]).toMatchObject({ departmentId: dept.police.id, details: { type: 'driving_licence', version: 2 } });
  });

  it.runIf(enabled)('a national super-admin defines a type for a department, audited, and once approved it appears in the issuer metadata', async () => {
    const made = { body: (await nationAdmin.api('GET', '/certificate-types/driving_licence')).body.type };
    expect(made.body).toMatchObject({ id: LICENCE.id, department_id: dept.police.id, vct: `${h.issuer}/credentials/types/driving_licence`, credential_configuration_id: CONFIGURATION, scope: SCOPE, status: 'active' });
    expect(made.body.claims.points).toEqual({ type: 'number', required: false });

    const social = await nationAdmin.api('POST', '/certificate-types', {
      id: 'social_security',
      department_id: dept.social.id,
      names: { 'zh-CN': '社会保障卡', en: 'Social security card' },
      claims: { card_number: { type: 'string', required: true } },
    });
    expect(social.status).toBe(201);
    expect((await nationReviewer.api('POST', '/certificate-types/social_security/approve', { version: 1 })).status).toBe(200);
    // Another department's: refused like a department that does not exist.
    expect((await socialAdmin.api('POST', '/certificate-types', { ...LICENCE, id: 'fake_licence', department_id: dept.police.id })).status).toBe(404);
    expect((await nationAdmin.api('POST', '/certificate-types', { ...LICENCE, department_id: dept.police.id })).status).toBe(409);
    const bad = await nationAdmin.api('POST', '/certificate-types', { ...LICENCE, id: 'bad_type', department_id: dept.police.id, claims: { vct: { type: 'string' } } });
    expect(bad.status).toBe(400);
    expect(bad.body.fields['claims.vct']).toMatch(/reserved/);

    const listed = await policeAdmin.api('GET', '/certificate-types');
    expect(listed.body.items.map((t: { id: string }) => t.id)).toEqual(['driving_licence']);
    const events = await h.yihao.services.audit.query({ actor: nationAdmin.sub, action: 'admin.certificate_type.created', limit: 10 });
    expect(events.events.map((e) => e.departmentId).sort()).toEqual([dept.police.id, dept.social.id].sort());

    const metadata = (await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as { credential_configurations_supported: Record<string, { vct: string; scope: string }> };
    expect(metadata.credential_configurations_supported[CONFIGURATION]).toMatchObject({ vct: made.body.vct, scope: SCOPE });
    expect(metadata.credential_configurations_supported.cert_social_security).toBeDefined();
    // The vct resolves to the type's metadata, with its names and its claims, each disclosable.
    const typeMetadata = await fetch(made.body.vct);
    expect(typeMetadata.status).toBe(200);
    expect(await typeMetadata.json()).toMatchObject({ vct: made.body.vct, display: [{ locale: 'zh-CN', name: '机动车驾驶证' }, { locale: 'en', name: 'Driving licence' }], claims: expect.arrayContaining([{ path: ['licence_class'], sd: 'always', display: [{ locale: 'zh-CN', label: '准驾车型' }, { locale: 'en', label: 'Class' }] }]) });
    expect((await fetch(`${h.issuer}/credentials/types/no_such_type`)).status).toBe(404);
  });

  it.runIf(enabled)('refuses a push that breaks the claim schema (400 naming the field), of another department (403), for an unknown citizen (404, the number not echoed)', async () => {
    const good = { type: 'driving_licence', department_id: dept.police.id, citizen_id: citizen.citizenId, claims: { licence_number: '330100200001', licence_class: 'C1', first_issued: '2015-03-02' } };
    const badClass = await push({ ...good, claims: { ...good.claims, licence_class: 'C1-and-more' } });
    expect(badClass.status).toBe(400);
    expect(badClass.body.fields).toHaveProperty('claims.licence_class');
    const missing = await push({ ...good, claims: { licence_number: '330100200001', licence_class: 'C1' } });
    expect(missing.status).toBe(400);
    expect(missing.body.fields).toHaveProperty('claims.first_issued');
    const badDate = await push({ ...good, claims: { ...good.claims, first_issued: '2015-02-30' } });
    expect(badDate.body.fields['claims.first_issued']).toMatch(/calendar day/);
    const extra = await push({ ...good, claims: { ...good.claims, blood_type: 'A' } });
    expect(extra.status).toBe(400);

    // Another department's type answers as a missing one (its id, published or not, is not told apart).
    const otherType = await push({ ...good, type: 'social_security', claims: { card_number: 'X1' } });
    expect(otherType.status).toBe(404);
    const otherDepartment = await push({ ...good, department_id: dept.social.id });
    expect(otherDepartment.status).toBe(403);

    const stranger = syntheticCitizenId({ seq: 777 });
    const unknown = await push({ ...good, citizen_id: stranger });
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).not.toContain(stranger);
    expect(JSON.stringify(unknown.body)).not.toContain(stranger.slice(0, 14));
    const invalid = await push({ ...good, citizen_id: `${stranger.slice(0, 17)}0` === stranger ? `${stranger.slice(0, 17)}1` : `${stranger.slice(0, 17)}0` });
    expect(invalid.status).toBe(400);

    // An operator's token is not a department system's, nor the other way round.
    expect((await callApi(h, policeAdmin.token, 'POST', '/certificates', good)).status).toBe(401);
    expect((await callApi(h, systemToken, 'GET', '/certificate-types')).status).toBe(401);
    expect((await push(good, 'not-a-token-at-all-xxxxxxxx')).status).toBe(401);

    // A service client outside every department gets no token at all (department-system-tokens.test.ts has the rest).
    const stray = await h.client({ kind: 'service', name: '无部门系统' });
    await expect(oidc.clientCredentialsGrant(await relyingParty(h, stray), { scope: 'certificates:push', resource: adminResource(h.issuer) })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  describe('issued to the wallet', () => {
    let certificateId: string;
    let metadata: IssuerMetadataResult;
    let wallet: Wallet;
    let held: { credential: string; key: WalletKey };

    /** Signs `who` in through the wallet for `scope` and asks for the driving licence with one key proof. */
    async function walletRun(who: { citizenId: string; password: string }, w: Wallet) {
      metadata = await w.client.resolveIssuerMetadata(h.issuer);
      const offer = Wallet.offer(h.issuer, CONFIGURATION);
      const tokens = await w.authorize(offer, metadata, SCOPE, APP_REDIRECT, browserSignIn(who, APP_REDIRECT));
      expect(tokens.accessTokenResponse.scope).toBe(SCOPE);
      const session = { wallet: w, accessToken: tokens.accessTokenResponse.access_token, dpop: tokens.dpop! };
      if (who === citizen) citizenSession = session;
      return askAgain(session);
    }

    /** The wallet asks again with the token it holds and a fresh key proof (no new sign-in). */
    async function askAgain(session: { wallet: Wallet; accessToken: string; dpop: NonNullable<unknown> }) {
      const key = await session.wallet.newKey();
      const res = await session.wallet.client.retrieveCredentials({
        issuerMetadata: metadata,
        accessToken: session.accessToken,
        credentialConfigurationId: CONFIGURATION,
        proofs: { jwt: [await session.wallet.proof(metadata, CONFIGURATION, key)] },
        dpop: session.dpop as never,
      });
      return { credential: (res.credentialResponse.credentials![0] as { credential: string }).credential, key };
    }
    let citizenSession: Parameters<typeof askAgain>[0];

    beforeAll(async () => {
      if (!enabled) return;
      const pushed = await push({
        type: 'driving_licence',
        department_id: dept.police.id,
        citizen_id: citizen.citizenId,
        claims: { licence_number: '330100200001', licence_class: 'C1', first_issued: '2015-03-02', points: 12 },
        valid_until: '2031-03-02T00:00:00+08:00',
        idempotency_key: 'push-0001-abcdef',
      });
      expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
      certificateId = pushed.body.id;
      wallet = await Wallet.create(appId);
    });

    it.runIf(enabled)('a push is recorded once per idempotency key, listed for the department, and audited without the number', async () => {
      // A retry of the same push (its claims in another order) answers the same certificate.
      const first = { type: 'driving_licence', department_id: dept.police.id, citizen_id: citizen.citizenId, valid_until: '2031-03-02T00:00:00+08:00', idempotency_key: 'push-0001-abcdef' };
      const again = await push({ ...first, claims: { points: 12, first_issued: '2015-03-02', licence_class: 'C1', licence_number: '330100200001' } });
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(certificateId);
      // Another certificate under the same key is refused, not answered as if its claims had been
      // issued (the first push's answer came back, and the new class was silently lost).
      const other = await push({ ...first, claims: { points: 12, first_issued: '2015-03-02', licence_class: 'B2', licence_number: '330100200001' } });
      expect(other.status, JSON.stringify(other.body)).toBe(409);
      const otherDates = await push({ ...first, valid_until: '2032-03-02T00:00:00+08:00', claims: { points: 12, first_issued: '2015-03-02', licence_class: 'C1', licence_number: '330100200001' } });
      expect(otherDates.status).toBe(409);
      const conflicts = await h.yihao.services.audit.query({ action: 'admin.denied', limit: 20 });
      expect(conflicts.events.filter((e) => (e.details as { reason?: string } | undefined)?.reason === 'idempotency_conflict')).toHaveLength(2);
      const list = await callApi(h, systemToken, 'GET', '/certificates');
      expect(list.status).toBe(200);
      expect(list.body.items.map((c: { id: string }) => c.id)).toEqual([certificateId]);
      expect(list.body.items[0]).toMatchObject({ type: 'driving_licence', department_id: dept.police.id, status: 'valid', valid_until: '2031-03-01T16:00:00.000Z' });
      const page = await h.yihao.services.audit.query({ action: 'vc.certificate_pushed', limit: 10 });
      expect(page.events).toHaveLength(1);
      expect(page.events[0]).toMatchObject({ actorType: 'client', accountId: citizen.sub, departmentId: dept.police.id });
      expect(JSON.stringify(page.events[0])).not.toContain(citizen.citizenId);
      expect(JSON.stringify(page.events[0])).not.toContain('330100200001');
    });

    it.runIf(enabled)("the citizen's wallet gets it as an SD-JWT VC of the type's vct, every claim disclosable, bound to its key", async () => {
      held = await walletRun(citizen, wallet);
      const sdjwt = new SDJwtVcInstance({ hasher: digest });
      const decoded = await sdjwt.decode(held.credential);
      const payload = decoded.jwt!.payload as Record<string, unknown>;
      expect(payload).toMatchObject({ iss: h.issuer, vct: `${h.issuer}/credentials/types/driving_licence`, exp: Date.parse('2031-03-02T00:00:00+08:00') / 1000 });
      expect((payload.cnf as { jwk: JWK }).jwk).toMatchObject({ x: held.key.publicJwk.x, y: held.key.publicJwk.y });
      for (const claim of ['licence_number', 'licence_class', 'first_issued', 'points', 'issuing_department']) expect(payload).not.toHaveProperty(claim);
      expect(await sdjwt.getClaims(held.credential)).toMatchObject({ licence_number: '330100200001', licence_class: 'C1', first_issued: '2015-03-02', points: 12, issuing_department: '浙江省公安厅' });
    });

    it.runIf(enabled)('a presentation of the class alone, key-bound, is accepted by a verifier that reads only the published keys', async () => {
      const meta = (await (await fetch(`${h.issuer}/.well-known/jwt-vc-issuer`)).json()) as { jwks: { keys: JWK[] } };
      const verifiers = await Promise.all(meta.jwks.keys.map((k) => ES256.getVerifier(k)));
      const byIssuerKey = async (data: string, sig: string) => {
        for (const v of verifiers) if (await v(data, sig)) return true;
        return false;
      };
      const verifier = new SDJwtVcInstance({
        hasher: digest,
        verifier: byIssuerKey,
        statusVerifier: byIssuerKey,
        kbVerifier: async (data, sig, payload) => (await ES256.getVerifier((payload as { cnf: { jwk: JWK } }).cnf.jwk))(data, sig),
      });
      const presentation = await wallet.present(held, { licence_class: true, issuing_department: true }, { aud: 'https://rental.example.cn', nonce: 'cert-n-1' });
      const result = await verifier.verify(presentation, { keyBindingNonce: 'cert-n-1' });
      const shown = result.payload as Record<string, unknown>;
      expect(shown).toMatchObject({ licence_class: 'C1', issuing_department: '浙江省公安厅' });
      for (const hidden of ['licence_number', 'first_issued', 'points']) expect(shown).not.toHaveProperty(hidden);
      await expect(verifier.verify(presentation, { keyBindingNonce: 'another' })).rejects.toThrow();
    });

    /** How the credential endpoint refused a wallet run. */
    const refusal = (run: Promise<unknown>) =>
      run.then(
        () => undefined,
        async (e: unknown) => {
          if (!(e instanceof Openid4vciRetrieveCredentialsError)) throw e;
          return { status: e.response.response.status, body: (await e.response.response.clone().json()) as { error: string } };
        },
      );

    it.runIf(enabled)('another citizen signed in to the same app gets no certificate of that type', async () => {
      const other = await h.citizen({ name: '赵六' });
      expect(await refusal(walletRun(other, await Wallet.create(appId)))).toMatchObject({ status: 400, body: { error: 'credential_request_denied' } });
    });

    /** The status of the held copy in its status list, as a verifier reads it. */
    async function copyStatus(): Promise<number> {
      const { status } = (await new SDJwtVcInstance({ hasher: digest }).decode(held.credential)).jwt!.payload as { status: { status_list: { uri: string; idx: number } } };
      return getListFromStatusListJWT(await (await fetch(status.status_list.uri)).text()).getStatus(status.status_list.idx);
    }

    it.runIf(enabled)('suspended, the wallet copy reads "suspended" (2) in a 2-bit list and no new copy is issued; resumed, it is valid again', async () => {
      expect(await copyStatus()).toBe(0);
      expect((await socialAdmin.api('POST', `/certificates/${certificateId}/suspend`, {})).status).toBe(404);
      const suspended = await policeAdmin.api('POST', `/certificates/${certificateId}/suspend`, { reason: '记满 12 分' });
      expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
      expect(suspended.body.status).toBe('suspended');
      expect(await copyStatus()).toBe(2);
      expect((await policeAdmin.api('POST', `/certificates/${certificateId}/suspend`, {})).status).toBe(409);
      expect(await refusal(askAgain(citizenSession))).toMatchObject({ status: 400, body: { error: 'credential_request_denied' } });

      const resumed = await policeAdmin.api('POST', `/certificates/${certificateId}/resume`, {});
      expect(resumed.body.status).toBe('valid');
      expect(await copyStatus()).toBe(0);
      const events = await h.yihao.services.audit.query({ actor: policeAdmin.sub, action: 'admin.certificate.', limit: 10 });
      expect(events.events.map((e) => e.action).sort()).toEqual(['admin.certificate.resumed', 'admin.certificate.suspended']);
    });

    it.runIf(enabled)("leaves a copy to its certificate: the installation-wide credential revocation refuses it, even to a national super-admin", async () => {
      // POST /credentials/{id}/revoke is for the identity credential, and no department's: a copy
      // revoked there would bypass the certificate's own (tree-bound) suspend and revoke, and leave
      // the certificate valid for the next copy.
      const copy = (await h.yihao.stores.db('certificate_credentials').where({ certificate_id: certificateId }).first('credential_id')) as { credential_id: string };
      const refused = await nationAdmin.api('POST', `/credentials/${copy.credential_id}/revoke`, { reason: '测试' });
      expect(refused.status, JSON.stringify(refused.body)).toBe(409);
      expect(refused.body.message).toMatch(/\/certificates\//);
      expect(await copyStatus()).toBe(0);
    });

    it.runIf(enabled)("another department's operator cannot revoke it; its own can, audited, and the status list then shows the wallet copy revoked", async () => {
      expect((await socialAdmin.api('POST', `/certificates/${certificateId}/revoke`, {})).status).toBe(404);
      // A reason goes to the audit log and the console: one that reads as another is refused.
      const hidden = await policeAdmin.api('POST', `/certificates/${certificateId}/revoke`, { reason: '驾驶证\u202E销吊被' });
      expect(hidden.status, JSON.stringify(hidden.body)).toBe(400);
      expect(hidden.body.fields).toHaveProperty('reason');
      const revoked = await policeAdmin.api('POST', `/certificates/${certificateId}/revoke`, { reason: '驾驶证被吊销' });
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      expect(revoked.body).toMatchObject({ id: certificateId, status: 'revoked' });
      expect((await policeAdmin.api('POST', `/certificates/${certificateId}/revoke`, {})).status).toBe(409);

      const { status } = (await new SDJwtVcInstance({ hasher: digest }).decode(held.credential)).jwt!.payload as { status: { status_list: { uri: string; idx: number } } };
      const list = getListFromStatusListJWT(await (await fetch(status.status_list.uri)).text());
      expect(list.getStatus(status.status_list.idx)).toBe(1);
      const events = await h.yihao.services.audit.query({ actor: policeAdmin.sub, action: 'admin.certificate.revoked', limit: 10 });
      expect(events.events).toHaveLength(1);
      expect(events.events[0]!.details).toMatchObject({ certificate_id: certificateId, reason: '驾驶证被吊销' });
      // Revoked: the wallet gets no new copy.
      expect(await refusal(askAgain(citizenSession))).toMatchObject({ status: 400, body: { error: 'credential_request_denied' } });
    });
  });
});
