/**
 * A grant revocation and its `grant.revoked` record land together or not at all (docs/audit.md,
 * "Shape"), on both backends. The audit store refuses `grant.revoked` while a revocation runs, as
 * a failing store (or an attacker who can make it fail) would: an RFC 7009 revocation, a replayed
 * refresh token, a code redeemed twice and an app's logout each either leave the grant stored, or
 * revoke it with its record. Once the store takes records again, the same request made again
 * finishes the revocation (the grant and its access token gone), and records it once. So does a
 * citizen withdrawing an app's access in the portal, with its `consent.revoked` record, and
 * signing out everywhere there, with its `session.ended`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { refuseAuditEvents } from '../support/audit.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { openPortal, submitPortalForm } from '../support/portal-browser.js';
import { logOutThroughApp } from '../support/grant-revocations.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a grant revocation and its record ($backend)', ({ backend, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend });
    rp = await relyingParty(h, await h.client({ name: '社保查询', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' }));
  }, 60_000);
  afterAll(async () => h?.close());

  const revokedRecords = async (sub: string) => (await h.yihao.services.audit.forAccount(sub, 200)).filter((e) => e.action === 'grant.revoked').length;

  /** Without offline_access, an app's logout revokes the grant (with it, the grant outlives the logout). */
  async function signedIn(scope = 'openid profile offline_access') {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await authorizationUrl(rp, verifier, { state, scope, prompt: 'consent' });
    const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
    const redeem = () => oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
    return { citizen, browser, redeem, tokens: await redeem() };
  }

  /** Whether an access token still answers at userinfo (its grant and the token itself live). */
  async function answers(accessToken: string): Promise<boolean> {
    const res = await fetch(rp.serverMetadata().userinfo_endpoint!, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.arrayBuffer();
    if (res.status !== 200 && res.status !== 401) throw new Error(`userinfo answered ${res.status}`);
    return res.status === 200;
  }

  /** Runs `attempt` while the audit store refuses `action`; what it threw, if anything. */
  async function whileRefused(attempt: () => Promise<unknown>, action = 'grant.revoked'): Promise<unknown> {
    const allow = await refuseAuditEvents(h.yihao.stores.db, action);
    try {
      return await attempt().then(
        () => undefined,
        (err: unknown) => err,
      );
    } finally {
      await allow();
    }
  }

  /** How many of the citizen's grants to the app are stored (account_index lists them; oidc_models holds them). */
  async function grantsOf(sub: string): Promise<number> {
    const db = h.yihao.stores.db;
    const row = (await db('oidc_models as m')
      .join('account_index as i', function () {
        this.on('i.id', '=', 'm.id').andOn('i.model', '=', 'm.model');
      })
      .where({ 'm.model': 'Grant', 'i.account_id': sub, 'i.client_id': rp.clientMetadata().client_id })
      .count({ n: '*' })
      .first()) as { n: number | string };
    return Number(row.n);
  }

  /** After a refused attempt: the grant is there, or it is gone and its record stands. */
  async function revokedOnlyWithRecord(sub: string, before: number): Promise<void> {
    if ((await grantsOf(sub)) > 0) return;
    expect(await revokedRecords(sub), 'the grant was revoked without its grant.revoked record').toBe(before + 1);
  }

  /** The grant, its access token and its record: gone, gone, and stored once. */
  const finished = async (sub: string, before: number, accessToken: string) => {
    expect(await grantsOf(sub)).toBe(0);
    expect(await answers(accessToken)).toBe(false);
    expect(await revokedRecords(sub)).toBe(before + 1);
  };

  it.skipIf(!enabled)('an RFC 7009 revocation of a refresh token: revoked with its record, or not at all; a retry finishes it', async () => {
    const { citizen, tokens } = await signedIn();
    const before = await revokedRecords(citizen.sub);
    const refused = await whileRefused(() => oidc.tokenRevocation(rp, tokens.refresh_token!));
    await revokedOnlyWithRecord(citizen.sub, before);
    if (!refused) return finished(citizen.sub, before, tokens.access_token);
    // The app was told it failed (not 200), so it tries again, and that finishes the revocation.
    await oidc.tokenRevocation(rp, tokens.refresh_token!);
    await finished(citizen.sub, before, tokens.access_token);
  });

  it.skipIf(!enabled)('a replayed refresh token: the grant is revoked with its record, or not at all; the next replay revokes it', async () => {
    const { citizen, tokens } = await signedIn();
    const rotated = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    const before = await revokedRecords(citizen.sub);
    expect(await whileRefused(() => oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toBeTruthy();
    await revokedOnlyWithRecord(citizen.sub, before);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await finished(citizen.sub, before, rotated.access_token);
  });

  it.skipIf(!enabled)('a code redeemed twice: the grant is revoked with its record, or not at all; the next try revokes it', async () => {
    const { citizen, tokens, redeem } = await signedIn();
    const before = await revokedRecords(citizen.sub);
    expect(await whileRefused(redeem)).toBeTruthy();
    await revokedOnlyWithRecord(citizen.sub, before);
    await expect(redeem()).rejects.toMatchObject({ error: 'invalid_grant' });
    await finished(citizen.sub, before, tokens.access_token);
  });

  it.skipIf(!enabled)('an app\u2019s logout: its grant is revoked with its record, or not at all; logging out again finishes it', async () => {
    const { citizen, browser, tokens } = await signedIn('openid profile');
    const before = await revokedRecords(citizen.sub);
    const logOut = async () => {
      const status = await logOutThroughApp(h.issuer, browser, rp, tokens.id_token!);
      if (status >= 400) throw new Error(`logout answered ${status}`);
    };
    const refused = await whileRefused(logOut);
    await revokedOnlyWithRecord(citizen.sub, before);
    if (refused) await logOut();
    await finished(citizen.sub, before, tokens.access_token);
  });

  it.skipIf(!enabled)('a grant deleted with its record while its access token stayed (a Redis delete failed after the commit): the token is refused', async () => {
    const { citizen, tokens } = await signedIn();
    const db = h.yihao.stores.db;
    const grants = await db('account_index').where({ model: 'Grant', account_id: citizen.sub }).select('id');
    expect(grants).toHaveLength(1);
    // Only the grant's row goes, as the SQL part of a revocation does; the token stays where it is.
    await db('oidc_models').where({ model: 'Grant', id: grants[0]!.id }).delete();
    expect(await answers(tokens.access_token)).toBe(false);
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it.skipIf(!enabled)('a citizen withdrawing an app’s access in the portal: revoked with its consent.revoked record, or not at all; trying again finishes it', async () => {
    const { citizen, tokens } = await signedIn();
    const browser = new ScriptedBrowser();
    const clientId = rp.clientMetadata().client_id;
    const records = async () => (await h.yihao.services.audit.forAccount(citizen.sub, 200)).filter((e) => e.action === 'consent.revoked').length;
    const withdraw = async () => {
      const apps = await openPortal(h, browser, citizen, '/account/apps');
      const res = await submitPortalForm(h, browser, apps.page, '/account/apps/revoke', { client_id: clientId });
      await res.arrayBuffer();
      if (res.status !== 303) throw new Error(`the portal answered ${res.status}`);
    };
    expect(await whileRefused(withdraw, 'consent.revoked')).toBeTruthy();
    // Not half done: the grant is still listed (and stored), so the citizen can try again.
    expect(await grantsOf(citizen.sub)).toBe(1);
    expect(await records()).toBe(0);
    await withdraw();
    expect(await grantsOf(citizen.sub)).toBe(0);
    expect(await answers(tokens.access_token)).toBe(false);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await records()).toBe(1);
  });

  it.skipIf(!enabled)('a citizen signing out everywhere in the portal: the app keeps its grant unless the session.ended record lands; trying again finishes it', async () => {
    const { citizen, tokens } = await signedIn();
    const browser = new ScriptedBrowser();
    const records = async () => (await h.yihao.services.audit.forAccount(citizen.sub, 200)).filter((e) => e.action === 'session.ended').length;
    const signOutEverywhere = async () => {
      const sessions = await openPortal(h, browser, citizen, '/account/sessions');
      const res = await submitPortalForm(h, browser, sessions.page, '/account/sessions/end-all');
      await res.arrayBuffer();
      if (res.status !== 303) throw new Error(`the portal answered ${res.status}`);
    };
    expect(await whileRefused(signOutEverywhere, 'session.ended')).toBeTruthy();
    // The app's grant (offline_access: it outlives the browser session) is still there for the retry.
    expect(await grantsOf(citizen.sub)).toBe(1);
    expect(await records()).toBe(0);
    await signOutEverywhere();
    expect(await grantsOf(citizen.sub)).toBe(0);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await records()).toBe(1);
  });
});
