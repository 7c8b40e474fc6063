import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

function validate(candidate: unknown, source: string): Secrets {
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
  };
}

/**
 * Secrets come from the environment (all three variables), from YIHAO_SECRETS_FILE, or (outside
 * production) from `<dataDir>/secrets.json`, generated once with mode 0600 so that a restart keeps
 * sessions, keys and sealed data readable.
 */
export function loadSecrets(env: Env, dataDir: string, production: boolean): { secrets: Secrets; source: 'environment' | 'file' | 'generated' } {
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
