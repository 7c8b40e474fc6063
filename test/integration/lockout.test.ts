import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { lockoutService, sitePolicyOf, SITE_DISTRIBUTED, type DistributedLockoutPolicy, type Lockout, type LockoutPolicy, type LockoutStore } from '../../src/accounts/index.js';
import { redisLockoutStore } from '../../src/accounts/lockout-redis.js';
import { sqlLockoutStore } from '../../src/accounts/lockout-sql.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const withRedis = pgAvailable && redisAvailable;


const accountId = async (h: Harness, sub: string) => (await h.yihao.accounts.findBySub(sub))!.id;

/** Counts the password checks that sign-ins run (each takes a place in the argon2 queue, then verifies in it). */
function countingChecks(h: Harness) {
  const hasher = h.yihao.services.hasher;
  const reserve = hasher.reserve;
  let n = 0;
  hasher.reserve = () => {
    const place = reserve();
    return { ...place, verify: (hash: string, password: string) => (n++, place.verify(hash, password)) };
  };
  return { hasher, counted: reserve, checks: () => n };
}

/** Sign-in attempts through the login page of one instance (`instance.url`, which may differ from the issuer), from a given client address. */
function loginAttempts(issuer: Harness) {
  let rp: oidc.Configuration;
  const answer = async (res: Response) => ({ status: res.status, message: /role="alert"[^>]*>([^<]+)</.exec(await res.text())?.[1], retryAfter: res.headers.get('retry-after') });
  /** A login form (one interaction) on `instance`, posted to as often as wanted. */
  async function form(instance: Harness, locale = 'en') {
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
    return {
      post: async (identifier: string, password: string, ip?: string) =>
        answer(await browser.request(here(action), { form: { csrf, identifier, password }, headers: ip ? { 'x-forwarded-for': ip } : {} })),
    };
  }
  return {
    async setup() {
      rp = await relyingParty(issuer, await issuer.client({ redirectUris: [REDIRECT] }));
    },
    form,
    async attempt(instance: Harness, identifier: string, password: string, locale = 'en', ip?: string): Promise<{ status: number; message: string | undefined; retryAfter: string | null }> {
      return (await form(instance, locale)).post(identifier, password, ip);
    },
  };
}

const USUAL = '203.0.113.10';
const STRANGER = '198.51.100.66';
/** 50 addresses of a stranger's botnet. */
const BOTNET = Array.from({ length: 50 }, (_, i) => `192.0.2.${i + 1}`);
const TOO_MANY_EN = /^Too many failed sign-in attempts\. Wait \d+ (seconds?|minutes?) and try again\.$/;

/** A stranger's guesses through one login form (one interaction), each from the given address. */
async function guess(h: Harness, logins: ReturnType<typeof loginAttempts>, identifier: string, ips: readonly string[], perIp: number, parallel = 8) {
  const answers: { status: number; message: string | undefined; retryAfter: string | null }[] = [];
  const queue = ips.flatMap((ip) => Array.from({ length: perIp }, () => ip));
  const form = await logins.form(h);
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let ip = queue.shift(); ip; ip = queue.shift()) answers.push(await form.post(identifier, `wrong ${answers.length}`, ip));
    }),
  );
  return answers;
}

