import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { YihaoError } from '../../src/errors.js';
import { createBlindIndex } from '../../src/identity/index.js';
import {
  DEFAULT_SMS_LIMITS,
  SMS_PURPOSES,
  SmsDeliveryError,
  createOtpService,
  createOtpStore,
  createOutboxSender,
  latestOutboxCode,
  type OtpService,
  type OtpStore,
  type SmsLimits,
  type SmsMessage,
  type SmsSender,
} from '../../src/sms/index.js';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import type { Redis } from 'ioredis';
import { openRedis } from '../../src/storage/redis.js';
import { PG_URL, REDIS_URL, createPgSchema, pgAvailable, redisAvailable, uniqueName } from '../support/services.js';

const INDEX_KEY = Buffer.alloc(32, 7).toString('base64');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Two server instances' worth of stores over one backend, plus a way to see everything stored. */
interface Backend {
  store: OtpStore;
  other: OtpStore;
  /** Every key and value the backend holds for SMS, as text, to look for leaks. */
  dump(): Promise<string[]>;
  close(): Promise<void>;
}

async function sqlBackend(open: () => Database, cleanup: () => Promise<void>): Promise<Backend> {
  const db = open();
  await migrate(db);
  const second = open();
  return {
    store: createOtpStore({ db }),
    other: createOtpStore({ db: second }),
    dump: async () => [...(await db('sms_codes')), ...(await db('sms_sends'))].flatMap((row: Record<string, unknown>) => Object.values(row).map(String)),
    async close() {
      await db.destroy();
      await second.destroy();
      await cleanup();
    },
  };
}

