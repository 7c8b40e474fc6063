import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { auditOn, auditStores, auditTestKey } from '../support/audit.js';
import { countRoundTrips } from '../../src/storage/round-trips.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';

const stores = auditStores({ migrated: true });

describe.each(stores)('hash-chained audit log ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('keeps an intact chain under concurrent writers and detects edits and deletions', async () => {
    const s = await open();
    try {
      const key = auditTestKey();
      const { log: a, sealer } = auditOn(s.db, key);
      const { log: b } = auditOn(s.second(), key);
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? a : b).append({ action: 'admin.test.event', actorType: 'system', accountId: `acct${i % 3}`, details: { i } }),
        ),
      );
      // The hot path: one statement per event, no lock, no read (it was six, under one global lock).
      const counter = countRoundTrips({ db: s.db });
      await a.append({ action: 'admin.test.counted', actorType: 'system' });
      counter.stop();
      expect(counter.read()).toMatchObject({ sql: 1, redis: 0 });
      await s.db('audit_events').where({ action: 'admin.test.counted' }).delete();
      // Unsealed events are readable at once (a citizen sees them in the portal) and break nothing.
      expect(await a.forAccount('acct1')).toHaveLength(7);
      expect(await a.check()).toMatchObject({ intact: true, checked: 0, unsealed: { count: 20 } });
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 20, checkpoints: 1 });
      expect(await a.check()).toMatchObject({ intact: true, checked: 20, unsealed: { count: 0 } });
      expect(await a.verify()).toBeUndefined();
      expect(await a.forAccount('acct1')).toHaveLength(7);

      const rows = await s.db('audit_events').orderBy('seq');
      const victim = rows[5]!;
      await s.db('audit_events').where({ id: victim.id }).update({ details: '{"i":999}' });
      expect(await a.verify()).toBe(Number(victim.id));
      await s.db('audit_events').where({ id: victim.id }).update({ details: victim.details });
      expect(await a.verify()).toBeUndefined();

      await s.db('audit_events').where({ id: rows[9]!.id }).delete();
      expect(await a.verify()).toBe(Number(rows[10]!.id));
    } finally {
      await s.close();
    }
  });
});

describe('sign-ins reach the audit log', () => {
  let h: Harness;
  afterAll(async () => h?.close());

  it('records the failed and the successful login, the consent and the app that was granted, with channel and method', async () => {
    h = await startHarness();
    const client = await h.client({});
    const citizen = await h.citizen();
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });

    const audit = h.yihao.services.audit;
    await expect.poll(async () => (await audit.forAccount(citizen.sub)).map((e) => e.action)).toEqual(['authorization.granted', 'consent.granted', 'login.succeeded']);
    const [granted, consent] = await audit.forAccount(citizen.sub);
    expect(granted).toMatchObject({ clientId: client.client_id, channel: 'web', details: { amr: ['pwd'], acr: 'urn:yihao:loa:1' } });
    expect(consent).toMatchObject({ clientId: client.client_id, actorType: 'citizen', details: { scopes: expect.arrayContaining(['openid', 'profile']) } });
    const all = await h.yihao.stores.db('audit_events');
    expect(JSON.stringify(all)).not.toContain(citizen.citizenId);
    expect(await audit.verify()).toBeUndefined();
  });
});