describe('guessing on the web login is slowed per (account, address), never a lock-out weapon (SQLite, behind a trusted proxy)', () => {
  let h: Harness;
  let logins: ReturnType<typeof loginAttempts>;

  beforeAll(async () => {
    h = await startHarness({
      overrides: (c) => ({ ...c, trustProxy: true, lockout: { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 }, distributedLockout: { maxFailures: 100, windowSeconds: 3600, familiarSeconds: 86_400 } }),
    });
    logins = loginAttempts(h);
    await logins.setup();
  });
  afterAll(async () => h?.close());

  it("lets the citizen in with the password from its usual address after a stranger's 1,000 wrong guesses from one address", async () => {
    const c = await h.citizen();
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', USUAL)).status).toBe(303);
    const { hasher, counted: reserve, checks } = countingChecks(h);
    let answers;
    try {
      answers = await guess(h, logins, c.citizenId, [STRANGER], 1_000);
    } finally {
      hasher.reserve = reserve;
    }
    // The first maxFailures guesses are checked; after that each waits twice as long as the last
    // (1 s, 2 s, 4 s, ...), so the ~15 s this loop takes buys a few more checks, not 1,000.
    expect(checks()).toBeLessThanOrEqual(10);
    expect(answers.filter((a) => a.status === 401).length).toBe(checks());
    const slowed = answers.filter((a) => a.status === 429);
    expect(slowed.length).toBeGreaterThan(990);
    expect(slowed[0]!.message).toMatch(TOO_MANY_EN);
    expect(Number(slowed[0]!.retryAfter)).toBeGreaterThan(0);

    expect((await logins.attempt(h, c.citizenId, c.password, 'en', USUAL)).status).toBe(303);
    // From another network the citizen is not held back either: one stranger is not a distributed attack.
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', '203.0.113.99')).status).toBe(303);
    // The stranger's own address stays slowed, even with the right password. The current wait may
    // just have run out (the loop's length is the machine's), so one more wrong guess first: it is
    // either refused in the wait or checked, and a checked one starts a longer wait.
    expect([401, 429]).toContain((await logins.attempt(h, c.citizenId, 'another wrong password', 'en', STRANGER)).status);
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', STRANGER)).status).toBe(429);
  }, 120_000);

  it("lets the citizen in with the password from its usual address after 1,000 wrong guesses from 50 addresses, and locks only unfamiliar ones", async () => {
    const c = await h.citizen();
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', USUAL)).status).toBe(303);
    const answers = await guess(h, logins, c.citizenId, BOTNET, 20);
    expect(answers).toHaveLength(1_000);
    expect(answers.filter((a) => a.status === 401).length).toBeLessThanOrEqual(101);
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', USUAL)).status).toBe(303);
    // A network the account never signed in from waits out the distributed attack (passkeys, device keys and the kiosk still work).
    const elsewhere = await logins.attempt(h, c.citizenId, c.password, 'en', '203.0.113.77');
    expect([elsewhere.status, elsewhere.message]).toEqual([429, expect.stringMatching(TOO_MANY_EN)]);
    const actions = (await h.yihao.services.audit.forAccount(c.sub)).map((e) => e.action);
    expect(actions.filter((a) => a === 'account.locked')).toHaveLength(1);

    // An operator can lift the distributed lock at once.
    const id = await accountId(h, c.sub);
    expect(await h.yihao.accounts.lockout.isLocked(id)).toMatchObject({ locked: true });
    await h.yihao.accounts.lockout.unlock(id);
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', '203.0.113.77')).status).toBe(303);
  }, 120_000);

  it('answers a guesser alike whether or not an account has the ID number or mobile number', { timeout: 120_000 }, async () => {
    const c = await h.citizen({ phone: '13912345670' });
    const unknownId = syntheticCitizenId();
    const seen = async (identifier: string, ip: string) =>
      (await guess(h, logins, identifier, [ip], 9, 1)).map((a) => [a.status, a.message?.replace(/\d+/, 'N'), a.retryAfter === null]);
    const known = await seen(c.citizenId, '198.51.100.1');
    expect(await seen(unknownId, '198.51.100.2')).toEqual(known);
    expect(await seen('13912345670', '198.51.100.3')).toEqual(await seen('13912345679', '198.51.100.4'));
    expect(known.map((k) => k[0])).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429]);

    // And under a distributed attack: the same lock, the same answers.
    const other = await h.citizen();
    const spread = async (identifier: string, prefix: string) => {
      await guess(h, logins, identifier, Array.from({ length: 25 }, (_, i) => `${prefix}.${i + 1}`), 5);
      return (await guess(h, logins, identifier, [`${prefix}.200`], 2, 1)).map((a) => [a.status, a.message?.replace(/\d+/, 'N')]);
    };
    expect(await spread(other.citizenId, '10.1.1')).toEqual(await spread(syntheticCitizenId(), '10.1.2'));
  });

  it('gives a burst of parallel guesses from one address no more than maxFailures password checks', async () => {
    const c = await h.citizen();
    const { hasher, counted: reserve, checks } = countingChecks(h);
    try {
      const results = await Promise.all(Array.from({ length: 12 }, () => h.yihao.accounts.verifyPassword(c.citizenId, 'wrong password', STRANGER)));
      expect(checks()).toBe(5);
      expect(results.some((r) => r.ok)).toBe(false);
      expect(await h.yihao.accounts.verifyPassword(c.citizenId, c.password, STRANGER)).toMatchObject({ ok: false, reason: 'throttled' });
      expect(checks()).toBe(5);
      expect(await h.yihao.accounts.verifyPassword(c.citizenId, c.password, USUAL)).toMatchObject({ ok: true });
    } finally {
      hasher.reserve = reserve;
    }
  });

  it('forgets the failures from an address after a success from it', async () => {
    const c = await h.citizen();
    for (let i = 0; i < 4; i++) expect((await logins.attempt(h, c.citizenId, 'wrong password', 'en', STRANGER)).status).toBe(401);
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', STRANGER)).status).toBe(303);
    for (let i = 0; i < 4; i++) expect((await logins.attempt(h, c.citizenId, 'wrong password', 'en', STRANGER)).status).toBe(401);
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', STRANGER)).status).toBe(303);
  });

  it('counts per account, whichever identifier is used', async () => {
    const c = await h.citizen({ phone: '13912345678' });
    for (let i = 0; i < 3; i++) expect((await logins.attempt(h, c.citizenId, 'wrong password', 'en', STRANGER)).status).toBe(401);
    expect((await logins.attempt(h, '13912345678', 'wrong password', 'en', STRANGER)).status).toBe(401);
    expect((await logins.attempt(h, '139 1234 5678', 'wrong password', 'en', STRANGER)).status).toBe(401);
    expect((await logins.attempt(h, c.citizenId, c.password, 'en', STRANGER)).status).toBe(429);
  });
});

