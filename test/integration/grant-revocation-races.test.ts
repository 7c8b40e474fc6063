/**
 * Attacks on the revocation hold (src/storage/revocation-hold.ts; a helper's review): a grant's revocation
 * lands with its grant.revoked / consent.revoked record in one transaction or not at all; a failed
 * record fails the request and leaves grant, tokens and session for the retry; after success the
 * grant and all its tokens are gone and exactly one record exists (docs/audit.md "Shape"). On both
 * backends. Four failed on the hold's first version: two apps' grants in one logout (a retry
 * recorded the first grant twice, and the record named the app that started the logout), parallel
 * revocations of one token (two or three records on PostgreSQL), and an app-only logout whose 500
 * carried the cookie of a session it never saved (the retry found no session and revoked nothing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { openPortal, submitPortalForm } from '../support/portal-browser.js';
import { consentedSignIn, grantStored as grantStoredIn, refuseRows } from '../support/grant-revocations.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('grant revocations racing and half-failing ($backend)', ({ backend, enabled }) => {
  let h: Harness;
  let rpA: oidc.Configuration;
  let rpB: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend });
    const spec = { grantTypes: ['authorization_code' as const, 'refresh_token' as const], scope: 'openid profile offline_access' };
    rpA = await relyingParty(h, await h.client({ name: '审查应用甲', ...spec }));
    rpB = await relyingParty(h, await h.client({ name: '审查应用乙', ...spec }));
  }, 60_000);
  afterAll(async () => h?.close());

  const db = () => h.yihao.stores.db;
  const idOf = (rp: oidc.Configuration) => rp.clientMetadata().client_id;

  const signIn = (browser: ScriptedBrowser, rp: oidc.Configuration, citizen: { citizenId: string; password: string }, scope = 'openid profile offline_access') => consentedSignIn(browser, rp, citizen, scope);

  /** The stored grants of `sub` to the app (indexed and in oidc_models). */
  async function grantIds(sub: string, rp: oidc.Configuration): Promise<string[]> {
    const rows = (await db()('oidc_models as m')
      .join('account_index as i', function () {
        this.on('i.id', '=', 'm.id').andOn('i.model', '=', 'm.model');
      })
      .where({ 'm.model': 'Grant', 'i.account_id': sub, 'i.client_id': idOf(rp) })
      .select('m.id')) as { id: string }[];
    return rows.map((r) => r.id);
  }
  const grantStored = (grantId: string) => grantStoredIn(db(), grantId);

  /** The grant.revoked records of one grant, whichever account or client they name. */
  async function revokedRecords(grantId: string): Promise<{ client_id: string | null; account_id: string | null }[]> {
    return (await db()('audit_events').where({ action: 'grant.revoked' }).andWhere('details', 'like', `%"${grantId}"%`).select('client_id', 'account_id')) as {
      client_id: string | null;
      account_id: string | null;
    }[];
  }

  async function answers(rp: oidc.Configuration, accessToken: string): Promise<boolean> {
    const res = await fetch(rp.serverMetadata().userinfo_endpoint!, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.arrayBuffer();
    if (res.status !== 200 && res.status !== 401) throw new Error(`userinfo answered ${res.status}`);
    return res.status === 200;
  }

  /** An app's RP-initiated logout in `browser`; `everywhere` posts logout=yes (all the session's apps). */
  async function logOut(browser: ScriptedBrowser, rp: oidc.Configuration, idToken: string, everywhere = true): Promise<void> {
    const end = new URL(rp.serverMetadata().end_session_endpoint!);
    end.searchParams.set('id_token_hint', idToken);
    end.searchParams.set('client_id', idOf(rp));
    const { res, url } = await browser.follow(end, {}, h.issuer);
    const html = await res.text();
    const action = /action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`no logout form (${res.status})`);
    const form: Record<string, string> = { xsrf: formField(html, 'xsrf')! };
    if (everywhere) form.logout = 'yes';
    const done = await browser.request(new URL(action, url), { form });
    await done.arrayBuffer();
    if (done.status >= 400) throw new Error(`logout answered ${done.status}`);
  }

  it.skipIf(!enabled)(
    'ATTACK 1: a logout revoking two apps’ grants, one record refused; the retry leaves exactly one grant.revoked per grant',
    async () => {
      const citizen = await h.citizen();
      const browser = new ScriptedBrowser();
      const a = await signIn(browser, rpA, citizen, 'openid profile');
      await signIn(browser, rpB, citizen, 'openid profile');
      const [grantA] = await grantIds(citizen.sub, rpA);
      const [grantB] = await grantIds(citizen.sub, rpB);
      expect(grantA && grantB).toBeTruthy();
      const allow = await refuseRows(db(), {
        table: 'audit_events',
        op: 'insert',
        pgWhen: `new.action = 'grant.revoked' and new.details like '%${grantB}%'`,
        sqliteWhen: `new.action = 'grant.revoked' and new.details like '%${grantB}%'`,
      });
      let failed = false;
      try {
        await logOut(browser, rpA, a.id_token!).catch(() => (failed = true));
      } finally {
        await allow();
      }
      // B's revocation did not land: its grant is still stored.
      expect(await grantStored(grantB!)).toBe(true);
      expect(failed, 'the logout answered success although a revocation record failed').toBe(true);
      // The retry (the same logout again) finishes it.
      await logOut(browser, rpA, a.id_token!);
      expect(await grantStored(grantA!)).toBe(false);
      expect(await grantStored(grantB!)).toBe(false);
      expect((await revokedRecords(grantB!)).length).toBe(1);
      expect((await revokedRecords(grantA!)).length, 'grant A’s one revocation is recorded twice').toBe(1);
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 2: a logout started by app A that revokes app B’s grant records it under B, not A',
    async () => {
      const citizen = await h.citizen();
      const browser = new ScriptedBrowser();
      const a = await signIn(browser, rpA, citizen, 'openid profile');
      await signIn(browser, rpB, citizen, 'openid profile');
      const grantsB = await grantIds(citizen.sub, rpB);
      expect(grantsB.length).toBeGreaterThan(0);
      await logOut(browser, rpA, a.id_token!);
      const revokedB = (await Promise.all(grantsB.map(revokedRecords))).flat();
      expect(revokedB.length).toBeGreaterThan(0);
      for (const r of revokedB) {
        expect(r.account_id).toBe(citizen.sub);
        expect(r.client_id, 'app B’s grant.revoked names app A as the client').toBe(idOf(rpB));
      }
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 3: many parallel RFC 7009 revocations of one refresh token: the grant is gone and recorded once',
    async () => {
      const citizen = await h.citizen();
      const tokens = await signIn(new ScriptedBrowser(), rpA, citizen);
      const [grantId] = await grantIds(citizen.sub, rpA);
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => oidc.tokenRevocation(rpA, tokens.refresh_token!)));
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
      expect(await grantStored(grantId!)).toBe(false);
      expect(await answers(rpA, tokens.access_token)).toBe(false);
      expect((await revokedRecords(grantId!)).length, 'one revocation, several grant.revoked records').toBe(1);
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 4: an RFC 7009 revocation racing refreshes: nothing issued survives the revocation, and it is recorded',
    async () => {
      const citizen = await h.citizen();
      const tokens = await signIn(new ScriptedBrowser(), rpA, citizen);
      const [grantId] = await grantIds(citizen.sub, rpA);
      const refreshes = Array.from({ length: 3 }, () => oidc.refreshTokenGrant(rpA, tokens.refresh_token!));
      const revocation = oidc.tokenRevocation(rpA, tokens.refresh_token!);
      const settled = await Promise.allSettled([...refreshes, revocation]);
      expect(settled.at(-1)!.status).toBe('fulfilled');
      expect(await grantStored(grantId!)).toBe(false);
      for (const s of settled.slice(0, -1)) {
        if (s.status !== 'fulfilled') continue;
        const got = s.value as oidc.TokenEndpointResponse;
        expect(await answers(rpA, got.access_token)).toBe(false);
        if (got.refresh_token) await expect(oidc.refreshTokenGrant(rpA, got.refresh_token)).rejects.toMatchObject({ error: 'invalid_grant' });
      }
      expect((await revokedRecords(grantId!)).length).toBeGreaterThan(0);
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 5: an RFC 7009 revocation of an access token: every token of the grant is gone by the answer, the grant stays, no record',
    async () => {
      const citizen = await h.citizen();
      const tokens = await signIn(new ScriptedBrowser(), rpA, citizen);
      const [grantId] = await grantIds(citizen.sub, rpA);
      await oidc.tokenRevocation(rpA, tokens.access_token, { token_type_hint: 'access_token' });
      expect(await answers(rpA, tokens.access_token)).toBe(false);
      await expect(oidc.refreshTokenGrant(rpA, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
      expect(await grantStored(grantId!)).toBe(true);
      expect((await revokedRecords(grantId!)).length).toBe(0);
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 6: an RFC 7009 revocation of another app’s token changes nothing and records nothing',
    async () => {
      const citizen = await h.citizen();
      const tokens = await signIn(new ScriptedBrowser(), rpA, citizen);
      const [grantId] = await grantIds(citizen.sub, rpA);
      await oidc.tokenRevocation(rpB, tokens.refresh_token!).catch(() => undefined);
      await oidc.tokenRevocation(rpB, tokens.access_token).catch(() => undefined);
      expect(await grantStored(grantId!)).toBe(true);
      expect(await answers(rpA, tokens.access_token)).toBe(true);
      expect((await revokedRecords(grantId!)).length).toBe(0);
      await oidc.refreshTokenGrant(rpA, tokens.refresh_token!);
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 7: a store failure (not the audit store) inside the revocation leaves grant and tokens and no record; the retry finishes it',
    async () => {
      const citizen = await h.citizen();
      const tokens = await signIn(new ScriptedBrowser(), rpA, citizen);
      const [grantId] = await grantIds(citizen.sub, rpA);
      const allow = await refuseRows(db(), { table: 'oidc_models', op: 'delete', pgWhen: `old.model = 'RefreshToken'`, sqliteWhen: `old.model = 'RefreshToken'` });
      let failed = false;
      try {
        await oidc.tokenRevocation(rpA, tokens.refresh_token!).catch(() => (failed = true));
      } finally {
        await allow();
      }
      if (!failed) {
        // Answered success: then it must have landed in full.
        expect(await grantStored(grantId!)).toBe(false);
      } else {
        expect(await grantStored(grantId!)).toBe(true);
        expect((await revokedRecords(grantId!)).length).toBe(0);
        expect(await answers(rpA, tokens.access_token)).toBe(true);
        await oidc.tokenRevocation(rpA, tokens.refresh_token!);
      }
      expect(await grantStored(grantId!)).toBe(false);
      expect(await answers(rpA, tokens.access_token)).toBe(false);
      expect((await revokedRecords(grantId!)).length).toBe(1);
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 8: the portal withdrawal of an app with two grants: both gone with all tokens, one consent.revoked',
    async () => {
      const citizen = await h.citizen();
      const first = await signIn(new ScriptedBrowser(), rpA, citizen);
      const second = await signIn(new ScriptedBrowser(), rpA, citizen);
      const grants = await grantIds(citizen.sub, rpA);
      expect(grants).toHaveLength(2);
      const browser = new ScriptedBrowser();
      const apps = await openPortal(h, browser, citizen, '/account/apps');
      const res = await submitPortalForm(h, browser, apps.page, '/account/apps/revoke', { client_id: idOf(rpA) });
      await res.arrayBuffer();
      expect(res.status).toBe(303);
      expect(await grantIds(citizen.sub, rpA)).toEqual([]);
      for (const g of grants) expect(await grantStored(g)).toBe(false);
      for (const t of [first, second]) {
        expect(await answers(rpA, t.access_token)).toBe(false);
        await expect(oidc.refreshTokenGrant(rpA, t.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
      }
      const records = (await h.yihao.services.audit.forAccount(citizen.sub, 200)).filter((e) => e.action === 'consent.revoked' && e.clientId === idOf(rpA));
      expect(records).toHaveLength(1);
      expect(records[0]!.details).toMatchObject({ grants: grants.length });
    },
    60_000,
  );

  it.skipIf(!enabled)(
    'ATTACK 9: a logout with one app offline_access and one not, the other’s record refused: the session stays, the retry finishes it once',
    async () => {
      const citizen = await h.citizen();
      const browser = new ScriptedBrowser();
      const a = await signIn(browser, rpA, citizen, 'openid profile');
      const b = await signIn(browser, rpB, citizen, 'openid profile offline_access');
      const [grantA] = await grantIds(citizen.sub, rpA);
      const [grantB] = await grantIds(citizen.sub, rpB);
      const allow = await refuseRows(db(), {
        table: 'audit_events',
        op: 'insert',
        pgWhen: `new.action = 'grant.revoked'`,
        sqliteWhen: `new.action = 'grant.revoked'`,
      });
      let failed = false;
      try {
        await logOut(browser, rpB, b.id_token!).catch(() => (failed = true));
      } finally {
        await allow();
      }
      expect(failed).toBe(true);
      expect(await grantStored(grantA!)).toBe(true);
      expect(await answers(rpA, a.access_token)).toBe(true);
      await logOut(browser, rpB, b.id_token!);
      expect(await grantStored(grantA!)).toBe(false);
      expect(await answers(rpA, a.access_token)).toBe(false);
      expect(await grantStored(grantB!)).toBe(true);
      expect((await revokedRecords(grantA!)).length).toBe(1);
      expect((await revokedRecords(grantB!)).length).toBe(0);
    },
    60_000,
  );
  it.skipIf(!enabled)(
    'ATTACK 10: an app-only logout (logout not confirmed for the whole session), record refused: grant kept, the retry finishes it once',
    async () => {
      const citizen = await h.citizen();
      const browser = new ScriptedBrowser();
      const a = await signIn(browser, rpA, citizen, 'openid profile');
      const [grantA] = await grantIds(citizen.sub, rpA);
      const allow = await refuseRows(db(), { table: 'audit_events', op: 'insert', pgWhen: `new.action = 'grant.revoked'`, sqliteWhen: `new.action = 'grant.revoked'` });
      let failed = false;
      try {
        await logOut(browser, rpA, a.id_token!, false).catch(() => (failed = true));
      } finally {
        await allow();
      }
      expect(failed).toBe(true);
      expect(await grantStored(grantA!)).toBe(true);
      expect(await answers(rpA, a.access_token)).toBe(true);
      // The 500 carried a Set-Cookie for the session's reset id, which was never saved: the retry finds no session.
      await logOut(browser, rpA, a.id_token!, false);
      expect(await grantStored(grantA!)).toBe(false);
      expect(await answers(rpA, a.access_token)).toBe(false);
      expect((await revokedRecords(grantA!)).length).toBe(1);
    },
    60_000,
  );
});
