import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SMS_LIMITS, createSmsSender, ipBucket, smsCodeText, smsConfigSchema } from '../../src/sms/index.js';
import { ipSite } from '../../src/http/ip-bucket.js';

const fetch = () => Promise.reject(new Error('not called'));

describe('SMS configuration', () => {
  it('defaults to the outbox sender and the limits of the specification', () => {
    expect(smsConfigSchema.parse({})).toEqual({
      sender: { kind: 'outbox' },
      limits: {
        codeTtlSeconds: 300,
        maxAttempts: 5,
        resendIntervalSeconds: 60,
        perNumber: { max: 5, windowSeconds: 3600 },
        perNumberAndPurpose: { max: 3, windowSeconds: 3600 },
        perNumberUnproven: { max: 3, windowSeconds: 3600 },
        perNumberDaily: { max: 12, windowSeconds: 86_400 },
        perNumberUnprovenDaily: { max: 6, windowSeconds: 86_400 },
        perIp: { max: 20, windowSeconds: 3600 },
        offerCodes: { perNumber: { max: 3, windowSeconds: 3600 }, perNumberDaily: { max: 6, windowSeconds: 86_400 }, perStaff: { max: 60, windowSeconds: 3600 } },
      },
    });
    expect(DEFAULT_SMS_LIMITS).toEqual(smsConfigSchema.parse({}).limits);
    expect(Object.isFrozen(DEFAULT_SMS_LIMITS.perNumber)).toBe(true);
  });

  it('fills in the webhook defaults and keeps partial limits', () => {
    const config = smsConfigSchema.parse({ sender: { kind: 'webhook', url: 'https://sms.example.gov.cn/send', token: 't0ken' }, limits: { perIp: { max: 50 } } });
    expect(config.sender).toEqual({ kind: 'webhook', url: 'https://sms.example.gov.cn/send', token: 't0ken', timeoutMs: 5000, retries: 2, backoffMs: 200 });
    expect(config.limits.perIp).toEqual({ max: 50, windowSeconds: 3600 });
    expect(config.limits.perNumber).toEqual({ max: 5, windowSeconds: 3600 });
  });

  it.each([
    [{ sender: { kind: 'webhook' } }, 'sender.url'],
    [{ sender: { kind: 'webhook', url: 'ftp://sms.example.gov.cn' } }, 'sender.url'],
    [{ sender: { kind: 'carrier-pigeon' } }, 'sender.kind'],
    [{ sender: { kind: 'outbox', url: 'https://x' } }, 'sender'],
    [{ limits: { codeTtlSeconds: 90 } }, 'limits.codeTtlSeconds'],
    [{ limits: { maxAttempts: 0 } }, 'limits.maxAttempts'],
    [{ limits: { perNumber: { max: 0 } } }, 'limits.perNumber.max'],
    [{ limits: { perHour: 5 } }, 'limits'],
  ])('refuses %j (at %s)', (input, path) => {
    const result = smsConfigSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('builds the configured sender', () => {
    const dir = mkdtempSync(join(tmpdir(), 'yihao-sms-config-'));
    try {
      expect(createSmsSender({ kind: 'outbox' }, { dataDir: dir, fetch })).toMatchObject({ path: join(dir, 'sms-outbox.jsonl') });
      expect(typeof createSmsSender({ kind: 'webhook', url: 'https://sms.example.gov.cn/send', timeoutMs: 1000, retries: 0, backoffMs: 0 }, { dataDir: dir, fetch }).send).toBe('function');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SMS text', () => {
  it('writes the code text in zh-CN with the signature first and the purpose named', () => {
    expect(smsCodeText('register', '123456', 5)).toBe('【一号】验证码 123456，用于注册一号账号，5 分钟内有效。请勿告诉他人。');
    expect(smsCodeText('reset_password', '000042', 10)).toBe('【一号】验证码 000042，用于重置一号账号密码，10 分钟内有效。请勿告诉他人。');
  });
});

describe('per-IP throttle buckets', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    [' 203.0.113.7 ', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::ffff:cb00:7107', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::9', '2001:db8:1:2::/64'],
    ['[2001:db8:1:2::9]', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    // NAT64's well-known prefix stays a /64: the IPv4 address inside proves nothing.
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
    // A 6to4 site is one bucket (not 65,536), apart from its IPv4 address's own.
    ['2002:cb00:7107::1', '6to4:203.0.113.7'],
    ['2002:cb00:7107:42::9', '6to4:203.0.113.7'],
    // A proxy that writes the client's port (some do) does not make each port a fresh client.
    ['203.0.113.7:5678', '203.0.113.7'],
    ['[2001:db8:1:2::9]:443', '2001:db8:1:2::/64'],
    ['not-an-ip', 'unparsed:not-an-ip'],
  ])('%s counts as %s', (ip, bucket) => {
    expect(ipBucket(ip)).toBe(bucket);
  });
});

describe("the lockout's sites (accounts/lockout.ts SITE_FACTOR)", () => {
  it.each([
    // An IPv6 /48: every /64 a household's /56 or a tunnel broker's /48 holds.
    ['2001:db8:abcd:ab01::1', '2001:db8:abcd::/48'],
    ['[2001:DB8:ABCD:FF00::9]:443', '2001:db8:abcd::/48'],
    // Elsewhere the address's own bucket.
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2002:cb00:7107:42::9', '6to4:203.0.113.7'],
    ['not-an-ip', 'unparsed:not-an-ip'],
  ])('%s is in site %s', (ip, site) => {
    expect(ipSite(ip)).toBe(site);
  });
});