describe.skipIf(!withRedis)('guessing throttle across two instances sharing PostgreSQL + Redis', () => {
  let a: Harness;
  let b: Harness;
  let logins: ReturnType<typeof loginAttempts>;
  const trusted = (c: Config): Config => ({ ...c, trustProxy: true, distributedLockout: { maxFailures: 10, windowSeconds: 3600, familiarSeconds: 86_400 } });

  beforeAll(async () => {
    a = await startHarness({ backend: 'postgres+redis', overrides: trusted });
    b = await startHarness({ share: a, overrides: trusted });
    logins = loginAttempts(a);
    await logins.setup();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('slows one address on both instances when its guesses are spread over them, and leaves the citizen alone', async () => {
    const c = await a.citizen();
    for (let i = 0; i < 3; i++) expect((await logins.attempt(a, c.citizenId, 'wrong password', 'en', STRANGER)).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await logins.attempt(b, c.citizenId, 'wrong password', 'en', STRANGER)).status).toBe(401);
    expect((await logins.attempt(a, c.citizenId, c.password, 'en', STRANGER)).status).toBe(429);
    expect((await logins.attempt(b, c.citizenId, c.password, 'en', STRANGER)).status).toBe(429);
    expect((await logins.attempt(b, c.citizenId, c.password, 'en', USUAL)).status).toBe(303);
  });

  it('locks to unfamiliar addresses on both instances after a distributed attack; an unlock on one holds on the other', async () => {
    const c = await a.citizen();
    expect((await logins.attempt(a, c.citizenId, c.password, 'en', USUAL)).status).toBe(303);
    for (let i = 0; i < 10; i++) await logins.attempt(i % 2 ? a : b, c.citizenId, 'wrong password', 'en', `192.0.2.${i + 1}`);
    expect((await logins.attempt(b, c.citizenId, c.password, 'en', '203.0.113.77')).status).toBe(429);
    expect((await logins.attempt(a, c.citizenId, c.password, 'en', USUAL)).status).toBe(303);
    await a.yihao.accounts.lockout.unlock(await accountId(a, c.sub));
    expect((await logins.attempt(b, c.citizenId, c.password, 'en', '203.0.113.77')).status).toBe(303);
  });
});

/** The same behaviour from every store. */
function lockoutContract(name: string, enabled: boolean, open: () => Promise<{ h: Harness; store: (p: LockoutPolicy, d: DistributedLockoutPolicy) => LockoutStore }>) {
  describe.skipIf(!enabled)(`lockout store contract (${name})`, () => {
    let h: Harness;
    let store: (p: LockoutPolicy, d: DistributedLockoutPolicy) => LockoutStore;
    beforeAll(async () => {
      ({ h, store } = await open());
    });
    afterAll(async () => h?.close());

    const service = (p: Partial<LockoutPolicy> = {}, d: Partial<DistributedLockoutPolicy> = {}): Lockout => {
      const policy = { maxFailures: 3, windowSeconds: 60, lockSeconds: 4, ...p };
      const distributed = { maxFailures: 10, windowSeconds: 60, familiarSeconds: 60, ...d };
      return lockoutService(store(policy, distributed), policy, distributed);
    };
    let n = 0;
    const subject = () => `s_${name}_${Date.now()}_${n++}`;
    const fail = async (l: Lockout, s: string, ip = '10.0.0.1') => {
      const gate = await l.beginAttempt(s, ip);
      return gate.locked ? gate : gate.ifFailed;
    };

    it('answers maxFailures failures from one address at once, then makes it wait, doubling, without counting refusals', async () => {
      const l = service();
      const s = subject();
      expect(await fail(l, s)).toEqual({ locked: false });
      expect(await fail(l, s)).toEqual({ locked: false });
      const third = await fail(l, s);
      expect(third).toMatchObject({ locked: true, lockedNow: false });
      const wait = third.locked ? third.until.getTime() - Date.now() : 0;
      expect(wait).toBeGreaterThan(500);
      expect(wait).toBeLessThanOrEqual(1_000);
      expect(await l.beginAttempt(s, '10.0.0.1')).toMatchObject({ locked: true });
      // Another address is not held back.
      expect(await l.beginAttempt(s, '10.0.0.2')).toMatchObject({ locked: false });
      await sleep(1_100);
      const fourth = await fail(l, s);
      expect(fourth.locked && fourth.until.getTime() - Date.now()).toBeGreaterThan(1_500);
    });

    it('forgets an address\'s failures on success', async () => {
      const l = service();
      const s = subject();
      await fail(l, s);
      await fail(l, s);
      expect(await l.beginAttempt(s, '10.0.0.1')).toMatchObject({ locked: false });
      await l.recordSuccess(s, '10.0.0.1');
      expect(await fail(l, s)).toEqual({ locked: false });
      expect(await fail(l, s)).toEqual({ locked: false });
    });

    it('admits exactly maxFailures of many parallel attempts from one address', async () => {
      const l = service();
      const s = subject();
      const gates = await Promise.all(Array.from({ length: 20 }, () => l.beginAttempt(s, '10.0.0.1')));
      expect(gates.filter((g) => !g.locked)).toHaveLength(3);
    });

    it('counts the addresses of one IPv6 /64 as one: a guesser rotating through theirs, and a citizen whose address changes', async () => {
      const l = service();
      const s = subject();
      // The citizen signs in from their home /64 (phones and PCs take a new address in it daily).
      await l.beginAttempt(s, '2001:db8:1:1::5');
      await l.recordSuccess(s, '2001:db8:1:1::5');
      // A guesser with a /64 of their own gets maxFailures checks, then waits, whichever address.
      const guesses = [];
      for (let i = 1; i <= 4; i++) guesses.push(await fail(l, s, `2001:db8:666:1::${i}`));
      expect(guesses.slice(0, 2)).toEqual([{ locked: false }, { locked: false }]);
      expect(guesses[2]).toMatchObject({ locked: true });
      expect(guesses[3]).toMatchObject({ locked: true });
      // Guesses from many /64s lock the account to unfamiliar ones...
      for (let i = 0; i < 10; i++) await fail(l, s, `2001:db8:${(0x100 + i).toString(16)}::1`);
      expect(await l.isLocked(s)).toMatchObject({ locked: true });
      expect(await l.beginAttempt(s, '2001:db8:200::1')).toMatchObject({ locked: true });
      // ...but not the citizen, at a new address of their own /64.
      expect(await l.beginAttempt(s, '2001:db8:1:1:abcd::42')).toMatchObject({ locked: false });
    });

    // The site rule (accounts/lockout.ts SITE_FACTOR): a /48's /64s share 4 x maxFailures at a subject.
    const sitePolicy = { maxFailures: 3, windowSeconds: 60, lockSeconds: 4 };
    const siteDistributed = { maxFailures: 30, windowSeconds: 60, familiarSeconds: 60 };
    const siteService = () => lockoutService(store(sitePolicy, siteDistributed), sitePolicy, siteDistributed, store(sitePolicyOf(sitePolicy), SITE_DISTRIBUTED));

    it("counts a /48's many /64s against one budget of their own, so that one machine cannot set off the distributed lock alone, and leaves a familiar /64 in it alone", async () => {
      const l = siteService();
      const s = subject();
      // The citizen's phone has signed in from a /64 of the same /48 (one carrier's pool).
      await l.beginAttempt(s, '2001:db8:abcd:ff::7');
      await l.recordSuccess(s, '2001:db8:abcd:ff::7');
      // One stranger, one /56 of that /48: a wrong guess from each of 40 of its /64s.
      const gates = [];
      for (let i = 0; i < 40; i++) gates.push(await l.beginAttempt(s, `2001:db8:abcd:ab${i.toString(16).padStart(2, '0')}::1`));
      const admitted = gates.filter((g) => !g.locked).length;
      // The site's budget: the citizen's own sign-in there counted, and its success gave it back.
      expect(admitted).toBe(sitePolicyOf(sitePolicy).maxFailures);
      expect(await l.isLocked(s)).toEqual({ locked: false });
      // The citizen, from a network they never used, and from their familiar /64 in the same /48.
      expect(await l.beginAttempt(s, '198.51.100.200')).toMatchObject({ locked: false });
      expect(await l.beginAttempt(s, '2001:db8:abcd:ff::8')).toMatchObject({ locked: false });
      // Another site is not held back; an unlock forgets the site's count too.
      expect(await l.beginAttempt(s, '2001:db8:beef:1::1')).toMatchObject({ locked: false });
      await l.unlock(s);
      expect(await l.beginAttempt(s, '2001:db8:abcd:ab99::1')).toMatchObject({ locked: false });
    });

    it("admits no more than the site's budget when 40 /64s of one /48 guess at once (found by a review: a read-then-count site let them all through)", async () => {
      const l = siteService();
      const s = subject();
      const gates = await Promise.all(Array.from({ length: 40 }, (_, i) => l.beginAttempt(s, `2001:db8:abce:ab${i.toString(16).padStart(2, '0')}::1`)));
      const admitted = gates.filter((g) => !g.locked).length;
      expect({ admitted, locked: (await l.isLocked(s)).locked }).toEqual({ admitted: sitePolicyOf(sitePolicy).maxFailures, locked: false });
    });

    it('counts at the site only attempts their /64 let through (found by a review: a first version counted refused ones)', async () => {
      const l = siteService();
      const s = subject();
      let checked = 0;
      for (let i = 0; i < sitePolicyOf(sitePolicy).maxFailures + 1; i++) if (!(await l.beginAttempt(s, '2001:db8:600:1::66')).locked) checked++;
      expect(checked).toBe(sitePolicy.maxFailures);
      expect(await l.beginAttempt(s, '2001:db8:600:2::1')).toMatchObject({ locked: false });
    });

    it('gives the site back what a success counted (found by a review: the citizen spent their own /48)', async () => {
      const l = siteService();
      const s = subject();
      for (let i = 0; i < sitePolicyOf(sitePolicy).maxFailures + 1; i++) {
        expect(await l.beginAttempt(s, '2001:db8:601:1::5')).toMatchObject({ locked: false });
        await l.recordSuccess(s, '2001:db8:601:1::5');
      }
      expect(await l.beginAttempt(s, '2001:db8:601:2::5')).toMatchObject({ locked: false });
    });

    it('knows the addresses the subject signed in from lately (its /64 for IPv6), without counting anything', async () => {
      const l = service({}, { familiarSeconds: 1 });
      const s = subject();
      expect(await l.isFamiliar(s, '10.7.7.7')).toBe(false);
      await l.beginAttempt(s, '10.7.7.7');
      expect(await l.isFamiliar(s, '10.7.7.7')).toBe(false);
      await l.recordSuccess(s, '10.7.7.7');
      await l.beginAttempt(s, '2001:db8:7:7::1');
      await l.recordSuccess(s, '2001:db8:7:7::1');
      expect(await l.isFamiliar(s, '10.7.7.7')).toBe(true);
      expect(await l.isFamiliar(s, '2001:db8:7:7:abcd::2')).toBe(true);
      expect(await l.isFamiliar(s, '10.7.7.8')).toBe(false);
      expect(await l.isFamiliar(subject(), '10.7.7.7')).toBe(false);
      // Asking counted nothing: all three checks of the address are still there.
      for (let i = 0; i < 2; i++) expect(await fail(l, s, '10.7.7.8')).toEqual({ locked: false });
      await sleep(1_100);
      expect(await l.isFamiliar(s, '10.7.7.7')).toBe(false);
    });

    it('makes an address familiar on a sign-in that guessed nothing (a passkey, an upstream), leaving its counts alone', async () => {
      const l = service();
      const s = subject();
      expect(await fail(l, s, '10.8.8.8')).toEqual({ locked: false });
      await l.markFamiliar(s, '10.8.8.8');
      expect(await l.isFamiliar(s, '10.8.8.8')).toBe(true);
      expect(await l.isFamiliar(s, '10.8.8.9')).toBe(false);
      // The failure before it still counts: the third from the address waits.
      expect(await fail(l, s, '10.8.8.8')).toEqual({ locked: false });
      expect(await fail(l, s, '10.8.8.8')).toMatchObject({ locked: true });
    });

    it('locks the subject to unfamiliar addresses after distributed failures, once, and unlocks at once', async () => {
      const l = service();
      const s = subject();
      const other = subject();
      await l.beginAttempt(s, '10.9.9.9');
      await l.recordSuccess(s, '10.9.9.9');
      const results = [];
      for (let i = 0; i < 10; i++) results.push(await fail(l, s, `10.0.1.${i}`));
      expect(results.filter((r) => r.locked && r.lockedNow)).toHaveLength(1);
      expect(await l.isLocked(s)).toMatchObject({ locked: true });
      expect(await l.beginAttempt(s, '10.0.2.1')).toMatchObject({ locked: true });
      expect(await l.beginAttempt(s, '10.9.9.9')).toMatchObject({ locked: false });
      expect(await l.isLocked(other)).toEqual({ locked: false });
      await l.unlock(s);
      expect(await l.isLocked(s)).toEqual({ locked: false });
      expect(await l.beginAttempt(s, '10.0.1.1')).toMatchObject({ locked: false });
    });
  });
}

/** The SQL stores take the time as given: a whole day of guessing runs in a moment. */
function guessesPerDay(name: string, enabled: boolean, open: () => Promise<Harness>) {
  describe.skipIf(!enabled)(`a patient guesser under the default policy (${name})`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await open();
    });
    afterAll(async () => h?.close());

    it('gets about a hundred checked guesses a day from one address, retrying the moment each wait ends', async () => {
      const { lockout: policy, distributedLockout: distributed } = loadConfig({ NODE_ENV: 'test' });
      const store = sqlLockoutStore(h.yihao.stores.db, policy, distributed);
      const subject = `s_day_${name}_${Date.now()}`;
      const start = Date.now();
      let now = start;
      let checked = 0;
      while (now < start + 86_400_000) {
        const r = await store.begin(subject, '203.0.113.9', now);
        if ('refusedUntil' in r) now = Math.max(r.refusedUntil, now + 1);
        else {
          checked++;
          // A wrong guess; the next one as soon as it is let in (or a second later).
          now = Math.max(r.nextAt, now + 1_000);
        }
      }
      expect(checked).toBeGreaterThan(50);
      expect(checked).toBeLessThanOrEqual(130);
    }, 60_000);
  });
}
guessesPerDay('SQLite', true, () => startHarness());
guessesPerDay('PostgreSQL', pgAvailable && redisAvailable, () => startHarness({ backend: 'postgres+redis' }));

lockoutContract('SQLite', true, async () => {
  const h = await startHarness();
  return { h, store: (p, d) => sqlLockoutStore(h.yihao.stores.db, p, d) };
});
lockoutContract('PostgreSQL', pgAvailable && redisAvailable, async () => {
  const h = await startHarness({ backend: 'postgres+redis' });
  return { h, store: (p, d) => sqlLockoutStore(h.yihao.stores.db, p, d) };
});
lockoutContract('Redis', pgAvailable && redisAvailable, async () => {
  const h = await startHarness({ backend: 'postgres+redis' });
  return { h, store: (p, d) => redisLockoutStore(h.yihao.stores.redis!, `${h.env.YIHAO_REDIS_PREFIX}contract:`, p, d) };
});
