/**
 * Attacks on the staged signing key rotation (a helper's review; src/keys/signing-keys.ts,
 * src/oidc/provider-holder.ts): sequences of rotations across instances that poll only when the
 * test says so (`holder.refresh()`), an instance that starts during a publishing window, the
 * statuses the admin API reports, and the config that sets the window. A publishing window "ends"
 * by moving the signing key's `retired_at` to the past, as time passing would. Each case attacks
 * one promise and passes when it holds.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { loadConfig, type Config } from '../../src/config/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { operator } from '../support/admin-operators.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];
const SCOPE = 'openid';

/** No instance polls on its own; rotations are staged as in production. */
const staged = (c: Config): Config => ({ ...c, keys: { ...c.keys, refreshSeconds: 3600, publishSeconds: 7200 } });

interface KeyRow {
  kid: string;
  alg: string;
  retired_at: number | string | null;
}

describe.each(backends)('staged signing key rotation under attack (%s)', (backend) => {
  let h: Harness;
  let lag: Harness;
  let client: { client_id: string; client_secret?: string };
  let citizen: { citizenId: string; password: string };

  beforeAll(async () => {
    h = await startHarness({ backend, overrides: staged });
    lag = await startHarness({ share: h, overrides: staged });
    client = await h.client({ redirectUris: [REDIRECT], grantTypes: ['authorization_code'], scope: SCOPE });
    citizen = await h.citizen();
  }, 120_000);
  afterAll(async () => {
    await lag?.close();
    await h?.close();
  }, 30_000);

  const db = () => h.yihao.stores.db;

  /** An ID token (ES256) signed by instance `at`, the app's calls all going there. */
  async function idTokenAt(at: Harness): Promise<string> {
    const toInstance: oidc.CustomFetch = (url, options) => fetch(url.replace(h.issuer, at.url), options as RequestInit);
    const rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: toInstance });
    rp[oidc.customFetch] = toInstance;
    const verifier = oidc.randomPKCECodeVerifier();
    const browser = new ScriptedBrowser((u, init) => fetch(new URL(u.href.replace(h.issuer, at.url)), init));
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier, { scope: SCOPE }), { identifier: citizen.citizenId, password: citizen.password });
    return (await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier })).id_token!;
  }
  const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
  const jwksOf = async (at: Harness) => (await (await fetch(`${at.url}/jwks`)).json()) as JSONWebKeySet;

  /** Whether `token` verifies against the JWKS each of `instances` serves (the app's fetch may land on any). */
  async function verifiedBy(token: string, instances: Harness[]): Promise<string[]> {
    return Promise.all(
      instances.map(async (at) => {
        const served = await jwksOf(at);
        return jwtVerify(token, createLocalJWKSet(served)).then(
          () => 'verified',
          (e: unknown) => `refused at ${at.url}: ${(e as Error).message} (kid ${kidOf(token)}; serves ${served.keys.map((k) => k.kid).join(', ')})`,
        );
      }),
    );
  }

  /** Every staged window ends (as time passing would) and every instance polls: one signing key per algorithm. */
  async function settle(...instances: Harness[]) {
    await db()('signing_keys').where('retired_at', '>', Date.now()).update({ retired_at: Date.now() - 1 });
    for (const at of instances) await at.yihao.holder.refresh();
  }

  /** The earliest staged window ends (its keys stop signing), as time passing would. */
  async function endEarliestWindow() {
    const rows = (await db()('signing_keys').where('retired_at', '>', Date.now()).select('retired_at')) as KeyRow[];
    const first = Math.min(...rows.map((r) => Number(r.retired_at)));
    await db()('signing_keys').where({ retired_at: first }).update({ retired_at: Date.now() - 1 });
  }

  /** The kid the provider of `at` would pick to sign for `alg`: the first of that algorithm in the keys it loads. */
  const firstOf = async (alg: string) => (await h.yihao.signingKeys.load()).keys.find((k) => k.alg === alg)!.kid!;
  const es = (infos: { kid: string; alg: string }[]) => infos.find((k) => k.alg === 'ES256')!.kid;

  it('a key whose successor was deleted (an operator’s mistake) signs until its end, and then a new key does: never a retired one', async () => {
    await settle(h, lag);
    const k0 = kidOf(await idTokenAt(h));
    const k1 = es(await h.yihao.signingKeys.rotate());
    await db()('signing_keys').where({ kid: k1 }).delete();
    await h.yihao.holder.refresh();
    expect(kidOf(await idTokenAt(h))).toBe(k0);
    // The window ends: every ES256 key is retired.
    await settle(h);
    const t = await idTokenAt(h);
    const listed = await h.yihao.signingKeys.list();
    expect(listed.find((k) => k.kid === kidOf(t))?.status).toBe('active');
    expect(kidOf(t)).not.toBe(k0);
    await lag.yihao.holder.refresh();
    expect(await verifiedBy(t, [h, lag])).toEqual(['verified', 'verified']);
  }, 120_000);

  it('two staged rotations in a row, and an instance that starts during the window, never sign with a key an instance does not publish; every token verifies everywhere', async () => {
    await settle(h, lag);
    const k0 = kidOf(await idTokenAt(h));
    const k1 = es(await h.yihao.signingKeys.rotate());
    await h.yihao.holder.refresh();
    const k2 = es(await h.yihao.signingKeys.rotate());
    await h.yihao.holder.refresh();
    const tokens: string[] = [];
    // lag has not polled since before the first rotation.
    for (const at of [h, lag]) {
      const t = await idTokenAt(at);
      expect(kidOf(t)).toBe(k0);
      expect(await verifiedBy(t, [h, lag])).toEqual(['verified', 'verified']);
      tokens.push(t);
    }
    const nullBefore = await db()('signing_keys').whereNull('retired_at').count({ n: '*' });
    const late = await startHarness({ share: h, overrides: staged });
    try {
      // ensure() on the late instance adds no key of its own during the window.
      expect(await db()('signing_keys').whereNull('retired_at').count({ n: '*' })).toEqual(nullBefore);
      const t = await idTokenAt(late);
      expect(kidOf(t)).toBe(k0);
      expect(await verifiedBy(t, [h, lag, late])).toEqual(['verified', 'verified', 'verified']);
      tokens.push(t);
      await lag.yihao.holder.refresh();

      // The first window ends: k1 (published since the first rotation) signs on every instance.
      await endEarliestWindow();
      for (const at of [h, lag, late]) await at.yihao.holder.refresh();
      for (const at of [h, lag, late]) {
        const t1 = await idTokenAt(at);
        expect(kidOf(t1)).toBe(k1);
        expect(await verifiedBy(t1, [h, lag, late])).toEqual(['verified', 'verified', 'verified']);
        tokens.push(t1);
      }
      // The second window ends: k2 signs; every earlier token still verifies everywhere.
      await endEarliestWindow();
      for (const at of [h, lag, late]) await at.yihao.holder.refresh();
      for (const at of [h, lag, late]) expect(kidOf(await idTokenAt(at))).toBe(k2);
      for (const t2 of tokens) expect(await verifiedBy(t2, [h, lag, late])).toEqual(['verified', 'verified', 'verified']);
    } finally {
      await late.stop();
    }
  }, 180_000);

  it('a staged rotation then --now: the old key stops signing on every instance at its next poll, each algorithm keeps a signing key, and the superseded next key stays published', async () => {
    await settle(h, lag);
    const k0 = kidOf(await idTokenAt(h));
    const k1 = es(await h.yihao.signingKeys.rotate());
    await h.yihao.holder.refresh();
    await lag.yihao.holder.refresh();
    const before = await idTokenAt(lag);
    expect(kidOf(before)).toBe(k0);
    const fresh = await h.yihao.signingKeys.rotate(undefined, { immediate: true });
    const k2 = es(fresh);
    expect(fresh.map((k) => k.status)).toEqual(['active', 'active']);
    // Each algorithm: the provider's first key is the new one.
    expect(await firstOf('ES256')).toBe(k2);
    expect(await firstOf('RS256')).toBe(fresh.find((k) => k.alg === 'RS256')!.kid);
    expect(await h.yihao.holder.refresh()).toBe(true);
    expect(await lag.yihao.holder.refresh()).toBe(true);
    for (const at of [h, lag]) expect(kidOf(await idTokenAt(at))).toBe(k2);
    const listed = await h.yihao.signingKeys.list();
    expect(listed.find((k) => k.kid === k0)?.status).toBe('retired');
    expect(listed.find((k) => k.kid === k1)?.status).toBe('retired');
    for (const at of [h, lag]) expect((await jwksOf(at)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([k0, k1, k2]));
    expect(await verifiedBy(before, [h, lag])).toEqual(['verified', 'verified']);
  }, 120_000);

  it('--now then a staged rotation: the --now key signs through the window on every instance, the staged one only after', async () => {
    await settle(h, lag);
    const k1 = es(await h.yihao.signingKeys.rotate(undefined, { immediate: true }));
    await h.yihao.holder.refresh();
    await lag.yihao.holder.refresh();
    const k2 = es(await h.yihao.signingKeys.rotate());
    await h.yihao.holder.refresh();
    for (const at of [h, lag]) {
      const t = await idTokenAt(at);
      expect(kidOf(t)).toBe(k1);
      expect(await verifiedBy(t, [h, lag])).toEqual(['verified', 'verified']);
    }
    await lag.yihao.holder.refresh();
    await endEarliestWindow();
    // The fingerprint changes when the window ends: no instance keeps a stale provider.
    expect(await h.yihao.holder.refresh()).toBe(true);
    expect(await lag.yihao.holder.refresh()).toBe(true);
    for (const at of [h, lag]) {
      const t = await idTokenAt(at);
      expect(kidOf(t)).toBe(k2);
      expect(await verifiedBy(t, [h, lag])).toEqual(['verified', 'verified']);
    }
  }, 120_000);

  it('after two staged rotations in a row, GET /keys shows as active only the key that signs, and the second key as next from when it really signs', async () => {
    await settle(h, lag);
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: `国家政务服务中心${backend.length}${Date.now()}`, level: 'national' });
    const admin = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], '总管理员');
    const first = (await admin.api('POST', '/keys/rotate')).body as { activated: string[] };
    const second = (await admin.api('POST', '/keys/rotate')).body as { activated: string[] };
    await h.yihao.holder.refresh();
    const listed = (await admin.api('GET', '/keys')).body as { keys: { kid: string; alg: string; status: string; signs_from: string | null; retired_at: string | null }[] };
    for (const alg of ['ES256', 'RS256']) {
      const signing = await firstOf(alg);
      const ofAlg = listed.keys.filter((k) => k.alg === alg);
      // What the provider signs with is the one key shown active.
      expect(ofAlg.filter((k) => k.status === 'active').map((k) => k.kid)).toEqual([signing]);
      const oldEnd = ofAlg.find((k) => k.kid === signing)!.retired_at;
      // The first rotation's key signs when the old key's window ends, not now.
      const k1 = ofAlg.find((k) => first.activated.includes(k.kid))!;
      expect(k1).toMatchObject({ status: 'next', signs_from: oldEnd });
      const k2 = ofAlg.find((k) => second.activated.includes(k.kid))!;
      expect(k2).toMatchObject({ status: 'next', signs_from: k1.retired_at });
    }
    // The ID tokens agree: the key still signing is the old one.
    expect(kidOf(await idTokenAt(h))).toBe(await firstOf('ES256'));
  }, 180_000);

  it.skipIf(backend === 'sqlite')('two instances rotating at the same moment leave one key per algorithm to sign next, and the statuses say which', async () => {
    await settle(h, lag);
    const pg = db();
    // Hold the current keys so that both rotations' updates queue behind the same lock, as two
    // operators pressing "rotate" on two instances at once would.
    const hold = await pg.transaction();
    await hold('signing_keys').whereNull('retired_at').forUpdate().select('kid');
    const both = Promise.all([h.yihao.signingKeys.rotate(), lag.yihao.signingKeys.rotate()]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = (await pg.raw(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)) as { rows: { n: number }[] };
      if (rows[0]!.n >= 2) break;
      if (Date.now() > deadline) throw new Error('the rotations never queued');
      await new Promise((r) => setTimeout(r, 50));
    }
    await hold.commit();
    const [a, b] = await both;
    const fresh = [...a!, ...b!].map((k) => k.kid);
    const listed = await h.yihao.signingKeys.list();
    for (const alg of ['ES256', 'RS256']) {
      const ofAlg = listed.filter((k) => k.alg === alg);
      expect(ofAlg.filter((k) => k.status === 'active')).toHaveLength(1);
      // One rotation after the other: the second's key signs once the first's is retired, never
      // from the same moment as it (before rotations were serialised, both had no end at all).
      const next = ofAlg.filter((k) => k.status === 'next' && fresh.includes(k.kid));
      expect(next).toHaveLength(2);
      expect(next.every((k) => k.signsFrom !== undefined)).toBe(true);
      expect(new Set(next.map((k) => k.signsFrom)).size).toBe(2);
    }
    // When the window ends, each algorithm shows the one key that signs as active.
    await endEarliestWindow();
    await h.yihao.holder.refresh();
    const after = await h.yihao.signingKeys.list();
    for (const alg of ['ES256', 'RS256']) expect(after.filter((k) => k.alg === alg && k.status === 'active').map((k) => k.kid)).toEqual([await firstOf(alg)]);
  }, 120_000);
});

