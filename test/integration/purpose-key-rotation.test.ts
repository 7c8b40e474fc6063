/**
 * A full rotation of each rotatable key purpose (docs/keys.md, src/identity/purpose-keys.ts), the
 * way an operator does it: stop, start every instance with the new version, and check that what
 * was made before still works (or is refused, where the docs say so) and that what is made after
 * uses the new version. The citizen index has its own rotation test in keys-rotation.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Department } from '../../src/admin/index.js';
import type { Config } from '../../src/config/index.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { consoleBrowser, operator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formAction, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];
type Purposes = Config['keys']['purposes'];

let phoneCounter = 0;
const freshPhone = () => `139${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

describe.each(backends)('rotating each key purpose (%s)', (backend) => {
  let h: Harness;
  let before: { client_id: string; client_secret?: string };
  let nation: Department;

  beforeAll(async () => {
    h = await startHarness({ backend });
    nation = await h.yihao.admin.services.bootstrap.createDepartment({ name: '国家政务服务中心', level: 'national' });
    before = await h.client({ name: '旧应用', grantTypes: ['client_credentials'], redirectUris: [] });
    expect(await storedSecret(h, before.client_id)).toMatch(/^hmac1\$/);
    await h.stop();
  }, 120_000);
  afterAll(async () => h?.close());

  /** A restart on the same stores with `purposes` changed, as every instance would be. */
  const restartWith = (purposes: Partial<Purposes>) =>
    startHarness({ reuse: h, overrides: (c) => ({ ...c, keys: { ...c.keys, purposes: { ...c.keys.purposes, ...purposes } } }) });

  async function storedSecret(server: Harness, clientId: string): Promise<unknown> {
    return (await server.yihao.holder.current.Client.find(clientId))!.metadata().client_secret;
  }

  /** A client_credentials grant through openid-client: the client authenticates with its secret. */
  async function authenticates(server: Harness, client: { client_id: string; client_secret?: string }): Promise<boolean> {
    const rp = await relyingParty(server, client);
    try {
      return typeof (await oidc.clientCredentialsGrant(rp)).access_token === 'string';
    } catch (e) {
      if ((e as { error?: string }).error === 'invalid_client') return false;
      throw e;
    }
  }

  it('client secrets: one made under v1 still authenticates on v2; new and rotated secrets are stored as v2', async () => {
    const v2 = await restartWith({ clientSecret: { version: 2 } });
    try {
      expect(await authenticates(v2, before)).toBe(true);
      expect(await authenticates(v2, { ...before, client_secret: 'not-the-secret' })).toBe(false);
      const made = await v2.client({ name: '新应用', grantTypes: ['client_credentials'], redirectUris: [] });
      expect(await storedSecret(v2, made.client_id)).toMatch(/^hmac2\$/);
      expect(await authenticates(v2, made)).toBe(true);

      // A rotation through the admin API, by a national super-admin (the console client is first-party).
      const admin = await operator(v2, [{ role: 'super-admin', departmentId: nation.id }], '总管理员');
      const created = await admin.api('POST', '/clients', { department_id: nation.id, settings: { client_name: '税务', grant_types: ['client_credentials'], redirect_uris: [], scope: 'openid' } });
      expect(created.status).toBe(201);
      const reviewer = await operator(v2, [{ role: 'reviewer', departmentId: nation.id }], '审核员');
      const submitted = await admin.api('POST', `/client-changes/${created.body.change.id}/submit`);
      expect(submitted.status).toBe(200);
      expect((await reviewer.api('POST', `/client-changes/${created.body.change.id}/approve`, { revision: submitted.body.revision })).status).toBe(200);
      const clientId = created.body.client.client_id as string;
      const rotated = await admin.api('POST', `/clients/${clientId}/secret`, { grace_seconds: 600 });
      expect(rotated.status).toBe(200);
      expect(await storedSecret(v2, clientId)).toMatch(/^hmac2\$/);
      await expect.poll(() => authenticates(v2, { client_id: clientId, client_secret: rotated.body.client_secret as string })).toBe(true);
      // The secret it replaced keeps its grace period.
      expect(await authenticates(v2, { client_id: clientId, client_secret: created.body.client_secret as string })).toBe(true);
    } finally {
      await v2.stop();
    }
  }, 240_000);

  it('SMS codes: a switch voids the codes in flight (refused as a wrong code); codes sent after it work', async () => {
    const v1 = await restartWith({});
    const phone = freshPhone();
    await v1.citizen({ phone });
    const rp = await relyingParty(v1, await v1.client({ name: '社保查询', firstParty: true }));
    const origin = new URL(v1.issuer).origin;
    const codeFor = async () => {
      const code = await latestOutboxCode(outboxPath(v1.config.dataDir), `+86${phone}`, 'login');
      if (!code) throw new Error('no code in the outbox');
      return code;
    };
    async function codePage(browser: ScriptedBrowser): Promise<PageStep> {
      const verifier = oidc.randomPKCECodeVerifier();
      const login = page(await walk(browser, await authorizationUrl(rp, verifier, { scope: 'openid', ui_locales: 'en' }), origin));
      const link = /<a href="([^"]+\/sms)">/.exec(login.html)?.[1];
      const sms = page(await walk(browser, new URL(link!, login.url), origin));
      return page(await post(browser, sms, '/sms', { phone }, origin));
    }

    const browser = new ScriptedBrowser();
    const inFlight = await codePage(browser);
    expect(formAction(inFlight.html, '/sms/verify')).toBeTruthy();
    const oldCode = await codeFor();
    await v1.stop();

    const v2 = await restartWith({ sms: { version: 2 } });
    try {
      const refused = page(await post(browser, inFlight, '/sms/verify', { code: oldCode }, origin));
      expect(refused.status).toBe(401);
      expect(alertOf(refused.html)).toBe('The code is not correct.');

      // A new code right away: the send throttle's window restarted with the key.
      const other = new ScriptedBrowser();
      const again = await codePage(other);
      const fresh = await codeFor();
      expect(fresh).not.toBe(oldCode);
      const signedIn = await post(other, again, '/sms/verify', { code: fresh }, origin);
      expect(signedIn.kind, alertOf(signedIn.kind === 'page' ? signedIn.html : '')).toBe('rp');
    } finally {
      await v2.stop();
    }
  }, 240_000);

  it('first-party secrets: after a switch and a restart, the portal and the admin console still sign in', async () => {
    const setup = await restartWith({});
    const citizen = await setup.citizen();
    const staff = await setup.citizen({ name: '管理员' });
    await setup.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'auditor', departmentId: nation.id });
    const portalStored = await storedSecret(setup, 'yihao-portal');
    expect(portalStored).toMatch(/^hmac1\$/);
    await setup.stop();

    const v2 = await restartWith({ firstPartySecret: { version: 2 } });
    try {
      // The portal: its callback redeems the code with its (now v2-derived) secret.
      const browser = new ScriptedBrowser();
      let { res, url } = await browser.follow(`${v2.url}/account`);
      let html = await res.text();
      expect(url.pathname).toMatch(/^\/interaction\//);
      ({ res, url } = await browser.follow(new URL(formAction(html, '/login')!, url), { form: { csrf: formField(html, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } }));
      html = await res.text();
      expect(res.status).toBe(200);
      expect(url.pathname).toBe('/account');
      expect(html).toContain('/account/logout');

      // The console: a full loa:2 sign-in that lands on its home page.
      const { landed } = await consoleBrowser(v2, staff);
      expect(landed.status).toBe(200);
      expect(landed.url.pathname).toBe('/admin');
      expect(landed.html).toContain('Auditor');
      // The portal's stored HMAC moved with the derived secret.
      expect(await storedSecret(v2, 'yihao-portal')).not.toEqual(portalStored);
    } finally {
      await v2.stop();
    }
  }, 240_000);
});
