import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, projectRoot } from '../../src/config/index.js';

const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'yihao-config-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const explicitSecrets = {
  YIHAO_COOKIE_KEYS: 'c'.repeat(40),
  YIHAO_SEAL_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  YIHAO_INDEX_KEY: Buffer.alloc(32, 2).toString('base64'),
  // An Ed25519 private key (PKCS#8 DER, base64) with a fixed seed of 3s.
  YIHAO_AUDIT_KEY: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 3)]).toString('base64'),
};

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults the issuer to http://localhost:PORT', () => {
    const c = loadConfig({ YIHAO_DATA_DIR: dataDir(), PORT: '4321' });
    expect(c.issuer).toBe('http://localhost:4321');
    expect(c.databaseUrl).toBeUndefined();
    expect(Object.isFrozen(c.ttl)).toBe(true);
  });

  it('generates embedded secrets once, with file mode 0600, and keeps them', () => {
    const dir = dataDir();
    const first = loadConfig({ YIHAO_DATA_DIR: dir });
    expect(first.secretsSource).toBe('generated');
    expect(statSync(join(dir, 'secrets.json')).mode & 0o777).toBe(0o600);
    const second = loadConfig({ YIHAO_DATA_DIR: dir });
    expect(second.secretsSource).toBe('file');
    expect(second.secrets).toEqual(first.secrets);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ ISSUER: 'not a url' }, 'ISSUER'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ LOG_LEVEL: 'loud' }, 'logLevel'],
    [{ YIHAO_SEAL_KEYS: 'nokid', YIHAO_COOKIE_KEYS: 'c'.repeat(40), YIHAO_INDEX_KEY: explicitSecrets.YIHAO_INDEX_KEY }, 'YIHAO_SEAL_KEYS'],
    [{ YIHAO_COOKIE_KEYS: 'short' }, 'YIHAO_SEAL_KEYS'],
  ])('stops on %o with one line naming %s', (env, setting) => {
    const err = configError({ YIHAO_DATA_DIR: dataDir(), ...env });
    expect(err.message).toContain(setting);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it('refuses production without an https issuer', () => {
    const err = configError({ NODE_ENV: 'production', ISSUER: 'http://id.example.gov.cn', YIHAO_DATA_DIR: dataDir(), ...explicitSecrets });
    expect(err.message).toBe('configuration: ISSUER must be an https:// URL in production');
  });

  it('refuses production without explicit secrets, and never generates them there', () => {
    const dir = dataDir();
    const err = configError({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn', YIHAO_DATA_DIR: dir });
    expect(err.message).toBe('configuration: secrets are required in production: set YIHAO_COOKIE_KEYS, YIHAO_SEAL_KEYS and YIHAO_INDEX_KEY, or YIHAO_SECRETS_FILE');
    expect(() => statSync(join(dir, 'secrets.json'))).toThrow();
  });

  it('refuses production without the audit key, and takes it from the environment or the secrets file', () => {
    const { YIHAO_AUDIT_KEY, ...others } = explicitSecrets;
    const err = configError({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn', YIHAO_DATA_DIR: dataDir(), ...others });
    expect(err.message).toBe("configuration: YIHAO_AUDIT_KEY is required in production (or auditKey in YIHAO_SECRETS_FILE): it signs the audit log's checkpoints");
    expect(configError({ YIHAO_DATA_DIR: dataDir(), ...others, YIHAO_AUDIT_KEY: Buffer.alloc(48, 1).toString('base64') }).message).toBe(
      'configuration: YIHAO_AUDIT_KEY must be an Ed25519 private key: base64 of its PKCS#8 DER form',
    );
    expect(loadConfig({ YIHAO_DATA_DIR: dataDir(), ...explicitSecrets }).secrets.auditKey).toBe(YIHAO_AUDIT_KEY);
    const dir = dataDir();
    const file = join(dir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ cookieKeys: ['c'.repeat(40)], sealKeys: [{ kid: 'k1', key: Buffer.alloc(32, 1).toString('base64') }], indexKey: others.YIHAO_INDEX_KEY, auditKey: YIHAO_AUDIT_KEY }));
    expect(loadConfig({ YIHAO_DATA_DIR: dir, YIHAO_SECRETS_FILE: file }).secrets.auditKey).toBe(YIHAO_AUDIT_KEY);
  });

  it('generates an audit key into secrets.json outside production, and derives a stable one for older secrets files', () => {
    const dir = dataDir();
    const first = loadConfig({ YIHAO_DATA_DIR: dir });
    expect(JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8'))).toHaveProperty('auditKey', first.secrets.auditKey);
    const { YIHAO_AUDIT_KEY, ...others } = explicitSecrets;
    const derived = loadConfig({ YIHAO_DATA_DIR: dataDir(), ...others }).secrets.auditKey;
    expect(derived).not.toBe(YIHAO_AUDIT_KEY);
    expect(loadConfig({ YIHAO_DATA_DIR: dataDir(), ...others }).secrets.auditKey).toBe(derived);
  });

  it('refuses production with the development SMS outbox or the synthetic registry', () => {
    const err = configError({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn', YIHAO_DATA_DIR: dataDir(), ...explicitSecrets });
    expect(err.message).toMatch(/^configuration: sms.sender must be a webhook in production/);
  });

  it('starts production with an https issuer, explicit secrets and real SMS and registry services', () => {
    const dir = dataDir();
    const file = join(dir, 'production.json');
    writeFileSync(
      file,
      JSON.stringify({
        sms: { sender: { kind: 'webhook', url: 'https://sms.example.gov.cn/send' } },
        registry: { kind: 'http', endpoint: 'https://registry.example.gov.cn/verify' },
      }),
    );
    const c = loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn/', YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file, YIHAO_SMS_WEBHOOK_TOKEN: 't0ken', ...explicitSecrets });
    expect(c.sms.sender).toMatchObject({ kind: 'webhook', token: 't0ken' });
    expect(c.issuer).toBe('https://id.example.gov.cn');
    expect(c.secretsSource).toBe('environment');
  });

  it('accepts the shipped production example', () => {
    const c = loadConfig({
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.gov.cn',
      YIHAO_DATA_DIR: dataDir(),
      YIHAO_CONFIG: join(projectRoot, 'config', 'example.production.json'),
      ...explicitSecrets,
    });
    expect(c.registry.kind).toBe('http');
    expect(c.trustProxy).toBe(true);
  });

  it('reads the audit settings, with the export file relative to the checkout', () => {
    const dir = dataDir();
    const file = join(dir, 'audit.json');
    writeFileSync(file, JSON.stringify({ audit: { sealIntervalMs: 250, export: { file: 'data/checkpoints.jsonl' } } }));
    const c = loadConfig({ YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file });
    expect(c.audit).toMatchObject({ sealer: true, sealIntervalMs: 250, leaseSeconds: 10, export: { file: join(projectRoot, 'data', 'checkpoints.jsonl') } });
    writeFileSync(file, JSON.stringify({ audit: { sealIntervalMs: 10_000, leaseSeconds: 5 } }));
    expect(configError({ YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file }).message).toBe('configuration: audit leaseSeconds must outlast two sealing passes');
  });

  it('refuses a retired key kept in the JWKS for less time than the tokens it signed stay valid', () => {
    const dir = dataDir();
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify({ keys: { refreshSeconds: 5, retiredKeepSeconds: 60 } }));
    const message = configError({ YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file }).message;
    expect(message).toContain('keys.retiredKeepSeconds');
    expect(message).toMatch(/at least .* 3605 s here/);
    writeFileSync(file, JSON.stringify({ keys: { refreshSeconds: 5, retiredKeepSeconds: 3605 } }));
    expect(loadConfig({ YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file }).keys.retiredKeepSeconds).toBe(3605);
  });

  it('refuses a lockout window that ends before the longest wait does', () => {
    const dir = dataDir();
    const file = join(dir, 'lockout.json');
    writeFileSync(file, JSON.stringify({ lockout: { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 } }));
    expect(configError({ YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file }).message).toContain('lockout.windowSeconds');
    expect(loadConfig({ YIHAO_DATA_DIR: dir }).lockout).toMatchObject({ windowSeconds: 3600, lockSeconds: 900 });
  });

  it('refuses argon2 parameters below the floor', () => {
    const dir = dataDir();
    const file = join(dir, 'weak.json');
    writeFileSync(file, JSON.stringify({ argon2: { memoryKiB: 4096 } }));
    const err = configError({ YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file });
    expect(err.message).toContain('argon2.memoryKiB');
  });

  it('takes NAT64 translator prefixes only as IPv6 /96 networks', () => {
    const dir = dataDir();
    const withPrefixes = (prefixes: unknown) => {
      const file = join(dir, 'nat64.json');
      writeFileSync(file, JSON.stringify({ nat64Prefixes: prefixes }));
      return { YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file };
    };
    expect(loadConfig(withPrefixes(['64:ff9b::/96', '2001:db8:64::/96'])).nat64Prefixes).toEqual(['64:ff9b::/96', '2001:db8:64::/96']);
    expect(configError(withPrefixes(['64:ff9b::/64'])).message).toMatch(/nat64Prefixes.*\/96/);
    expect(configError(withPrefixes(['192.0.2.0/24'])).message).toMatch(/nat64Prefixes.*IPv6 prefix/);
    expect(configError(withPrefixes(['64:ff9b::'])).message).toMatch(/nat64Prefixes.*IPv6 prefix/);
    expect(loadConfig({ YIHAO_DATA_DIR: dataDir() }).nat64Prefixes).toEqual([]);
  });

  it('takes an outbound CA file only if it is there and holds a certificate', () => {
    const dir = dataDir();
    expect(configError({ YIHAO_DATA_DIR: dir, YIHAO_OUTBOUND_CA_FILE: join(dir, 'missing.pem') }).message).toBe(
      `configuration: outbound.trustedCaFile cannot be read (ENOENT): ${join(dir, 'missing.pem')}`,
    );
    writeFileSync(join(dir, 'empty.pem'), 'not a certificate');
    expect(configError({ YIHAO_DATA_DIR: dir, YIHAO_OUTBOUND_CA_FILE: join(dir, 'empty.pem') }).message).toContain('holds no PEM certificate');
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const c = loadConfig({ YIHAO_DATA_DIR: dir, YIHAO_OUTBOUND_CA_FILE: join(dir, 'ca.pem'), YIHAO_OUTBOUND_ALLOW: '10.0.0.0/8' });
    expect(c.outbound).toEqual({ allowedNetworks: ['10.0.0.0/8'], trustedCaFile: join(dir, 'ca.pem') });
  });
});

describe('the metrics token', () => {
  it('is off unless YIHAO_METRICS_TOKEN is set, and refuses a short or spaced one', () => {
    expect(loadConfig({ NODE_ENV: 'test', YIHAO_DATA_DIR: dataDir() }).metricsToken).toBeUndefined();
    const token = 'a'.repeat(32);
    expect(loadConfig({ NODE_ENV: 'test', YIHAO_DATA_DIR: dataDir(), YIHAO_METRICS_TOKEN: token }).metricsToken).toBe(token);
    for (const bad of ['short', `${'a'.repeat(32)} b`]) {
      const e = configError({ NODE_ENV: 'test', YIHAO_DATA_DIR: dataDir(), YIHAO_METRICS_TOKEN: bad });
      expect(e.setting).toBe('YIHAO_METRICS_TOKEN');
      expect(e.message).not.toContain(bad);
    }
  });
});

describe('settings that would silently mean something else', () => {
  it('refuses a YIHAO_TRUST_PROXY it cannot read as yes or no, instead of trusting no proxy', () => {
    expect(configError({ YIHAO_DATA_DIR: dataDir(), YIHAO_TRUST_PROXY: 'enabled' }).message).toMatch(/^configuration: YIHAO_TRUST_PROXY /);
    expect(loadConfig({ YIHAO_DATA_DIR: dataDir(), YIHAO_TRUST_PROXY: 'yes' }).trustProxy).toBe(true);
    expect(loadConfig({ YIHAO_DATA_DIR: dataDir(), YIHAO_TRUST_PROXY: 'TRUE' }).trustProxy).toBe(true);
    expect(loadConfig({ YIHAO_DATA_DIR: dataDir(), YIHAO_TRUST_PROXY: '0' }).trustProxy).toBe(false);
  });

  it('refuses a DATABASE_URL that is not a URL, naming the setting and never the password', () => {
    const message = configError({ YIHAO_DATA_DIR: dataDir(), DATABASE_URL: 'postgres://yihao:s3cret-pw@db:notaport/yihao' }).message;
    expect(message).toMatch(/^configuration: DATABASE_URL /);
    expect(message).not.toContain('s3cret-pw');
  });
});

describe('production refuses services reached in clear', () => {
  const production = (settings: Record<string, unknown>) => {
    const dir = dataDir();
    const file = join(dir, 'production.json');
    writeFileSync(
      file,
      JSON.stringify({
        sms: { sender: { kind: 'webhook', url: 'https://sms.example.gov.cn/send' } },
        registry: { kind: 'http', endpoint: 'https://registry.example.gov.cn/verify' },
        ...settings,
      }),
    );
    return { NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn', YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file, ...explicitSecrets };
  };

  it.each([
    ['registry.endpoint', { registry: { kind: 'http', endpoint: 'http://registry.example.gov.cn/verify' } }],
    ['sms.sender.url', { sms: { sender: { kind: 'webhook', url: 'http://sms.example.gov.cn/send' } } }],
    ['audit.export.webhookUrl', { audit: { export: { webhookUrl: 'http://audit.example.gov.cn/checkpoints' } } }],
  ])('refuses an http:// %s (citizen ID numbers, codes or tokens would cross the network in clear)', (setting, settings) => {
    expect(configError(production(settings)).message).toBe(`configuration: ${setting} must be an https:// URL in production`);
  });

  it('keeps http:// for those services outside production', () => {
    const env = production({ registry: { kind: 'http', endpoint: 'http://registry.example.gov.cn/verify' } });
    expect(loadConfig({ ...env, NODE_ENV: 'test' }).registry).toMatchObject({ endpoint: 'http://registry.example.gov.cn/verify' });
  });
});
