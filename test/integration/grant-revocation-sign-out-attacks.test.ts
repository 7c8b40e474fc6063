/**
 * Attacks on the revocation hold (src/storage/revocation-hold.ts; a helper's second review) through
 * the sign-out paths, beyond grant-revocation-record-attacks and grant-revocation-races. docs/audit.md
 * "Shape": a grant's revocation lands with its record in one transaction or not at all; a failed
 * record fails the request and leaves everything for the retry; after success the grant and all its
 * tokens are gone. On both backends. All three failed before their fixes: the CLI's lost-phone
 * revocation (outside any request) revoked first and recorded after; a counter's lost-phone
 * revocation that failed midway still sent the grants it had held, without a record; and a
 * code-only app's logout left another app's refresh tokens behind that app's revoked grant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { refuseAuditEvents } from '../support/audit.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { consentedSignIn, grantStored as grantStoredIn, logOutThroughApp, refuseRows } from '../support/grant-revocations.js';
import { revokeAllDeviceKeys } from '../../src/channels/mobile/revoke-device-keys.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

describe.each(backends)('grant revocations through the sign-out paths ($backend)', ({ backend, enabled }) => {
  let h: Harness;
  let rpFull: oidc.Configuration;
  let rpCodeOnly: oidc.Configuration;
  let appId: string;
  let staffToken: string;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend });
    rpFull = await relyingParty(h, await h.client({ name: '复审应用甲', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' }));
    rpCodeOnly = await relyingParty(h, await h.client({ name: '复审应用乙', grantTypes: ['authorization_code'], scope: 'openid profile' }));
    ({ client_id: appId } = await registerMobileApp(h));
    const counter = await h.client({ name: '复审柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    const departmentId = await counterClientOf(h, counter, '复审政务服务中心');
    const staff = await h.citizen({ name: '赵柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    staffToken = (await staffSignIn(h, await relyingParty(h, counter), staff)).access_token;
  }, 120_000);
  afterAll(async () => h?.close());

  const db = () => h.yihao.stores.db;
  const grantStored = (grantId: string) => grantStoredIn(db(), grantId);
  const grantsOf = async (sub: string, clientId?: string) =>
    ((await db()('account_index').where({ model: 'Grant', account_id: sub, ...(clientId ? { client_id: clientId } : {}) }).select('id')) as { id: string }[]).map((r) => r.id);
  const records = async (sub: string, action: string) => (await h.yihao.services.audit.forAccount(sub, 500)).filter((e) => e.action === action);

  const signIn = consentedSignIn;

  it.skipIf(!enabled)(
    'ATTACK 1: `yihao account revoke-devices` (the CLI, outside any request) with session.ended refused: the grant is revoked only with its record',
    async () => {
      const citizen = await h.citizen();
      await signIn(new ScriptedBrowser(), rpFull, citizen, 'openid profile offline_access');
      const [grantId] = await grantsOf(citizen.sub, rpFull.clientMetadata().client_id);
      expect(grantId).toBeTruthy();
      const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
      // What the CLI command runs (src/cli/account-devices.command.ts), with no request around it.
      const allow = await refuseAuditEvents(db(), 'session.ended');
      let failed = false;
      try {
        await revokeAllDeviceKeys(
          { deviceKeys: h.yihao.channels.deviceKeys, signOut: h.yihao.signOut, audit: h.yihao.services.audit, credentials: h.yihao.credentials },
          { id: account.id, sub: account.sub },
          { actorType: 'system', actorId: 'cli', via: 'cli' },
        ).catch(() => (failed = true));
      } finally {
        await allow();
      }
      expect(failed, 'the command reported success although its record failed').toBe(true);
      if (!(await grantStored(grantId!))) {
        expect((await records(citizen.sub, 'session.ended')).length, 'the CLI revoked the grant without its session.ended record').toBe(1);
      }
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 2: a counter’s lost-phone revocation whose store fails after the grants were held (a key link’s delete): nothing is revoked without a record',
    async () => {
      const { citizen, phone } = await phoneWithDeviceKey(h, { client_id: appId });
      await phone.loginWithDeviceKey(undefined, 'openid profile offline_access');
      const links = (await db()('account_index').where({ model: 'DeviceKeyGrant', account_id: citizen.sub }).select('id')) as { id: string }[];
      const linked = links.map((l) => l.id.slice(l.id.indexOf(':') + 1));
      expect(linked.length).toBeGreaterThan(0);
      const grants = await grantsOf(citizen.sub);
      expect(grants.length).toBeGreaterThan(0);
      const before = (await records(citizen.sub, 'session.ended')).length;
      const allow = await refuseRows(db(), { table: 'account_index', op: 'delete', pgWhen: `old.model = 'DeviceKeyGrant'`, sqliteWhen: `old.model = 'DeviceKeyGrant'` });
      let status: number;
      try {
        const res = await fetch(`${h.issuer}/counter/device-keys/revoke`, {
          method: 'POST',
          headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ citizen_id: citizen.citizenId, document_check: 'in_person' }),
        });
        await res.arrayBuffer();
        status = res.status;
      } finally {
        await allow();
      }
      expect(status).toBeGreaterThanOrEqual(500);
      const gone = [];
      for (const g of grants) if (!(await grantStored(g))) gone.push(g);
      const recorded = (await records(citizen.sub, 'session.ended')).length - before;
      expect({ gone: gone.length, keyLinked: gone.filter((g) => linked.includes(g)).length, recorded }, 'grants were revoked by a failed request with no session.ended record').toEqual({ gone: 0, keyLinked: 0, recorded: 0 });
    },
    90_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 3: a logout that an app without the refresh_token grant starts ends another app’s grant: all of that grant’s tokens go with it',
    async () => {
      const citizen = await h.citizen();
      const browser = new ScriptedBrowser();
      const starter = await signIn(browser, rpCodeOnly, citizen, 'openid profile');
      // No offline_access: this grant does not outlive the logout, yet it holds a refresh token
      // (issueRefreshToken: any client with the refresh_token grant, src/oidc/provider.ts).
      const other = await signIn(browser, rpFull, citizen, 'openid profile');
      expect(other.refresh_token).toBeTruthy();
      const [grantId] = await grantsOf(citizen.sub, rpFull.clientMetadata().client_id);
      expect(grantId).toBeTruthy();
      expect(await logOutThroughApp(h.issuer, browser, rpCodeOnly, starter.id_token!)).toBeLessThan(400);
      expect(await grantStored(grantId!), 'the other app’s grant outlived the logout').toBe(false);
      const left = (await db()('oidc_models').where({ model: 'RefreshToken', grant_id: grantId }).count({ n: '*' }).first()) as { n: number | string };
      expect(Number(left.n), 'refresh tokens of the revoked grant are still stored').toBe(0);
    },
    60_000,
  );
});