const backends: { name: string; enabled: boolean; open(): Promise<Backend> }[] = [
  {
    name: 'sqlite',
    enabled: true,
    async open() {
      const dataDir = await mkdtemp(join(tmpdir(), 'yihao-sms-otp-'));
      return sqlBackend(() => openDatabase({ dataDir }), () => rm(dataDir, { recursive: true, force: true }));
    },
  },
  {
    name: 'postgres',
    enabled: pgAvailable,
    async open() {
      const pg = await createPgSchema();
      return sqlBackend(() => openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: pg.schema, poolMax: 5 }), () => pg.drop());
    },
  },
  {
    name: 'redis',
    enabled: redisAvailable,
    async open() {
      const prefix = `${uniqueName('yihao_sms_test')}:`;
      // Each instance has its own connection, as two processes would.
      const a = openRedis(REDIS_URL);
      const b = openRedis(REDIS_URL);
      // createOtpStore is handed the SQL database too, as in the app; with Redis it never touches it.
      const dataDir = await mkdtemp(join(tmpdir(), 'yihao-sms-otp-'));
      const db = openDatabase({ dataDir });
      const keys = async (redis: Redis) => {
        const found: string[] = [];
        for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 200 }) as AsyncIterable<string[]>) found.push(...batch);
        return found;
      };
      return {
        store: createOtpStore({ db, redis: a, redisPrefix: prefix }),
        other: createOtpStore({ db, redis: b, redisPrefix: prefix }),
        async dump() {
          const out: string[] = [];
          for (const key of await keys(a)) {
            out.push(key, ...((await a.type(key)) === 'hash' ? Object.values(await a.hgetall(key)) : await a.zrange(key, 0, -1, 'WITHSCORES')));
          }
          return out;
        },
        async close() {
          const found = await keys(a);
          if (found.length) await a.del(...found);
          await a.quit();
          await b.quit();
          await db.destroy();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** Records messages instead of sending them; `code(to)` reads the latest code sent to a number. */
function recordingSender() {
  const sent: SmsMessage[] = [];
  return {
    sent,
    async send(message: SmsMessage) {
      sent.push(message);
    },
    code(to: string, purpose?: string): string {
      const m = sent.filter((s) => s.to === to && (purpose === undefined || s.purpose === purpose)).at(-1);
      const code = m && /\d{6}/.exec(m.text)?.[0];
      if (!code) throw new Error(`no code was sent to ${to}`);
      return code;
    },
  };
}

// Every test uses its own number and IP, so tests sharing a backend do not meet in the throttles.
const newPhone = () => `+86139${String(randomInt(100_000_000)).padStart(8, '0')}`;
const newIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(256)}`;
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe.each(backends)('SMS one-time codes ($name)', ({ enabled, open }) => {
  let backend: Backend;
  beforeAll(async () => {
    if (enabled) backend = await open();
  });
  afterAll(async () => backend?.close());

  /** A service with its own clock (starting now) and sender, over the first (or the other) store. */
  function service(options: { limits?: Partial<SmsLimits>; store?: OtpStore; sender?: SmsSender; clock?: { t: number }; random?: (max: number) => number } = {}) {
    const clock = options.clock ?? { t: Date.now() };
    const sender = recordingSender();
    const otp: OtpService = createOtpService({
      store: options.store ?? backend.store,
      sender: options.sender ?? sender,
      keyed: createBlindIndex(INDEX_KEY),
      limits: { ...DEFAULT_SMS_LIMITS, ...options.limits },
      now: () => clock.t,
      ...(options.random ? { random: options.random } : {}),
    });
    return { otp, sender, clock, advance: (ms: number) => void (clock.t += ms) };
  }

  describe.skipIf(!enabled)('rules', () => {
    it('sends a 6-digit code in a zh-CN text that verifies once', async () => {
      const { otp, sender, clock } = service();
      const phone = newPhone();
      const issued = await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      expect(issued).toEqual({ ok: true, expiresAt: clock.t + 5 * MINUTE, resendAfterSeconds: 60 });
      expect(sender.sent).toHaveLength(1);
      expect(sender.sent[0]).toMatchObject({ to: phone, purpose: 'register' });
      expect(sender.sent[0]!.text).toMatch(/^【一号】验证码 \d{6}，用于注册一号账号，5 分钟内有效。请勿告诉他人。$/);
      const code = sender.code(phone);
      expect(await otp.verify({ phone, purpose: 'register', code })).toBe('ok');
      expect(await otp.verify({ phone, purpose: 'register', code })).toBe('invalid');
    });

    it('accepts any spelling of the number and full-width digits', async () => {
      const { otp, sender } = service();
      const phone = newPhone();
      await otp.issue({ phone: phone.slice(3), purpose: 'login', clientIp: newIp() });
      const code = sender.code(phone);
      const fullWidth = [...code].map((d) => String.fromCharCode(0xff10 + Number(d))).join('');
      expect(await otp.verify({ phone: `+86 ${phone.slice(3, 6)} ${phone.slice(6)}`, purpose: 'login', code: ` ${fullWidth} ` })).toBe('ok');
    });

    it('says invalid for a wrong code and still accepts the right one afterwards', async () => {
      const { otp, sender } = service();
      const phone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      const code = sender.code(phone);
      expect(await otp.verify({ phone, purpose: 'register', code: wrong(code) })).toBe('invalid');
      expect(await otp.verify({ phone, purpose: 'register', code })).toBe('ok');
    });

    it('kills a code after 5 wrong attempts: even the right code is then too_many_attempts', async () => {
      const { otp, sender } = service();
      const phone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      const code = sender.code(phone);
      for (let i = 0; i < 5; i++) expect(await otp.verify({ phone, purpose: 'register', code: wrong(code) })).toBe('invalid');
      expect(await otp.verify({ phone, purpose: 'register', code })).toBe('too_many_attempts');
      expect(await otp.verify({ phone, purpose: 'register', code })).toBe('too_many_attempts');
    });

    it('does not count malformed input as an attempt', async () => {
      const { otp, sender } = service();
      const phone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      for (const bad of ['', '12345', '1234567', 'abcdef', '12 34 5']) expect(await otp.verify({ phone, purpose: 'register', code: bad })).toBe('invalid');
      for (let i = 0; i < 4; i++) await otp.verify({ phone, purpose: 'register', code: wrong(sender.code(phone)) });
      expect(await otp.verify({ phone, purpose: 'register', code: sender.code(phone) })).toBe('ok');
    });

    it('says expired (not invalid) for a code past its 5 minutes, right or wrong', async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      const code = sender.code(phone);
      advance(5 * MINUTE);
      expect(await otp.verify({ phone, purpose: 'register', code })).toBe('expired');
      expect(await otp.verify({ phone, purpose: 'register', code: wrong(code) })).toBe('expired');
    });

    it('accepts a code just before it expires', async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      advance(5 * MINUTE - 1);
      expect(await otp.verify({ phone, purpose: 'register', code: sender.code(phone) })).toBe('ok');
    });

    it('says invalid when no code was ever sent', async () => {
      const { otp } = service();
      expect(await otp.verify({ phone: newPhone(), purpose: 'register', code: '123456' })).toBe('invalid');
      expect(await otp.verify({ phone: 'not a phone', purpose: 'register', code: '123456' })).toBe('invalid');
    });

    it('refuses a resend within 60 seconds for the same number and purpose, and says how long to wait', async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      const ip = newIp();
      expect((await otp.issue({ phone, purpose: 'register', clientIp: ip })).ok).toBe(true);
      advance(25_000);
      expect(await otp.issue({ phone, purpose: 'register', clientIp: ip })).toEqual({ ok: false, reason: 'too_soon', retryAfterSeconds: 35 });
      // Another purpose is another conversation.
      expect((await otp.issue({ phone, purpose: 'login', clientIp: ip })).ok).toBe(true);
      advance(35_000);
      expect((await otp.issue({ phone, purpose: 'register', clientIp: ip })).ok).toBe(true);
      expect(sender.sent).toHaveLength(3);
    });

    it('keeps a decoy for a number with no account: same throttles (shared with real sends), attempts and expiry, nothing sent, never right', async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      const ip = newIp();
      const issued = await otp.issueDecoy({ target: phone, purpose: 'login', clientIp: ip });
      expect(issued).toMatchObject({ ok: true, resendAfterSeconds: 60 });
      expect(sender.sent).toHaveLength(0);
      expect(await otp.issueDecoy({ target: phone, purpose: 'login', clientIp: ip })).toMatchObject({ ok: false, reason: 'too_soon' });
      // A number's hourly limit counts decoys and real codes alike, across purposes.
      expect(await otp.issue({ phone, purpose: 'login', clientIp: ip })).toMatchObject({ ok: false, reason: 'too_soon' });
      const ticket = otp.decoyTicket(phone, 'login');
      expect(await otp.verifyDecoy({ ticket, code: 'abc' })).toBe('invalid'); // malformed: no attempt
      for (let i = 0; i < 5; i++) expect(await otp.verifyDecoy({ ticket, code: String(i).padStart(6, '0') })).toBe('invalid');
      expect(await otp.verifyDecoy({ ticket, code: '123456' })).toBe('too_many_attempts');
      advance(60_000);
      await otp.issueDecoy({ target: 'decoy-key-of-an-id-number', purpose: 'reset_password', clientIp: ip });
      advance(5 * MINUTE + 1);
      expect(await otp.verifyDecoy({ ticket: otp.decoyTicket('decoy-key-of-an-id-number', 'reset_password'), code: '123456' })).toBe('expired');
      expect(sender.sent).toHaveLength(0);
    });

    it('replaces the previous code with a new one', async () => {
      const codes = [111111, 222222];
      const { otp, sender, advance } = service({ random: () => codes.shift()! });
      const phone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      advance(MINUTE);
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      expect(sender.sent.map((m) => /\d{6}/.exec(m.text)?.[0])).toEqual(['111111', '222222']);
      expect(await otp.verify({ phone, purpose: 'register', code: '111111' })).toBe('invalid');
      expect(await otp.verify({ phone, purpose: 'register', code: '222222' })).toBe('ok');
    });

    it('gives a new code fresh attempts', async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      for (let i = 0; i < 5; i++) await otp.verify({ phone, purpose: 'register', code: wrong(sender.code(phone)) });
      advance(MINUTE);
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      expect(await otp.verify({ phone, purpose: 'register', code: sender.code(phone) })).toBe('ok');
    });

    it('refuses the 6th code to one number within an hour, across purposes, until the first leaves the hour', async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      const purposes = ['register', 'login', 'reset_password', 'change_phone', 'register'] as const;
      for (const purpose of purposes) {
        // Asked for by the citizen themself (proven), so that only the number's own limit applies.
        expect((await otp.issue({ phone, purpose, clientIp: newIp(), proven: true })).ok).toBe(true);
        advance(MINUTE);
      }
      // 5 minutes after the first send: it leaves the rolling hour in 55 minutes.
      expect(await otp.issue({ phone, purpose: 'login', clientIp: newIp(), proven: true })).toEqual({ ok: false, reason: 'too_many_codes', retryAfterSeconds: 55 * 60 });
      expect(sender.sent).toHaveLength(5);
      advance(55 * MINUTE);
      expect((await otp.issue({ phone, purpose: 'login', clientIp: newIp(), proven: true })).ok).toBe(true);
      expect(await otp.issue({ phone, purpose: 'login', clientIp: newIp(), proven: true })).toMatchObject({ ok: false });
    });

    it("keeps strangers from using up a number's hour across purposes: the citizen at a familiar address still gets codes", async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      // Anyone who knows the number can ask for these from addresses the account never signed in from.
      for (const purpose of ['register', 'register', 'reset_password'] as const) {
        expect((await otp.issue({ phone, purpose, clientIp: newIp() })).ok).toBe(true);
        advance(MINUTE);
      }
      expect(await otp.issue({ phone, purpose: 'login', clientIp: newIp() })).toMatchObject({ ok: false, reason: 'too_many_codes' });
      expect(await otp.issue({ phone, purpose: 'register', clientIp: newIp() })).toMatchObject({ ok: false, reason: 'too_many_codes' });
      // The citizen, at an address where they signed in before, and once signed in, still gets the hour's other two.
      expect((await otp.issue({ phone, purpose: 'login', clientIp: newIp(), proven: true })).ok).toBe(true);
      expect(await otp.verify({ phone, purpose: 'login', code: sender.code(phone) })).toBe('ok');
      advance(MINUTE);
      expect((await otp.issue({ phone, purpose: 'bind_factor', clientIp: newIp(), proven: true })).ok).toBe(true);
      expect(sender.sent).toHaveLength(5);
      // The number's hour is still at most 5 texts.
      advance(MINUTE);
      expect(await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp(), proven: true })).toMatchObject({ ok: false, reason: 'too_many_codes' });
    });

    it("keeps a stranger's password resets from using up the citizen's sign-in codes", async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      // All a stranger needs for these is the citizen's ID number: one purpose gets 3 of the hour's 5.
      for (let i = 0; i < 3; i++) {
        expect((await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp() })).ok).toBe(true);
        advance(MINUTE);
      }
      expect(await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp() })).toMatchObject({ ok: false, reason: 'too_many_codes' });
      // The citizen still signs in with a code, twice within the hour, from an address of theirs.
      for (let i = 0; i < 2; i++) {
        expect((await otp.issue({ phone, purpose: 'login', clientIp: newIp(), proven: true })).ok).toBe(true);
        expect(await otp.verify({ phone, purpose: 'login', code: sender.code(phone) })).toBe('ok');
        advance(MINUTE);
      }
      expect(sender.sent).toHaveLength(5);
    });
    it("makes the citizen wait for no stranger's code: the resend interval counts them apart", async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      expect((await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp() })).ok).toBe(true);
      advance(1000);
      // The citizen, from their usual address, asks for their own reset code a second later.
      expect((await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp(), proven: true })).ok).toBe(true);
      // Each still waits for its own.
      expect(await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp() })).toMatchObject({ ok: false, reason: 'too_soon' });
      expect(await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp(), proven: true })).toMatchObject({ ok: false, reason: 'too_soon' });
      expect(sender.sent).toHaveLength(2);
    });

    it("caps a stranger's codes to one number over a day, where the hourly caps renew: at most 6 codes (30 guesses), and the citizen's own day untouched", async () => {
      const { otp, sender, advance } = service();
      const phone = newPhone();
      let sent = 0;
      // A stranger who knows the ID number asks for reset codes, every hour the hourly caps allow.
      for (let hour = 0; hour < 24; hour++) {
        for (let i = 0; i < 3; i++) {
          if ((await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp() })).ok) sent++;
          advance(2 * MINUTE);
        }
        advance(HOUR - 6 * MINUTE);
      }
      expect(sent).toBe(6);
      // The citizen's own codes (a familiar address, or signed in) still come, up to their own day.
      let own = 0;
      for (let hour = 0; hour < 24; hour++) {
        for (let i = 0; i < 2; i++) {
          if ((await otp.issue({ phone, purpose: 'login', clientIp: newIp(), proven: true })).ok) own++;
          advance(2 * MINUTE);
        }
        advance(HOUR - 4 * MINUTE);
      }
      expect(own).toBe(12);
      expect(sender.sent).toHaveLength(18);
    });

    it('refuses the 21st code from one client IP within an hour, without spending the refused number\'s quota', async () => {
      const { otp, sender, advance } = service();
      const ip = newIp();
      for (let i = 0; i < 20; i++) expect((await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: ip })).ok).toBe(true);
      const phone = newPhone();
      expect(await otp.issue({ phone, purpose: 'register', clientIp: ip })).toEqual({ ok: false, reason: 'too_many_codes', retryAfterSeconds: 3600 });
      expect(sender.sent).toHaveLength(20);
      // The refusal left no trace in the number's throttles: from elsewhere it can have a code at once.
      expect((await otp.issue({ phone, purpose: 'register', clientIp: newIp() })).ok).toBe(true);
      advance(HOUR);
      expect((await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: ip })).ok).toBe(true);
    });

    it('counts an IPv6 client per /64, and an IPv4-mapped address as the IPv4 one', async () => {
      const { otp } = service({ limits: { perIp: { max: 2, windowSeconds: 3600 } } });
      const net = `2001:db8:${randomInt(0xffff).toString(16)}:${randomInt(0xffff).toString(16)}`;
      expect((await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: `${net}::1` })).ok).toBe(true);
      expect((await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: `${net}:ffff:1:2:3` })).ok).toBe(true);
      expect(await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: `${net}:0:0:0:9` })).toMatchObject({ ok: false, reason: 'too_many_codes' });
      const v4 = newIp();
      await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: v4 });
      await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: `::ffff:${v4}` });
      expect(await otp.issue({ phone: newPhone(), purpose: 'register', clientIp: v4 })).toMatchObject({ ok: false, reason: 'too_many_codes' });
    });

    it('binds a code to its purpose and number', async () => {
      const { otp, sender } = service();
      const phone = newPhone();
      const otherPhone = newPhone();
      await otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      await otp.issue({ phone: otherPhone, purpose: 'register', clientIp: newIp() });
      const code = sender.code(phone);
      expect(await otp.verify({ phone, purpose: 'login', code })).toBe('invalid');
      expect(await otp.verify({ phone: otherPhone, purpose: 'register', code })).toBe(code === sender.code(otherPhone) ? 'ok' : 'invalid');
      expect(await otp.verify({ phone, purpose: 'register', code })).toBe('ok');
    });

    it('refuses a number that is not a mainland mobile number, and an unknown purpose', async () => {
      const { otp, sender } = service();
      await expect(otp.issue({ phone: '12345', purpose: 'register', clientIp: newIp() })).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(otp.issue({ phone: newPhone(), purpose: 'promo' as never, clientIp: newIp() })).rejects.toBeInstanceOf(YihaoError);
      expect(sender.sent).toHaveLength(0);
    });

    it('passes a delivery failure on, and counts the send: it may have gone out', async () => {
      const failing: SmsSender = {
        send: async () => {
          throw new SmsDeliveryError('the SMS gateway is unavailable', true, 503);
        },
      };
      const { otp } = service({ sender: failing });
      const phone = newPhone();
      await expect(otp.issue({ phone, purpose: 'register', clientIp: newIp() })).rejects.toBeInstanceOf(SmsDeliveryError);
      expect(await otp.issue({ phone, purpose: 'register', clientIp: newIp() })).toMatchObject({ ok: false, reason: 'too_soon' });
    });

    it('stores no number, IP address or code, only keyed hashes', async () => {
      const { otp, sender } = service();
      const phone = newPhone();
      const ip = newIp();
      await otp.issue({ phone, purpose: 'register', clientIp: ip });
      const values = await backend.dump();
      const text = values.join('\n');
      expect(text).not.toContain(phone.slice(3));
      expect(text).not.toContain(ip);
      // (A 6-digit run can occur by chance inside a hash or timestamp; stored as itself it would be a whole value.)
      expect(values).not.toContain(sender.code(phone));
      expect(values.length).toBeGreaterThan(0);
    });

    it('works with the outbox sender, as the local operator and browser tests read it', async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'yihao-sms-outbox-'));
      try {
        const outbox = createOutboxSender({ dataDir });
        const { otp } = service({ sender: outbox });
        const phone = newPhone();
        await otp.issue({ phone, purpose: 'reset_password', clientIp: newIp() });
        const code = await latestOutboxCode(outbox.path, phone.slice(3), 'reset_password');
        expect(await otp.verify({ phone, purpose: 'reset_password', code: code! })).toBe('ok');
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });

  describe.skipIf(!enabled)('two instances sharing the store', () => {
    it('together send no more than 5 codes per number, however the requests are spread', async () => {
      const clock = { t: Date.now() };
      const limits = { resendIntervalSeconds: 0 };
      const a = service({ clock, limits });
      const b = service({ clock, limits, store: backend.other });
      const phone = newPhone();
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).otp.issue({ phone, purpose: SMS_PURPOSES[i % SMS_PURPOSES.length]!, clientIp: newIp(), proven: true })),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(5);
      expect(results.filter((r) => !r.ok && r.reason === 'too_many_codes')).toHaveLength(11);
      expect(a.sender.sent.length + b.sender.sent.length).toBe(5);
    });

    it('together keep the resend interval and the hourly limit over an hour of retries', async () => {
      const clock = { t: Date.now() };
      const a = service({ clock });
      const b = service({ clock, store: backend.other });
      const phone = newPhone();
      const ip = newIp();
      const outcomes: string[] = [];
      for (let round = 0; round < 8; round++) {
        // A purpose per round: the number's hourly limit is across purposes (each has a smaller one of its own).
        const purpose = SMS_PURPOSES[round % SMS_PURPOSES.length]!;
        const both = await Promise.all([a, b].map((s) => s.otp.issue({ phone, purpose, clientIp: ip, proven: true })));
        outcomes.push(both.map((r) => (r.ok ? 'sent' : r.reason)).sort().join('+'));
        clock.t += 61_000;
      }
      // One code per round for the first five minutes, then none for the rest of the hour. (Once the
      // hour is full, one instance may hear 'too_soon' for a resend slot that the other is holding
      // until it learns the number is over its limit and gives the slot back.)
      expect(outcomes.slice(0, 5)).toEqual(Array(5).fill('sent+too_soon'));
      for (const o of outcomes.slice(5)) expect(o).toMatch(/^too_many_codes\+too_(many_codes|soon)$/);
      expect(a.sender.sent.length + b.sender.sent.length).toBe(5);
    });

    it('together allow 5 attempts per code and accept a code only once', async () => {
      const clock = { t: Date.now() };
      const a = service({ clock });
      const b = service({ clock, store: backend.other });
      const phone = newPhone();
      await a.otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      const code = a.sender.code(phone);

      const guesses = await Promise.all(Array.from({ length: 14 }, (_, i) => (i % 2 ? a : b).otp.verify({ phone, purpose: 'register', code: wrong(code) })));
      expect(guesses.filter((r) => r === 'invalid')).toHaveLength(5);
      expect(guesses.filter((r) => r === 'too_many_attempts')).toHaveLength(9);

      clock.t += 61_000;
      await b.otp.issue({ phone, purpose: 'register', clientIp: newIp() });
      const fresh = b.sender.code(phone);
      const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => (i % 2 ? a : b).otp.verify({ phone, purpose: 'register', code: fresh })));
      expect(answers.filter((r) => r === 'ok')).toHaveLength(1);
      expect(answers.filter((r) => r === 'invalid')).toHaveLength(3);
    });
  });
});
