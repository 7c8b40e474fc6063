import { createPrivateKey, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { secretsSchema, type Secrets } from './schema.js';
import { ConfigError } from './config-error.js';

type Env = Record<string, string | undefined>;

function parseSealKeys(raw: string): { kid: string; key: string }[] {
  return raw.split(',').map((entry) => {
    const at = entry.indexOf(':');
    if (at <= 0) throw new ConfigError('YIHAO_SEAL_KEYS', 'expected a comma-separated list of kid:base64key');
    return { kid: entry.slice(0, at).trim(), key: entry.slice(at + 1).trim() };
  });
}

/** `YIHAO_INDEX_KEYS`: `2:base64,3:base64`, roots of later purpose-key versions. */
function parseIndexKeys(raw: string): Record<string, string> {
  return Object.fromEntries(
    raw.split(',').map((entry) => {
      const at = entry.indexOf(':');
      if (at <= 0) throw new ConfigError('YIHAO_INDEX_KEYS', 'expected a comma-separated list of version:base64key');
      return [entry.slice(0, at).trim(), entry.slice(at + 1).trim()];
    }),
  );
}

function validate(candidate: unknown, source: string): z.infer<typeof secretsSchema> {
  const r = secretsSchema.safeParse(candidate);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(`${source}.${issue.path.join('.')}`, issue.message);
  }
  return r.data;
}

function generate(): Secrets {
  return {
    cookieKeys: [randomBytes(32).toString('base64url')],
    sealKeys: [{ kid: `k${Date.now().toString(36)}`, key: randomBytes(32).toString('base64') }],
    indexKey: randomBytes(32).toString('base64'),
    auditKey: generateAuditKey(),
  };
}

function generateAuditKey(): string {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, randomBytes(32)]), format: 'der', type: 'pkcs8' }).export({ format: 'der', type: 'pkcs8' }).toString('base64');
}

// The fixed DER header of an Ed25519 PKCS#8 key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The audit key (docs/audit.md) is kept apart from the database: YIHAO_AUDIT_KEY, or `auditKey` in
 * the secrets file. Production refuses to start without one. Elsewhere, a secrets file written
 * before the audit key existed (or secrets given in the environment) gets one derived from the
 * index key: stable across restarts, but not apart from the other secrets, so not for production.
 */
function withAuditKey(secrets: Secrets | Omit<Secrets, 'auditKey'>, env: Env, production: boolean): Secrets {
  if (env.YIHAO_AUDIT_KEY) {
    const auditKey = secretsSchema.shape.auditKey.safeParse(env.YIHAO_AUDIT_KEY.trim());
    if (!auditKey.success || !auditKey.data) throw new ConfigError('YIHAO_AUDIT_KEY', 'must be an Ed25519 private key: base64 of its PKCS#8 DER form');
    return { ...secrets, auditKey: auditKey.data };
  }
  if ('auditKey' in secrets && secrets.auditKey) return secrets as Secrets;
  if (production) throw new ConfigError('YIHAO_AUDIT_KEY', 'is required in production (or auditKey in YIHAO_SECRETS_FILE): it signs the audit log\'s checkpoints');
  const seed = Buffer.from(hkdfSync('sha256', Buffer.from(secrets.indexKey, 'base64'), Buffer.alloc(0), 'yihao audit key v1', 32));
  return { ...secrets, auditKey: createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }).export({ format: 'der', type: 'pkcs8' }).toString('base64') };
}

/**
 * Secrets come from the environment (all three variables), from YIHAO_SECRETS_FILE, or (outside
 * production) from `<dataDir>/secrets.json`, generated once with mode 0600 so that a restart keeps
 * sessions, keys and sealed data readable.
 */
export function loadSecrets(env: Env, dataDir: string, production: boolean): { secrets: Secrets; source: 'environment' | 'file' | 'generated' } {
  const found = findSecrets(env, dataDir, production);
  return { ...found, secrets: withAuditKey(found.secrets, env, production) };
}

function findSecrets(env: Env, dataDir: string, production: boolean): { secrets: z.infer<typeof secretsSchema>; source: 'environment' | 'file' | 'generated' } {
  const names = ['YIHAO_COOKIE_KEYS', 'YIHAO_SEAL_KEYS', 'YIHAO_INDEX_KEY'] as const;
  const given = names.filter((n) => env[n]);
  if (given.length > 0) {
    const missing = names.filter((n) => !env[n]);
    if (missing.length) throw new ConfigError(missing[0]!, `is required when ${given.join(', ')} is set`);
    return {
      source: 'environment',
      secrets: validate(
        {
          cookieKeys: env.YIHAO_COOKIE_KEYS!.split(',').map((s) => s.trim()),
          sealKeys: parseSealKeys(env.YIHAO_SEAL_KEYS!),
          indexKey: env.YIHAO_INDEX_KEY,
          ...(env.YIHAO_INDEX_KEYS ? { indexKeys: parseIndexKeys(env.YIHAO_INDEX_KEYS) } : {}),
        },
        'secrets',
      ),
    };
  }
  if (env.YIHAO_SECRETS_FILE) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(env.YIHAO_SECRETS_FILE, 'utf8'));
    } catch (e) {
      throw new ConfigError('YIHAO_SECRETS_FILE', `cannot be read as JSON (${(e as Error).message.split('\n')[0]})`);
    }
    return { source: 'file', secrets: validate(parsed, 'YIHAO_SECRETS_FILE') };
  }
  if (production) {
    throw new ConfigError('secrets', 'are required in production: set YIHAO_COOKIE_KEYS, YIHAO_SEAL_KEYS and YIHAO_INDEX_KEY, or YIHAO_SECRETS_FILE');
  }
  const file = join(dataDir, 'secrets.json');
  const readPersisted = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(file, `cannot be read as JSON (${(e as Error).message.split('\n')[0]}); restore it from backup: sealed data needs it`);
    }
    return { source: 'file' as const, secrets: validate(parsed, file) };
  };
  if (existsSync(file)) return readPersisted();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secrets = generate();
  // Written whole under a temporary name, then linked into place: a process racing us (a CLI
  // next to the server) either wins the link or reads a complete file.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readPersisted();
    throw e;
  } finally {
    unlinkSync(tmp);
  }
  return { source: 'generated', secrets };
}
