import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { lockoutService, type Lockout, type LockoutPolicy, type LockoutStore } from '../../src/accounts/index.js';
import { redisLockoutStore } from '../../src/accounts/lockout-redis.js';
import { sqlLockoutStore } from '../../src/accounts/lockout-sql.js';
import type { Config } from '../../src/config/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const withRedis = pgAvailable && redisAvailable;

const lockoutConfig = (lockout: LockoutPolicy) => (c: Config): Config => ({ ...c, lockout });

const LOCKED_EN = /^This account is temporarily locked after too many failed sign-in attempts\. Try again in \d+ minutes?\.$/;
const LOCKED_ZH = /^登录失败次数过多，账号已被暂时锁定。请在 \d+ 分钟后重试。$/;
const INVALID_EN = 'The ID number, mobile number or password is not correct.';

const accountId = async (h: Harness, sub: string) => (await h.yihao.accounts.findBySub(sub))!.id;

/** One sign-in attempt through the login page of one instance (`instance.url`, which may differ from the issuer). */
function loginAttempts(issuer: Harness) {
  let rp: oidc.Configuration;
  return {
    async setup() {
      rp = await relyingParty(issuer, await issuer.client({ redirectUris: [REDIRECT] }));
    },
    async attempt(instance: Harness, identifier: string, password: string, locale = 'en'): Promise<{ status: number; message: string | undefined }> {
      const browser = new ScriptedBrowser();
      // Every request goes to this instance, whatever origin the issuer's redirects name.
      const here = (u: string | URL) => {
        const url = new URL(u, instance.url);
        return new URL(url.pathname + url.search, instance.url);
      };
      let res = await browser.request(here(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', ui_locales: locale })));
      for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 5; hops++) res = await browser.request(here(res.headers.get('location')!));
      const page = await res.text();
      const csrf = formField(page, 'csrf');
      const action = formAction(page, '/login');
      if (!csrf || !action) throw new Error(`no login form (${res.status}): ${page.slice(0, 200)}`);
      const post = await browser.request(here(action), { form: { csrf, identifier, password } });
      return { status: post.status, message: /role="alert"[^>]*>([^<]+)</.exec(await post.text())?.[1] };
    },
  };
}

describe('lockout on the web login (SQLite, short lock)', () => {
  let h: Harness;
  let logins: ReturnType<typeof loginAttempts>;

  beforeAll(async () => {
    h = await startHarness({ overrides: lockoutConfig({ maxFailures: 5, windowSeconds: 900, lockSeconds: 2 }) });
    logins = loginAttempts(h);
    await logins.setup();
  });
  afterAll(async () => h?.close());

  it('locks an account after 5 wrong passwords, refuses even the right one with the lock message, and lets it in after lockSeconds', async () => {
    const c = await h.citizen();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await logins.attempt(h, c.citizenId, 'wrong password');
      statuses.push(r.status);
      expect(r.message).toBe(INVALID_EN);
    }
    const fifth = await logins.attempt(h, c.citizenId, 'wrong password');
    expect(statuses).toEqual([401, 401, 401, 401]);
    expect(fifth.status).toBe(423);
    expect(fifth.message).toMatch(LOCKED_EN);

    const right = await logins.attempt(h, c.citizenId, c.password);
    expect(right.status).toBe(423);
    expect(right.message).toMatch(LOCKED_EN);
    const zh = await logins.attempt(h, c.citizenId, c.password, 'zh-CN');
    expect(zh.status).toBe(423);
    expect(zh.message).toMatch(LOCKED_ZH);

    await sleep(2_100);
    expect((await logins.attempt(h, c.citizenId, c.password)).status).toBe(303);

    const actions = (await h.yihao.services.audit.forAccount(c.sub)).map((e) => e.action);
    expect(actions.filter((a) => a === 'account.locked')).toHaveLength(1);
    expect(actions.filter((a) => a === 'login.locked')).toHaveLength(2);
    expect(actions).toContain('login.succeeded');
  });

  it('starts the count over after the lock ends', async () => {
    const c = await h.citizen();
    for (let i = 0; i < 5; i++) await logins.attempt(h, c.citizenId, 'wrong password');
    await sleep(2_100);
    // A fresh budget: four more wrong passwords do not lock it again.
    for (let i = 0; i < 4; i++) expect((await logins.attempt(h, c.citizenId, 'wrong password')).status).toBe(401);
    expect((await logins.attempt(h, c.citizenId, c.password)).status).toBe(303);
  });

  it('resets the count after a successful sign-in', async () => {
    const c = await h.citizen();
    for (let i = 0; i < 4; i++) expect((await logins.attempt(h, c.citizenId, 'wrong password')).status).toBe(401);
    expect((await logins.attempt(h, c.citizenId, c.password)).status).toBe(303);
    for (let i = 0; i < 4; i++) expect((await logins.attempt(h, c.citizenId, 'wrong password')).status).toBe(401);
    expect((await logins.attempt(h, c.citizenId, c.password)).status).toBe(303);
  });

  it('counts per account, whichever identifier is used', async () => {
    const c = await h.citizen({ phone: '13912345678' });
    for (let i = 0; i < 3; i++) expect((await logins.attempt(h, c.citizenId, 'wrong password')).status).toBe(401);
    expect((await logins.attempt(h, '13912345678', 'wrong password')).status).toBe(401);
    expect((await logins.attempt(h, '139 1234 5678', 'wrong password')).status).toBe(423);
    expect((await logins.attempt(h, c.citizenId, c.password)).status).toBe(423);
  });

  it('never locks an unknown identifier', async () => {
    for (let i = 0; i < 7; i++) {
      const r = await logins.attempt(h, '11010519491231002X', 'wrong password');
      expect([r.status, r.message]).toEqual([401, INVALID_EN]);
    }
  });
});