describe('publishing window config', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  function load(fileConfig: object): () => Config {
    const dir = mkdtempSync(join(tmpdir(), 'yihao-publish-config-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(fileConfig));
    return () => loadConfig({ NODE_ENV: 'test', YIHAO_DATA_DIR: dir, LOG_LEVEL: 'silent', YIHAO_CONFIG: join(dir, 'config.json') });
  }

  it('a publishing window shorter than two polls is refused at start; 0, two polls, or unset (two polls + 30 s) are taken', () => {
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3700, publishSeconds: 9 } })).toThrow(/publishSeconds/);
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3700, publishSeconds: 0.5 } })).toThrow(/publishSeconds/);
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3700, publishSeconds: -1 } })).toThrow(/publishSeconds/);
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3700, publishSeconds: 0 } })().keys.publishSeconds).toBe(0);
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3700, publishSeconds: 10 } })().keys.publishSeconds).toBe(10);
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3700 } })().keys.publishSeconds).toBe(40);
  });

  it('a long publishing window does not shorten how long the old key stays published after it stops signing', () => {
    // retired_at is when a key stops signing: retiredKeepSeconds counts from there, whatever the window.
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3605, publishSeconds: 86_400 } })().keys.retiredKeepSeconds).toBe(3605);
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3604, publishSeconds: 86_400 } })).toThrow(/retiredKeepSeconds/);
  });
});
