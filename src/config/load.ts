import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { fileConfigSchema, type Config } from './schema.js';
import { loadSecrets } from './secrets.js';
import { redisConnection } from './redis-connection.js';
import { envFlag } from './env-flag.js';
import { projectRoot } from './paths.js';

type Env = Record<string, string | undefined>;

function readJson(file: string, setting: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(setting, `cannot be read as JSON: ${file} (${(e as Error).message.split('\n')[0]})`);
  }
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const bothObjects = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b);
    // A section with another `kind` (file → http registry, outbox → webhook sender) replaces the default.
    const otherKind = bothObjects && 'kind' in v && (v as { kind: unknown }).kind !== (b as { kind?: unknown }).kind;
    out[k] = bothObjects && !otherKind ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

function envInt(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw.slice(0, 20)}"`);
  const n = Number(raw);
  if (n > 65535) throw new ConfigError(name, `must be at most 65535, got ${raw.slice(0, 20)}`);
  return n;
}

// Says nothing of the value itself: it may hold a password.
const unparsableUrl = 'is not a well-formed URL (check the host, the port and that special characters in the user name or password are %-encoded)';

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  ISSUER: z.url({ message: 'must be an absolute URL such as https://id.example.gov.cn' }).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL (leave it unset for the embedded SQLite)')
    .refine(URL.canParse, unparsableUrl)
    .optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').refine(URL.canParse, unparsableUrl).optional(),
});

/** Parses config/default.json, YIHAO_CONFIG and the environment into one frozen, validated Config. */
export function loadConfig(env: Env = process.env): Config {
  const e = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!e.success) {
    const issue = e.error.issues[0]!;
    throw new ConfigError(String(issue.path[0]), issue.message);
  }
  let raw = readJson(join(projectRoot, 'config', 'default.json'), 'config/default.json');
  if (env.YIHAO_CONFIG) raw = deepMerge(raw, readJson(resolve(env.YIHAO_CONFIG), 'YIHAO_CONFIG'));

  const port = envInt(env, 'PORT');
  if (port !== undefined) raw.port = port;
  if (env.YIHAO_DATA_DIR) raw.dataDir = env.YIHAO_DATA_DIR;
  if (env.LOG_LEVEL) raw.logLevel = env.LOG_LEVEL;
  const trustProxy = envFlag(env, 'YIHAO_TRUST_PROXY');
  if (trustProxy !== undefined) raw.trustProxy = trustProxy;
  const proxyHops = envInt(env, 'YIHAO_PROXY_HOPS');
  if (proxyHops !== undefined) raw.proxyHops = proxyHops;
  if (env.YIHAO_OUTBOUND_ALLOW || env.YIHAO_OUTBOUND_CA_FILE) {
    const outbound = { ...(raw.outbound as Record<string, unknown> | undefined) };
    if (env.YIHAO_OUTBOUND_ALLOW) outbound.allowedNetworks = env.YIHAO_OUTBOUND_ALLOW.split(',').map((s) => s.trim());
    if (env.YIHAO_OUTBOUND_CA_FILE) outbound.trustedCaFile = env.YIHAO_OUTBOUND_CA_FILE;
    raw.outbound = outbound;
  }

  const f = fileConfigSchema.safeParse(raw);
  if (!f.success) {
    const issue = f.error.issues[0]!;
    throw new ConfigError(issue.path.join('.') || '(config)', issue.message);
  }
  const file = f.data;
  const { NODE_ENV: nodeEnv, ISSUER, DATABASE_URL, REDIS_URL } = e.data;
  const production = nodeEnv === 'production';
  // Relative to the checkout, not the shell's directory: `npm start` and `npx yihao` must share one store.
  const dataDir = isAbsolute(file.dataDir) ? file.dataDir : resolve(projectRoot, file.dataDir);

  const issuer = (ISSUER ?? `http://localhost:${file.port}`).replace(/\/$/, '');
  if (production && !issuer.startsWith('https://')) {
    throw new ConfigError('ISSUER', 'must be an https:// URL in production');
  }
  if (file.ttl.refreshTokenSeconds > file.ttl.sessionSeconds * 100) {
    throw new ConfigError('ttl.refreshTokenSeconds', 'is implausibly long');
  }
  const outbound = file.outbound.trustedCaFile ? { ...file.outbound, trustedCaFile: trustedCaFile(resolve(projectRoot, file.outbound.trustedCaFile)) } : file.outbound;
  const registry = file.registry.kind === 'file' ? { ...file.registry, path: resolve(projectRoot, file.registry.path) } : file.registry;
  // Like the other files: relative to the checkout, so the server and `yihao audit verify` agree.
  const audit = file.audit.export.file ? { ...file.audit, export: { ...file.audit.export, file: resolve(projectRoot, file.audit.export.file) } } : file.audit;
  const sms =
    file.sms.sender.kind === 'webhook' && env.YIHAO_SMS_WEBHOOK_TOKEN ? { ...file.sms, sender: { ...file.sms.sender, token: env.YIHAO_SMS_WEBHOOK_TOKEN } } : file.sms;
  const redis = redisConnection(env, REDIS_URL);
  const { secrets, source } = loadSecrets(env, dataDir, production);
  if (production && file.sms.sender.kind === 'outbox') {
    throw new ConfigError('sms.sender', 'must be a webhook in production: the outbox only writes codes to a local file');
  }
  if (production && file.registry.kind === 'file') {
    throw new ConfigError('registry', 'must be the HTTP population registry in production: the file registry holds synthetic records');
  }
  if (production) {
    // What crosses the network to these: names with citizen ID numbers and phones (registry), SMS
    // codes and the gateway's token, signed audit checkpoints. Never in clear.
    const inClear = (
      [
        ['registry.endpoint', file.registry.kind === 'http' ? file.registry.endpoint : undefined],
        ['sms.sender.url', file.sms.sender.kind === 'webhook' ? file.sms.sender.url : undefined],
        ['audit.export.webhookUrl', file.audit.export.webhookUrl],
      ] as const
    ).find(([, url]) => url !== undefined && !/^https:\/\//i.test(url));
    if (inClear) throw new ConfigError(inClear[0], 'must be an https:// URL in production');
  }

  const config: Config = {
    ...file,
    dataDir,
    outbound,
    registry,
    audit,
    sms,
    env: nodeEnv,
    issuer,
    databaseUrl: DATABASE_URL,
    redisUrl: REDIS_URL,
    redis,
    redisPrefix: env.YIHAO_REDIS_PREFIX || 'yihao:',
    secrets,
    secretsSource: source,
    metricsToken: metricsToken(env.YIHAO_METRICS_TOKEN),
  };
  return deepFreeze(config);
}

/** Long enough not to be guessed: the metrics say how busy the service is and which stores are down. */
function metricsToken(token: string | undefined): string | undefined {
  if (!token) return undefined;
  if (token.length < 32 || !/^[\x21-\x7e]+$/.test(token)) throw new ConfigError('YIHAO_METRICS_TOKEN', 'must be at least 32 printable characters without spaces (e.g. `openssl rand -hex 32`)');
  return token;
}

/** The CA file must be there and hold a certificate now, not fail the first outbound request later. */
function trustedCaFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('outbound.trustedCaFile', `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}): ${path}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('outbound.trustedCaFile', `holds no PEM certificate: ${path}`);
  return path;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