describe('lockout on the web login (SQLite, long lock)', () => {
  let h: Harness;
  let logins: ReturnType<typeof loginAttempts>;

  beforeAll(async () => {
    h = await startHarness({ overrides: lockoutConfig({ maxFailures: 5, windowSeconds: 900, lockSeconds: 900 }) });
    logins = loginAttempts(h);
    await logins.setup();
  });
  afterAll(async () => h?.close());

  it('shows how long the lock lasts', async () => {
    const c = await h.citizen();
    for (let i = 0; i < 4; i++) await logins.attempt(h, c.citizenId, 'wrong password');
    const fifth = await logins.attempt(h, c.citizenId, 'wrong password');
    expect(fifth.message).toBe('This account is temporarily locked after too many failed sign-in attempts. Try again in 15 minutes.');
    expect((await logins.attempt(h, c.citizenId, c.password, 'zh-CN')).message).toBe('登录失败次数过多，账号已被暂时锁定。请在 15 分钟后重试。');
  });

  it('lets an operator unlock an account at once, and leaves other accounts alone', async () => {
    const [c, other] = [await h.citizen(), await h.citizen()];
    for (let i = 0; i < 5; i++) await logins.attempt(h, c.citizenId, 'wrong password');
    expect((await logins.attempt(h, c.citizenId, c.password)).status).toBe(423);
    expect((await logins.attempt(h, other.citizenId, other.password)).status).toBe(303);

    const id = await accountId(h, c.sub);
    expect(await h.yihao.accounts.lockout.isLocked(id)).toMatchObject({ locked: true });
    await h.yihao.accounts.lockout.unlock(id);
    expect(await h.yihao.accounts.lockout.isLocked(id)).toEqual({ locked: false });
    expect((await logins.attempt(h, c.citizenId, c.password)).status).toBe(303);
  });

  it('gives a burst of parallel guesses no more than maxFailures password checks', async () => {
    const c = await h.citizen();
    const hasher = h.yihao.services.hasher;
    const verify = hasher.verify;
    let checks = 0;
    hasher.verify = (hash, password) => (checks++, verify(hash, password));
    try {
      const results = await Promise.all(Array.from({ length: 12 }, () => h.yihao.accounts.verifyPassword(c.citizenId, 'wrong password')));
      expect(checks).toBe(5);
      expect(results.some((r) => r.ok)).toBe(false);
      expect(results.filter((r) => !r.ok && r.reason === 'locked' && r.lockedNow)).toHaveLength(1);
      // Locked: even the right password is not checked.
      expect(await h.yihao.accounts.verifyPassword(c.citizenId, c.password)).toMatchObject({ ok: false, reason: 'locked', sub: c.sub });
      expect(checks).toBe(5);
    } finally {
      hasher.verify = verify;
    }
  });
});

