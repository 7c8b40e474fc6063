/**
 * Self-registration over plain HTTP (a cookie-keeping client, no JavaScript), against a real
 * Yihao whose population registry is a real HTTP server on 127.0.0.1 that the tests can make
 * answer, hang or talk nonsense. What it protects: nothing is half-created when the registry
 * fails, every POST needs its CSRF token, bad input is a 4xx with a message, and `return_to`
 * cannot send anyone off-site.
 */
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { refuseAuditEvents } from '../support/audit.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { startHarness, type Harness } from '../support/harness.js';
import { formField, ScriptedBrowser } from '../support/scripted-browser.js';

type RegistryMode = 'match' | 'mismatch' | 'unknown' | 'hang' | 'not_json' | 'wrong_shape' | 'html';

/**
 * A stand-in population registry: answers according to `mode`. Asked about a phone too, it answers
 * whether the number is registered in the person's name (`phonesInName`, kept per ID number).
 */
async function startRegistry() {
  const state = { mode: 'match' as RegistryMode, requests: 0, phonesInName: new Map<string, Set<string>>(), asked: [] as { phone?: string }[] };
  const checkedAt = '2026-01-02T03:04:05.000Z';
  const reply = (res: ServerResponse, body: string, type = 'application/json') => res.writeHead(200, { 'content-type': type }).end(body);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { citizen_id?: string; phone?: string };
      state.asked.push({ ...(body.phone === undefined ? {} : { phone: body.phone }) });
      switch (state.mode) {
        case 'hang':
          return; // never answers: the client's timeout must end it
        case 'not_json':
          return reply(res, 'definitely not json', 'text/plain');
        case 'wrong_shape':
          return reply(res, JSON.stringify({ result: 'yes', checked_at: 'yesterday' }));
        case 'html':
          return reply(res, '<html><body>Service temporarily unavailable</body></html>', 'text/html');
        case 'match': {
          const inName = body.phone !== undefined && (state.phonesInName.get(body.citizen_id ?? '')?.has(body.phone) ?? false);
          return reply(res, JSON.stringify({ result: 'match', checked_at: checkedAt, ...(body.phone === undefined ? {} : { phone_result: inName ? 'match' : 'mismatch' }) }));
        }
        default:
          return reply(res, JSON.stringify({ result: state.mode }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    state,
    checkedAt,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/verify`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

let phoneCounter = 0;
/** A mobile number no other test in this file uses. */
const freshPhone = () => `139${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

/** One citizen going through the pages the way a browser without JavaScript would. */
class Registrant {
  readonly browser = new ScriptedBrowser();
  csrf = '';
  /** Every URL requested and every Location received, to check that no ID number travels in one. */
  readonly urls: string[] = [];

  constructor(
    private readonly h: Harness,
    readonly query = '',
  ) {}

  async request(path: string, form?: Record<string, string>): Promise<{ status: number; html: string; res: Response }> {
    const url = new URL(path, this.h.url);
    this.urls.push(url.href);
    const res = await this.browser.request(url, form ? { form } : {});
    const location = res.headers.get('location');
    if (location) this.urls.push(location);
    const html = await res.text();
    const csrf = formField(html, 'csrf');
    if (csrf) this.csrf = csrf;
    return { status: res.status, html, res };
  }

  open() {
    return this.request(`/register${this.query}`);
  }

  start(details: { citizenId: string; name: string; phone: string }) {
    return this.request(`/register${this.query}`, { csrf: this.csrf, citizen_id: details.citizenId, name: details.name, phone: details.phone });
  }

  async code(phone: string): Promise<string> {
    const code = await latestOutboxCode(outboxPath(this.h.config.dataDir), phone, 'register');
    if (!code) throw new Error('no code in the outbox');
    return code;
  }

  finish(form: { code?: string; password: string; confirm?: string }) {
    return this.request(`/register/code${this.query}`, {
      csrf: this.csrf,
      ...(form.code === undefined ? {} : { code: form.code }),
      password: form.password,
      password_confirm: form.confirm ?? form.password,
    });
  }

  /** Opens the form, sends step 1 and follows to step 2; returns the phone's code. */
  async throughStepOne(details: { citizenId: string; name: string; phone: string }): Promise<string> {
    await this.open();
    const sent = await this.start(details);
    expect(sent.status, sent.html.slice(0, 500)).toBe(303);
    const step2 = await this.request(sent.res.headers.get('location')!);
    expect(step2.status).toBe(200);
    return this.code(details.phone);
  }
}

const PASSWORD = 'correct horse battery staple';

describe('self-registration over HTTP', () => {
  let h: Harness;
  let registry: Awaited<ReturnType<typeof startRegistry>>;

  beforeAll(async () => {
    registry = await startRegistry();
    h = await startHarness({
      overrides: (c: Config) => ({
        ...c,
        // The registry runs on loopback, an internal network this deployment allows.
        outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] },
        registry: { kind: 'http', endpoint: registry.endpoint, timeoutMs: 200, retries: 1, backoffMs: 10, phoneCheck: true },
        // Every request comes from 127.0.0.1: lift the per-IP limit so the suite does not trip it.
        sms: { ...c.sms, limits: { ...c.sms.limits, perIp: { max: 100, windowSeconds: 3600 } } },
      }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await registry?.close();
  });
  beforeEach(() => {
    registry.state.mode = 'match';
  });

  const db = () => h.yihao.stores.db;
  const accountCount = async () => Number((await db()('accounts').count({ n: '*' }).first())?.n);
  const auditActions = async () => (await db()('audit_events').select('action', 'details')) as { action: string; details: string | null }[];
  const registeredEvents = async () => (await auditActions()).filter((e) => e.action === 'account.registered').length;
  const pendingRows = async () => (await db()('oidc_models').where({ model: 'RegistrationPending' }).select('payload')) as { payload: string }[];
  /** A citizen with a phone registered in their own name (with its carrier), as the registry knows it. */
  const person = (name = '李雷') => {
    const who = { citizenId: syntheticCitizenId(), name, phone: freshPhone() };
    registry.state.phonesInName.set(who.citizenId, new Set([`+86${who.phone}`]));
    return who;
  };

  it('creates the account with assurance "registry" at the registry\'s check time, audits it, and forgets the pending step', async () => {
    const who = person();
    const r = new Registrant(h, '?ui_locales=en');
    const code = await r.throughStepOne(who);
    const stored = await pendingRows();
    expect(stored.length).toBeGreaterThan(0);
    // The pending step is sealed: neither the number, the name nor the phone is readable in the store.
    for (const row of stored) {
      expect(row.payload).not.toContain(who.citizenId);
      expect(row.payload).not.toContain(who.name);
      expect(row.payload).not.toContain(who.phone.slice(3));
    }

    const done = await r.finish({ code, password: PASSWORD });
    expect(done.status).toBe(200);
    expect(done.html).toContain('Account created');
    expect(done.html).toContain(`${who.citizenId.slice(0, 6)}********${who.citizenId.slice(14)}`);
    expect(done.html).not.toContain(who.citizenId);

    const check = await h.yihao.accounts.verifyPassword(who.citizenId, PASSWORD, '127.0.0.1');
    expect(check.ok).toBe(true);
    const account = check.ok ? check.account : undefined;
    expect(account?.assurance).toBe('registry');
    expect(account?.assuranceAt).toBe(Date.parse(registry.checkedAt));
    expect(account?.phone).toBe(`+86${who.phone}`);
    const registered = (await auditActions()).filter((e) => e.action === 'account.registered');
    expect(registered.some((e) => e.details?.includes('"assurance":"registry"'))).toBe(true);
    for (const e of await auditActions()) expect(e.details ?? '').not.toContain(who.citizenId);
    expect(await pendingRows()).toHaveLength(0);
    // The ID number travelled in no URL and no redirect.
    for (const url of r.urls) expect(url).not.toContain(who.citizenId);
  });

  it('a stranger who knows a citizen\'s name and ID number cannot register them with a phone of their own; the citizen then can', async () => {
    const citizen = person('韩梅梅');
    const strangersPhone = freshPhone();
    const before = await accountCount();
    const stranger = new Registrant(h, '?ui_locales=en');
    const code = await stranger.throughStepOne({ ...citizen, phone: strangersPhone });
    const refused = await stranger.finish({ code, password: 'the stranger\'s password' });
    // The registry was asked whether the phone is in the citizen's name, and said no.
    expect(registry.state.asked.at(-1)).toEqual({ phone: `+86${strangersPhone}` });
    expect(refused.status).toBe(422);
    expect(refused.html).toContain('This mobile number is not registered in your name');
    expect(refused.html).toMatch(/id="phone"[^>]*aria-invalid="true"/);
    expect(await accountCount()).toBe(before);
    expect((await h.yihao.accounts.verifyPassword(citizen.citizenId, 'the stranger\'s password', '127.0.0.1')).ok).toBe(false);
    const refusals = (await auditActions()).filter((e) => e.action === 'registration.refused');
    expect(refusals.at(-1)?.details).toContain('"reason":"phone_not_in_name"');
    expect(JSON.stringify(refusals)).not.toContain(strangersPhone);

    const own = new Registrant(h, '?ui_locales=en');
    const done = await own.finish({ code: await own.throughStepOne(citizen), password: PASSWORD });
    expect(done.html).toContain('Account created');
    expect((await h.yihao.accounts.verifyPassword(citizen.citizenId, PASSWORD, '127.0.0.1')).ok).toBe(true);
  });

  it('creates no account whose registration cannot be recorded in the audit log; the citizen then simply tries again', async () => {
    const who = person('林涛');
    const before = await accountCount();
    const allow = await refuseAuditEvents(db(), 'account.registered');
    const r = new Registrant(h, '?ui_locales=en');
    try {
      const failed = await r.finish({ code: await r.throughStepOne(who), password: PASSWORD });
      expect(failed.status).toBeGreaterThanOrEqual(500);
      expect(failed.html).not.toContain('Account created');
    } finally {
      await allow();
    }
    expect(await accountCount()).toBe(before);
    // The phone stays proven: the same step again, with no second code, goes through.
    expect((await r.finish({ password: PASSWORD })).html).toContain('Account created');
  });

  it('a registry that hangs: "try again later", no account and no registration audit; a retry once it recovers needs no second code', async () => {
    const who = person();
    const r = new Registrant(h, '?ui_locales=en');
    const code = await r.throughStepOne(who);
    const before = await accountCount();
    const registeredBefore = await registeredEvents();
    const requestsBefore = registry.state.requests;

    registry.state.mode = 'hang';
    const started = Date.now();
    const failed = await r.finish({ code, password: PASSWORD });
    expect(failed.status).toBe(503);
    expect(failed.res.headers.get('retry-after')).toBeTruthy();
    expect(failed.html).toContain('The population registry cannot be reached. Please try again later.');
    expect(registry.state.requests - requestsBefore).toBe(2); // one attempt and one retry
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await accountCount()).toBe(before);
    expect((await h.yihao.accounts.verifyPassword(who.citizenId, PASSWORD, '127.0.0.1')).ok).toBe(false);
    expect(await registeredEvents()).toBe(registeredBefore);
    // The phone is proven: the retry page asks only for the password again.
    expect(failed.html).not.toContain('name="code"');

    registry.state.mode = 'match';
    const retried = await r.finish({ password: PASSWORD });
    expect(retried.status).toBe(200);
    expect(await accountCount()).toBe(before + 1);
  });

  it('a registry that keeps failing: after 5 outages the flow ends, still with "try again later" and no account', async () => {
    const who = person();
    const r = new Registrant(h, '?ui_locales=en');
    const code = await r.throughStepOne(who);
    registry.state.mode = 'not_json';
    for (let i = 1; i <= 5; i++) {
      const failed = await r.finish(i === 1 ? { code, password: PASSWORD } : { password: PASSWORD });
      expect(failed.status).toBe(503);
      expect(failed.html).toContain('The population registry cannot be reached. Please try again later.');
      expect(failed.html.includes('name="password"')).toBe(i < 5);
    }
    registry.state.mode = 'match';
    const after = await r.finish({ password: PASSWORD });
    expect(after.status).toBe(400);
    expect(after.html).toContain('This page has expired');
    expect((await h.yihao.accounts.verifyPassword(who.citizenId, PASSWORD, '127.0.0.1')).ok).toBe(false);
  });

  it('a wrong code five times: the sixth try says "too many attempts, request a new code" (429), even with the right code', async () => {
    const who = person();
    const r = new Registrant(h, '?ui_locales=en');
    const code = await r.throughStepOne(who);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 5; i++) {
      const res = await r.finish({ code: wrong, password: PASSWORD });
      expect(res.status).toBe(400);
      expect(res.html).toContain('The code is not correct.');
    }
    const blocked = await r.finish({ code, password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(blocked.html).toContain('Too many wrong attempts. Please request a new code.');
    expect(blocked.html).toMatch(/id="code"[^>]*aria-invalid="true"/);
    expect((await h.yihao.accounts.verifyPassword(who.citizenId, PASSWORD, '127.0.0.1')).ok).toBe(false);
  });

  it.each(['not_json', 'wrong_shape', 'html'] as const)('a registry answering garbage (%s): "try again later" and no partial account', async (mode) => {
    const who = person();
    const r = new Registrant(h);
    const code = await r.throughStepOne(who);
    const before = await accountCount();
    const registeredBefore = await registeredEvents();
    const credentialsBefore = Number((await db()('credentials').count({ n: '*' }).first())?.n);
    registry.state.mode = mode;
    const failed = await r.finish({ code, password: PASSWORD });
    expect(failed.status).toBe(503);
    expect(failed.html).toContain('暂时无法连接人口信息库，请稍后再试。');
    expect(failed.html).toContain('role="alert"');
    expect(await accountCount()).toBe(before);
    expect(Number((await db()('credentials').count({ n: '*' }).first())?.n)).toBe(credentialsBefore);
    expect(await registeredEvents()).toBe(registeredBefore);
  });

  it.each(['mismatch', 'unknown'] as const)('a registry "%s": a clear 422 message, no account, and the flow starts over', async (mode) => {
    const who = person();
    const r = new Registrant(h, '?ui_locales=en');
    const code = await r.throughStepOne(who);
    const before = await accountCount();
    registry.state.mode = mode;
    const refused = await r.finish({ code, password: PASSWORD });
    expect(refused.status).toBe(422);
    expect(refused.html).toContain('The name and ID number do not match the population registry. No account was created.');
    // Back on step 1, filled in again for a correction (in the page, never in a URL).
    expect(refused.html).toContain(`value="${who.name}"`);
    expect(await accountCount()).toBe(before);
    const again = await r.finish({ code, password: PASSWORD });
    expect(again.status).toBe(400);
    expect(again.html).toContain('This page has expired');
  });

  it('a mobile number bound to another account: 409 after the code, on step 1 with the number marked', async () => {
    const phone = freshPhone();
    await h.citizen({ phone });
    const r = new Registrant(h, '?ui_locales=en');
    const who = { citizenId: syntheticCitizenId(), name: '韩梅梅', phone };
    registry.state.phonesInName.set(who.citizenId, new Set([`+86${phone}`]));
    const code = await r.throughStepOne(who);
    const before = await accountCount();
    const refused = await r.finish({ code, password: PASSWORD });
    expect(refused.status).toBe(409);
    expect(refused.html).toContain('This mobile number is already bound to another account.');
    expect(refused.html).toMatch(/id="phone"[^>]*aria-invalid="true"/);
    expect(await accountCount()).toBe(before);
  });

  describe('CSRF', () => {
    it('refuses step 1 without the token, with a wrong one, and without the flow cookie (403); nothing is sent', async () => {
      const who = person();
      const outbox = async () => latestOutboxCode(outboxPath(h.config.dataDir), who.phone, 'register');
      const r = new Registrant(h);
      await r.open();
      const form = { citizen_id: who.citizenId, name: who.name, phone: who.phone };
      expect((await r.request('/register', form)).status).toBe(403);
      expect((await r.request('/register', { ...form, csrf: 'x'.repeat(43) })).status).toBe(403);
      // A token from another browser's flow does not fit this one.
      const other = new Registrant(h);
      await other.open();
      expect((await r.request('/register', { ...form, csrf: other.csrf })).status).toBe(403);
      // No cookie at all (a cross-site form post from a page that never saw ours).
      const res = await fetch(new URL('/register', h.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...form, csrf: r.csrf }),
        redirect: 'manual',
      });
      expect(res.status).toBe(403);
      expect(await outbox()).toBeUndefined();
    });

    it('refuses step 2 and the resend without the token (403); no account', async () => {
      const who = person();
      const r = new Registrant(h);
      const code = await r.throughStepOne(who);
      const before = await accountCount();
      const noToken = await r.request('/register/code', { code, password: PASSWORD, password_confirm: PASSWORD });
      expect(noToken.status).toBe(403);
      expect(noToken.html).toContain('页面已过期');
      expect((await r.request('/register/resend', { resend: '1' })).status).toBe(403);
      expect(await accountCount()).toBe(before);
    });

    it('sets the flow cookie httpOnly, SameSite=Lax, scoped to /register, holding only a random id', async () => {
      const res = await fetch(new URL('/register', h.url));
      const cookies = res.headers.getSetCookie();
      const flow = cookies.find((c) => c.startsWith('yihao.registration='))!;
      expect(flow).toMatch(/httponly/i);
      expect(flow).toMatch(/samesite=lax/i);
      expect(flow).toMatch(/path=\/register/i);
      expect(flow).toMatch(/^yihao\.registration=[A-Za-z0-9_-]{32};/);
      expect(cookies.some((c) => c.startsWith('yihao.registration.sig='))).toBe(true);
    });
  });

  describe('bad input is a 4xx with a message, never a 500', () => {
    it.each([
      ['a 300-character name', { name: '张'.repeat(300) }, 'name', 'This entry is too long.'],
      ['a 65-character name', { name: '张'.repeat(65) }, 'name', 'The name must be at most 64 characters.'],
      ['a 10,000-character ID number', { citizen_id: '1'.repeat(10_000) }, 'citizen_id', 'This entry is too long.'],
      ['a wrong check character', { citizen_id: '440305199001010150' }, 'citizen_id', 'its last character does not match'],
      ['full-width digits', { citizen_id: '４４０３０５１９９００１０１０１５７' }, 'citizen_id', 'half-width'],
      ['a landline number', { phone: '01012345678' }, 'phone', 'Enter an 11-digit mainland China mobile number.'],
      ['a name with digits', { name: '张3' }, 'name', 'only letters'],
      ['an empty name', { name: '   ' }, 'name', 'Please fill in this field.'],
    ])('step 1 with %s: 400, the field marked', async (_what, bad, fieldName, message) => {
      const r = new Registrant(h, '?ui_locales=en');
      await r.open();
      const base = person();
      const form = { csrf: r.csrf, citizen_id: base.citizenId, name: base.name, phone: base.phone, ...bad };
      const res = await r.request('/register?ui_locales=en', form);
      expect(res.status).toBe(400);
      expect(res.html).toContain(message);
      expect(res.html).toMatch(new RegExp(`id="${fieldName}"[^>]*aria-invalid="true"`));
      expect(res.html).toMatch(new RegExp(`aria-describedby="[^"]*${fieldName}-error`));
      expect(res.html).toContain('role="alert"');
      // An oversized value is not echoed back.
      if ((Object.values(bad)[0] ?? '').length > 64) expect(res.html).not.toContain(Object.values(bad)[0]);
    });

    it.each([
      ['a 200-character password', { password: 'p'.repeat(200), confirm: 'p'.repeat(200) }, 'The password must be at most 128 characters.'],
      ['a 300-character password', { password: 'p'.repeat(300), confirm: 'p' }, 'This entry is too long.'],
      ['a short password', { password: 'short', confirm: 'short' }, 'The password needs at least 8 characters.'],
      ['a confirmation that differs', { password: PASSWORD, confirm: `${PASSWORD}!` }, 'The two passwords do not match.'],
      ['a code that is not 6 digits', { code: '12ab', password: PASSWORD }, 'Enter the 6-digit code from the text message.'],
      ['a 5,000-character code', { code: '1'.repeat(5000), password: PASSWORD }, 'This entry is too long.'],
    ])('step 2 with %s: 400, and the code is not spent', async (_what, bad, message) => {
      const who = person();
      const r = new Registrant(h, '?ui_locales=en');
      const code = await r.throughStepOne(who);
      const res = await r.finish({ code, ...bad });
      expect(res.status).toBe(400);
      expect(res.html).toContain(message);
      const ok = await r.finish({ code, password: PASSWORD });
      expect(ok.status).toBe(200);
    });

    it('a body over the size limit: 413 with a message', async () => {
      const r = new Registrant(h, '?ui_locales=en');
      await r.open();
      const res = await r.request('/register?ui_locales=en', { csrf: r.csrf, name: 'x'.repeat(h.config.limits.bodyMaxBytes + 10) });
      expect(res.status).toBe(413);
      expect(res.html).toContain('The form is too large.');
    });

    it('a JSON body instead of a form: 415, not a 500', async () => {
      const r = new Registrant(h);
      await r.open();
      const res = await r.browser.request(new URL('/register', h.url), { method: 'POST', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(415);
    });
  });

  describe('return_to', () => {
    it.each([
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      '/interaction/../../evil.example',
      '/interaction/abc/../../../evil.example',
      '/auth/..%2F..%2Fevil.example',
      'javascript:alert(1)',
      '/interaction/abc#@evil.example',
      '/account',
      ' /interaction/abc',
    ])('refuses %j with a 400 and links nowhere near it', async (target) => {
      const res = await fetch(new URL(`/register?return_to=${encodeURIComponent(target)}`, h.url), { redirect: 'manual' });
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toContain('返回地址不被允许');
      expect(html).not.toContain('evil');
      expect(res.headers.get('location')).toBeNull();
    });

    it('accepts an interaction path and an /auth request, and carries them through the steps to the success page', async () => {
      for (const target of ['/interaction/AbC-123_x', '/auth?client_id=abc&response_type=code&scope=openid']) {
        const res = await fetch(new URL(`/register?ui_locales=en&return_to=${encodeURIComponent(target)}`, h.url));
        expect(res.status).toBe(200);
        expect(await res.text()).toContain(`href="${target.replaceAll('&', '&amp;')}"`);
      }
      const who = person();
      const r = new Registrant(h, `?ui_locales=en&return_to=${encodeURIComponent('/interaction/AbC-123_x')}`);
      const code = await r.throughStepOne(who);
      const done = await r.finish({ code, password: PASSWORD });
      expect(done.status).toBe(200);
      expect(done.html).toContain('<a href="/interaction/AbC-123_x">Continue to sign in</a>');
    });
  });

  it('asking again within the resend interval: 429 with Retry-After and the wait in words', async () => {
    const who = person();
    const first = new Registrant(h, '?ui_locales=en');
    await first.throughStepOne(who);
    const second = new Registrant(h, '?ui_locales=en');
    await second.open();
    const res = await second.start({ ...who, citizenId: syntheticCitizenId() });
    expect(res.status).toBe(429);
    expect(Number(res.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.html).toMatch(/Please wait \d+ seconds before asking for another\./);
    const resent = await first.request('/register/resend?ui_locales=en', { csrf: first.csrf });
    expect(resent.status).toBe(429);
  });

  it('step 2 without a pending registration sends the browser back to step 1', async () => {
    const r = new Registrant(h, '?ui_locales=en');
    await r.open();
    const res = await r.request('/register/code?ui_locales=en');
    expect(res.status).toBe(303);
    expect(res.res.headers.get('location')).toBe('/register?ui_locales=en');
  });
});

describe('self-registration when the SMS gateway fails', () => {
  let h: Harness;
  let gateway: http.Server;

  beforeAll(async () => {
    gateway = http.createServer((req, res) => (req.resume(), res.writeHead(503).end()));
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/sms`;
    h = await startHarness({
      overrides: (c: Config) => ({ ...c, outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] }, sms: { ...c.sms, sender: { kind: 'webhook', url, timeoutMs: 500, retries: 0, backoffMs: 0 } } }),
    });
  });
  afterAll(async () => {
    await h?.close();
    gateway?.closeAllConnections();
    await new Promise<void>((resolve) => (gateway ? gateway.close(() => resolve()) : resolve()));
  });

  it('answers 503 "try again later" and keeps no pending registration', async () => {
    const r = new Registrant(h, '?ui_locales=en');
    await r.open();
    const res = await r.start({ citizenId: syntheticCitizenId(), name: '李雷', phone: freshPhone() });
    expect(res.status).toBe(503);
    expect(res.html).toContain('We cannot send text messages right now. Please try again later.');
    expect(await h.yihao.stores.db('oidc_models').where({ model: 'RegistrationPending' }).count({ n: '*' }).first()).toEqual({ n: 0 });
  });
});