describe.skipIf(!withRedis)('lockout across two instances sharing PostgreSQL + Redis', () => {
  let a: Harness;
  let b: Harness;
  let logins: ReturnType<typeof loginAttempts>;

  beforeAll(async () => {
    a = await startHarness({ backend: 'postgres+redis' });
    b = await startHarness({ share: a });
    logins = loginAttempts(a);
    await logins.setup();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('locks an account on both instances when the failures are spread over them', async () => {
    const [c, other] = [await a.citizen(), await a.citizen()];
    for (let i = 0; i < 3; i++) expect((await logins.attempt(a, c.citizenId, 'wrong password')).status).toBe(401);
    expect((await logins.attempt(b, c.citizenId, 'wrong password')).status).toBe(401);
    const fifth = await logins.attempt(b, c.citizenId, 'wrong password');
    expect([fifth.status, fifth.message]).toEqual([423, expect.stringMatching(LOCKED_EN)]);

    expect((await logins.attempt(a, c.citizenId, c.password)).status).toBe(423);
    expect((await logins.attempt(b, c.citizenId, c.password)).status).toBe(423);
    // Another account on the same instances is not affected.
    expect((await logins.attempt(a, other.citizenId, other.password)).status).toBe(303);
    expect((await logins.attempt(b, other.citizenId, other.password)).status).toBe(303);

    // An operator's unlock on one instance holds on the other.
    await a.yihao.accounts.lockout.unlock(await accountId(a, c.sub));
    expect((await logins.attempt(b, c.citizenId, c.password)).status).toBe(303);
  });
});

/** The same behaviour from every store; `open` gives a harness (for real accounts: SQL rows reference them) and a store. */
function lockoutContract(name: string, enabled: boolean, open: () => Promise<{ h: Harness; store: (p: LockoutPolicy) => LockoutStore }>) {
  describe.skipIf(!enabled)(`lockout store contract (${name})`, () => {
    let h: Harness;
    let store: (p: LockoutPolicy) => LockoutStore;
    beforeAll(async () => {
      ({ h, store } = await open());
    });
    afterAll(async () => h?.close());

    const service = (p: Partial<LockoutPolicy> = {}): Lockout => {
      const policy = { maxFailures: 3, windowSeconds: 60, lockSeconds: 1, ...p };
      return lockoutService(store(policy), policy);
    };
    const account = async (): Promise<string> => accountId(h, (await h.citizen()).sub);
    const fail = async (l: Lockout, id: string) => {
      const gate = await l.beginAttempt(id);
      return gate.locked ? gate : l.recordFailure(id);
    };

    it('locks on the maxFailures-th failure, once, and refuses attempts without counting them', async () => {
      const l = service();
      const id = await account();
      expect(await fail(l, id)).toEqual({ locked: false });
      expect(await fail(l, id)).toEqual({ locked: false });
      const third = await fail(l, id);
      expect(third).toMatchObject({ locked: true, lockedNow: true });
      const until = third.locked ? third.until.getTime() : 0;
      expect(until).toBeGreaterThan(Date.now() + 500);
      expect(until).toBeLessThanOrEqual(Date.now() + 1_000);
      expect(await l.beginAttempt(id)).toMatchObject({ locked: true, lockedNow: false });
      expect(await l.recordFailure(id)).toMatchObject({ locked: true, lockedNow: false });
      expect(await l.isLocked(id)).toMatchObject({ locked: true });

      await sleep(1_100);
      expect(await l.isLocked(id)).toEqual({ locked: false });
      // Refused attempts did not count: the budget after the lock is whole again.
      expect(await fail(l, id)).toEqual({ locked: false });
      expect(await fail(l, id)).toEqual({ locked: false });
      expect(await fail(l, id)).toMatchObject({ locked: true, lockedNow: true });
    });

    it('clears the count on success', async () => {
      const l = service();
      const id = await account();
      await fail(l, id);
      await fail(l, id);
      expect(await l.beginAttempt(id)).toEqual({ locked: false });
      await l.recordSuccess(id);
      await fail(l, id);
      expect(await fail(l, id)).toEqual({ locked: false });
    });

    it('starts a fresh window when the last one is over', async () => {
      const l = service({ windowSeconds: 1, lockSeconds: 60 });
      const id = await account();
      await fail(l, id);
      await fail(l, id);
      await sleep(1_100);
      expect(await fail(l, id)).toEqual({ locked: false });
      expect(await fail(l, id)).toEqual({ locked: false });
    });

    it('admits exactly maxFailures of many parallel attempts, and locks once', async () => {
      const l = service({ lockSeconds: 60 });
      const id = await account();
      const gates = await Promise.all(Array.from({ length: 20 }, () => l.beginAttempt(id)));
      expect(gates.filter((g) => !g.locked)).toHaveLength(3);
      const failures = await Promise.all(gates.filter((g) => !g.locked).map(() => l.recordFailure(id)));
      expect(failures.filter((f) => f.locked && f.lockedNow)).toHaveLength(1);
      expect(failures.every((f) => f.locked)).toBe(true);
    });

    it('unlocks at once, and keeps each account to itself', async () => {
      const l = service({ lockSeconds: 60 });
      const [id, other] = [await account(), await account()];
      for (let i = 0; i < 3; i++) await fail(l, id);
      expect(await l.isLocked(id)).toMatchObject({ locked: true });
      expect(await l.beginAttempt(other)).toEqual({ locked: false });
      expect(await l.isLocked(other)).toEqual({ locked: false });
      await l.unlock(id);
      expect(await l.isLocked(id)).toEqual({ locked: false });
      expect(await fail(l, id)).toEqual({ locked: false });
    });
  });
}

lockoutContract('SQLite', true, async () => {
  const h = await startHarness();
  return { h, store: (p) => sqlLockoutStore(h.yihao.stores.db, p) };
});
lockoutContract('PostgreSQL', pgAvailable && redisAvailable, async () => {
  const h = await startHarness({ backend: 'postgres+redis' });
  return { h, store: (p) => sqlLockoutStore(h.yihao.stores.db, p) };
});
lockoutContract('Redis', pgAvailable && redisAvailable, async () => {
  const h = await startHarness({ backend: 'postgres+redis' });
  return { h, store: (p) => redisLockoutStore(h.yihao.stores.redis!, `${h.env.YIHAO_REDIS_PREFIX}contract:`, p) };
});
