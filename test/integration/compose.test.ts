/**
 * compose.yaml, checked without a Docker engine: its structure and every file and port it names,
 * then the same environment started by hand. Two real Yihao processes (the built dist, with the
 * environment of compose's yihao service) on PostgreSQL and Redis, behind Debian's nginx running
 * the repository's own template (deploy/nginx) with TLS from deploy/tls/make-local-ca.sh. A relying
 * party (openid-client) and a scripted browser talk only to nginx, over https.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory from 'knex';
import * as oidc from 'openid-client';
import pino from 'pino';
// `yaml` comes with the dev tooling (vite, the OpenAPI validator); it is not a declared dependency.
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbound } from '../../src/outbound/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { freePort } from '../support/free-port.js';
import { deleteRedisPrefix } from '../support/harness.js';
import { authorizationUrl, REDIRECT } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { createPgSchema, pgAvailable, PG_URL, redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';
import { buildCli, pgUrlWithSchema, runYihao } from '../support/yihao-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TEMPLATE = join(root, 'deploy', 'nginx', 'templates', 'default.conf.template');
const MAKE_CA = join(root, 'deploy', 'tls', 'make-local-ca.sh');

// ---- compose.yaml, as far as this deployment relies on it ----------------------------------------

const healthcheck = z.union([z.object({ test: z.array(z.string()).min(2), interval: z.string(), timeout: z.string(), retries: z.number().int().positive() }), z.object({ disable: z.literal(true) })]);
const service = z.object({
  image: z.string(),
  build: z.string().optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).default({}),
  volumes: z.array(z.string()).default([]),
  ports: z.array(z.string()).default([]),
  healthcheck: healthcheck.optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']) })).default({}),
});
const composeFile = z.object({
  services: z.object({ postgres: service, redis: service, migrate: service, 'yihao-a': service, 'yihao-b': service, nginx: service }).catchall(service),
  volumes: z.record(z.string(), z.null()),
});
type Service = z.infer<typeof service>;

const compose = composeFile.parse(parseYaml(readFileSync(join(root, 'compose.yaml'), 'utf8'), { merge: true }));
const { postgres, redis, migrate, nginx } = compose.services;
const instances = [compose.services['yihao-a'], compose.services['yihao-b']];

/** Compose's variable interpolation (`${X}`, `${X:-default}`, `${X:?error}`) with `vars` as the shell environment. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_all, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars[name];
    if (v !== undefined && v !== '') return v;
    if (op === '-') return arg ?? '';
    throw new Error(`compose.yaml needs ${name}${op === '?' ? `: ${arg}` : ''}`);
  });
}
const withDefaults = (env: Record<string, string>, vars: Record<string, string> = { POSTGRES_PASSWORD: 'from-dot-env' }) =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, vars)]));

/** The `${NAME}` placeholders of the nginx template: the official image fills them from the container's environment. */
const templateVars = (text: string) => [...new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!))];

function renderTemplate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}/g, (_all, name: string) => {
    if (env[name] === undefined) throw new Error(`the nginx template uses ${name}, which nginx's environment lacks`);
    return env[name];
  });
}

/** `source:target[:ro]` of a service's volumes: named volumes and bind mounts (`./…`). */
const mounts = (s: Service) => s.volumes.map((v) => ({ source: v.split(':')[0]!, target: v.split(':')[1]! }));

describe('compose.yaml', () => {
  it('runs PostgreSQL, Redis and nginx from their official images, and Yihao built from this Dockerfile', () => {
    expect(postgres.image).toMatch(/^postgres:\d+[\w.-]*$/);
    expect(redis.image).toMatch(/^redis:\d+[\w.-]*$/);
    expect(nginx.image).toMatch(/^nginx:\d+[\w.-]*$/);
    for (const s of [migrate, ...instances]) {
      expect(s.build).toBe('.');
      expect(s.image).toBe(instances[0]!.image);
    }
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
    // migrate runs `node bin/yihao.js migrate` inside the image: the image carries bin/ and the compiled CLI.
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(migrate.command).toEqual(['node', 'bin/yihao.js', 'migrate']);
    expect(existsSync(join(root, 'bin', 'yihao.js'))).toBe(true);
    expect(dockerfile).toMatch(/^COPY bin \.\/bin$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  });

  it('checks the health of every long-running service, and starts each after what it needs', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'migrate') continue;
      expect(s.healthcheck, name).toBeDefined();
      expect('disable' in s.healthcheck!, name).toBe(false);
    }
    expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    for (const s of instances) expect(s.depends_on).toEqual({ migrate: { condition: 'service_completed_successfully' } });
    expect(nginx.depends_on).toEqual({ 'yihao-a': { condition: 'service_healthy' }, 'yihao-b': { condition: 'service_healthy' } });
    // Each instance's health check asks its own port for readiness (its stores), as nginx's upstream would.
    for (const s of instances) {
      const env = withDefaults(s.environment);
      expect((s.healthcheck as { test: string[] }).test.join(' ')).toContain(`http://127.0.0.1:${env.PORT}/readyz`);
    }
    const pgCheck = (postgres.healthcheck as { test: string[] }).test;
    expect(pgCheck).toEqual(['CMD', 'pg_isready', '-U', postgres.environment.POSTGRES_USER, '-d', postgres.environment.POSTGRES_DB]);
  });

  it('keeps data in declared volumes and mounts only files that exist (or that make-local-ca.sh writes)', () => {
    const declared = new Set(Object.keys(compose.volumes));
    const used = new Set<string>();
    for (const s of Object.values(compose.services)) {
      for (const m of mounts(s)) {
        if (m.source.startsWith('./')) expect(existsSync(join(root, m.source)), m.source).toBe(true);
        else {
          expect(declared, m.source).toContain(m.source);
          used.add(m.source);
        }
      }
    }
    expect([...declared].sort()).toEqual([...used].sort());
    expect(mounts(postgres).map((m) => m.target)).toContain('/var/lib/postgresql/data');
    expect(mounts(redis).map((m) => m.target)).toContain('/data');
    // Both instances share the data directory: the secrets generated there must be the same on both.
    for (const s of [migrate, ...instances]) expect(mounts(s)).toContainEqual({ source: 'yihao-data', target: withDefaults(s.environment).YIHAO_DATA_DIR });
    // The certificate nginx is given is the one the documented script makes; neither key is committed.
    const nginxEnv = withDefaults(nginx.environment);
    const tls = mounts(nginx).find((m) => m.target === nginxEnv.NGINX_TLS_DIR);
    expect(tls?.source).toBe('./deploy/tls');
    const template = readFileSync(TEMPLATE, 'utf8');
    for (const file of ['yihao.crt', 'yihao.key']) {
      expect(template).toContain(`\${NGINX_TLS_DIR}/${file}`);
      expect(readFileSync(MAKE_CA, 'utf8')).toContain(`"$dir/${file}"`);
    }
    expect(readFileSync(join(root, '.gitignore'), 'utf8')).toMatch(/^\/deploy\/tls\/\*$/m);
    expect(mounts(nginx)).toContainEqual({ source: './deploy/nginx/templates', target: '/etc/nginx/templates' });
    // Rendered to conf.d/default.conf, in place of the image's welcome site (which would answer port 80 for localhost).
    expect(readdirSync(join(root, 'deploy', 'nginx', 'templates'))).toEqual(['default.conf.template']);
  });

  it('wires the ports, addresses and issuer together: instances, nginx upstreams, published ports', () => {
    const nginxEnv = withDefaults(nginx.environment);
    // Every placeholder in the template is set for nginx, and the image's envsubst filter lets it through.
    const filter = new RegExp(nginxEnv.NGINX_ENVSUBST_FILTER!);
    for (const name of templateVars(readFileSync(TEMPLATE, 'utf8'))) {
      expect(nginxEnv[name], name).toBeDefined();
      expect(name).toMatch(filter);
    }
    // The upstreams are the two instances on the port each listens on.
    expect(nginxEnv.YIHAO_UPSTREAM_A).toBe(`yihao-a:${withDefaults(instances[0]!.environment).PORT}`);
    expect(nginxEnv.YIHAO_UPSTREAM_B).toBe(`yihao-b:${withDefaults(instances[1]!.environment).PORT}`);
    // nginx publishes its https and http listeners; the issuer is the published https address.
    const published = nginx.ports.map((p) => interpolate(p, {}).split(':').map(Number) as [number, number]);
    const https = published.find(([, inside]) => inside === Number(nginxEnv.NGINX_HTTPS_PORT));
    expect(https).toBeDefined();
    expect(published.find(([, inside]) => inside === Number(nginxEnv.NGINX_HTTP_PORT))).toBeDefined();
    for (const s of [migrate, ...instances]) {
      const env = withDefaults(s.environment);
      const issuer = new URL(env.ISSUER!);
      expect(issuer.protocol).toBe('https:');
      expect(Number(issuer.port || 443)).toBe(https![0]);
      expect(issuer.hostname).toBe(nginxEnv.YIHAO_PUBLIC_HOST);
      expect(env.ISSUER).toBe(nginxEnv.YIHAO_ISSUER);
      // Behind nginx, and only there: X-Forwarded-* are believed.
      expect(env.YIHAO_TRUST_PROXY).toBe('true');
      expect(s.ports).toEqual([]);
      // The stores are the compose services, with the database and user PostgreSQL is made with.
      const db = new URL(env.DATABASE_URL!);
      expect([db.hostname, db.port, db.pathname, db.username]).toEqual(['postgres', '5432', `/${postgres.environment.POSTGRES_DB}`, postgres.environment.POSTGRES_USER]);
      expect(s.environment.DATABASE_URL).toContain('${POSTGRES_PASSWORD');
      expect(postgres.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
      expect(new URL(env.REDIS_URL!).hostname).toBe('redis');
    }
    // The two instances are identical but for their name.
    expect(instances[0]).toEqual(instances[1]);
  });
});

// ---- the same environment, started by hand ------------------------------------------------------

const nginxBinary = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync);
const required = process.env.YIHAO_REQUIRE_SERVICES === '1';
if (!nginxBinary) {
  const msg = 'nginx is not installed (apt-get install nginx-light)';
  if (required) throw new Error(`${msg} and YIHAO_REQUIRE_SERVICES=1`);
  console.warn(`\n*** SKIPPING the compose environment behind nginx: ${msg} ***\n`);
}
const canRun = Boolean(nginxBinary) && pgAvailable && redisAvailable;

interface Proc {
  proc: ChildProcess;
  stop(): Promise<void>;
}

function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Proc {
  const out = openSync(logFile, 'a');
  const proc = spawn(command, args, { cwd: root, env, stdio: ['ignore', out, out] });
  closeSync(out);
  return {
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        proc.once('exit', () => (clearTimeout(kill), resolve()));
        proc.kill('SIGTERM');
      }),
  };
}

async function until(what: string, probe: () => Promise<boolean>, proc: ChildProcess, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${what}: the process exited with ${proc.exitCode}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not up within ${timeoutMs} ms:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The main nginx.conf the image would bring, minimal, around the rendered template; it logs which upstream served each request. */
function nginxMainConf(dir: string, siteConf: string): string {
  return [
    'daemon off;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/nginx-error.log warn;`,
    // Run as root, nginx would switch its worker to nobody, who cannot enter the test's private directory.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'events { worker_connections 128; }',
    'http {',
    `  log_format upstreams '$upstream_addr $status $request_method $uri';`,
    `  access_log ${dir}/nginx-access.log upstreams;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/nginx-${t};`),
    `  include ${siteConf};`,
    '}',
    '',
  ].join('\n');
}

const SPOOFED = '203.0.113.9';

/** One GET of discovery with the TLS server name and the Host header chosen apart (fetch ties them together). */
function rawHttps(o: { port: string; servername: string; host: string; ca: Buffer; rejectUnauthorized?: boolean }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: o.port, path: '/.well-known/openid-configuration', servername: o.servername, headers: { host: o.host }, ca: o.ca, rejectUnauthorized: o.rejectUnauthorized ?? true, agent: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!canRun)('the compose environment by hand: two instances behind nginx with TLS', () => {
  let dir: string;
  let issuer: string;
  let httpPort: number;
  let ports: [number, number];
  let schema: { schema: string; drop(): Promise<void> };
  let prefix: string;
  const procs: Proc[] = [];
  let env: Record<string, string>;
  /** fetch that trusts the test CA and finds `localhost` at 127.0.0.1: what a browser with the local CA installed does. */
  let send: (input: string | URL, init?: RequestInit) => Promise<Response>;

  beforeAll(async () => {
    buildCli();
    dir = mkdtempSync(join(tmpdir(), 'yihao-compose-'));
    const made = spawnSync('sh', [MAKE_CA, join(dir, 'tls'), 'localhost'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`make-local-ca.sh failed: ${made.stderr}`);
    const [httpsPort, portA, portB] = [await freePort(), await freePort(), await freePort()];
    httpPort = await freePort();
    ports = [portA, portB];
    issuer = `https://localhost:${httpsPort}`;
    schema = await createPgSchema();
    prefix = `${uniqueName('compose')}:`;

    // compose's environment for the yihao services, as `docker compose` would interpolate it, with the
    // addresses of this machine's stores in place of the compose services' names.
    const composed = withDefaults(instances[0]!.environment, { YIHAO_ISSUER: issuer, POSTGRES_PASSWORD: 'unused' });
    expect(composed.ISSUER).toBe(issuer);
    env = {
      ...composed,
      DATABASE_URL: pgUrlWithSchema(PG_URL, schema.schema),
      REDIS_URL,
      YIHAO_REDIS_PREFIX: prefix,
      YIHAO_DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'warn',
    };
    // compose's migrate service: `yihao migrate`, once, before the instances (it also makes the shared secrets).
    const migrated = await runYihao(migrate.command!.slice(2), env);
    expect(migrated.stderr).toBe('');
    expect(migrated.code).toBe(0);

    const logFile = join(dir, 'processes.log');
    for (const port of ports) {
      const instance = startProcess(process.execPath, [join(root, 'dist', 'src', 'main.js')], { PATH: process.env.PATH ?? '', MALLOC_ARENA_MAX: '1', ...env, PORT: String(port) }, logFile);
      procs.push(instance);
      await until(`the instance on ${port}`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, instance.proc, logFile);
    }

    const nginxEnv = withDefaults(nginx.environment, { YIHAO_ISSUER: issuer });
    Object.assign(nginxEnv, {
      YIHAO_UPSTREAM_A: `127.0.0.1:${portA}`,
      YIHAO_UPSTREAM_B: `127.0.0.1:${portB}`,
      NGINX_HTTPS_PORT: `127.0.0.1:${httpsPort}`,
      NGINX_HTTP_PORT: `127.0.0.1:${httpPort}`,
      NGINX_TLS_DIR: join(dir, 'tls'),
    });
    const site = join(dir, 'yihao.conf');
    writeFileSync(site, renderTemplate(readFileSync(TEMPLATE, 'utf8'), nginxEnv));
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, `nginx-${t}`));
    writeFileSync(join(dir, 'nginx.conf'), nginxMainConf(dir, site));
    const test = spawnSync(nginxBinary!, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
    if (test.status !== 0) throw new Error(`nginx -t refused the rendered configuration:\n${test.stderr}`);
    const proxy = startProcess(nginxBinary!, ['-p', dir, '-c', join(dir, 'nginx.conf')], { PATH: process.env.PATH ?? '' }, logFile);
    procs.push(proxy);

    const outbound = createOutbound(
      { allowedNetworks: ['127.0.0.0/8'], trustedCaFile: join(dir, 'tls', 'ca.crt') },
      { logger: pino({ level: 'silent' }), resolver: async () => [{ address: '127.0.0.1' }] },
    );
    send = outbound.fetch;
    await until('nginx', async () => (await send(`${issuer}/healthz`)).status === 200, proxy.proc, logFile, 20_000);
  }, 180_000);

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    await schema?.drop();
    if (prefix) await deleteRedisPrefix(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const cli = async (args: string[], input = '') => {
    const run = await runYihao([...args, '--json'], env, input, 60_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as Record<string, string>;
  };

  it('sends plain http to the https issuer', async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/.well-known/openid-configuration?x=1`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(`${issuer}/.well-known/openid-configuration?x=1`);
  });

  it('publishes the public https issuer and endpoints in discovery, whatever X-Forwarded-* a client sends', async () => {
    for (const headers of [{}, { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http', forwarded: 'host=evil.example;proto=http' }] as Record<string, string>[]) {
      const res = await send(`${issuer}/.well-known/openid-configuration`, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('strict-transport-security')).toContain('max-age=');
      const meta = (await res.json()) as Record<string, unknown>;
      expect(meta.issuer).toBe(issuer);
      expect(meta.token_endpoint).toBe(`${issuer}/token`);
      expect(meta.authorization_endpoint).toBe(`${issuer}/auth`);
      expect(meta.userinfo_endpoint).toBe(`${issuer}/me`);
      expect(meta.jwks_uri).toBe(`${issuer}/jwks`);
    }
  });

  it('refuses the TLS handshake for another host name, and serves another Host header nothing of Yihao', async () => {
    const { port } = new URL(issuer);
    const ca = readFileSync(join(dir, 'tls', 'ca.crt'));
    // A client that does not check the certificate, asking for a name that is not the issuer's.
    const otherName = await rawHttps({ port, servername: 'evil.example', host: 'evil.example', ca, rejectUnauthorized: false }).catch((e: Error) => e);
    expect(otherName).toBeInstanceOf(Error);
    expect((otherName as Error).message).toMatch(/unrecognized name/);
    // The right name in TLS, another in the Host header.
    const otherHost = await rawHttps({ port, servername: 'localhost', host: 'evil.example', ca });
    expect(otherHost.status).not.toBe(200);
    expect(otherHost.body).not.toContain('issuer');
    // And the right name in both: the same raw request is served.
    const right = await rawHttps({ port, servername: 'localhost', host: `localhost:${port}`, ca });
    expect(right.status).toBe(200);
    expect(JSON.parse(right.body).issuer).toBe(issuer);
  });

  it('issues a client_credentials token, and signs a citizen in with userinfo, over both instances', async () => {
    const service = await cli(['client', 'create', '--kind', 'service', '--name', 'Compose back office', '--scope', 'openid']);
    const backOffice = await oidc.discovery(new URL(issuer), service.client_id!, service.client_secret, undefined, { [oidc.customFetch]: send });
    for (let i = 0; i < 4; i++) {
      const token = await oidc.clientCredentialsGrant(backOffice, { scope: 'openid' });
      expect(token.access_token).toBeTruthy();
    }

    const web = await cli(['client', 'create', '--name', 'Compose RP', '--redirect-uri', REDIRECT, '--first-party']);
    const citizenId = syntheticCitizenId();
    const citizen = await cli(['account', 'create', '--citizen-id', citizenId, '--name', '王小明', '--password-stdin'], 'compose-test-password-1\n');
    const rp = await oidc.discovery(new URL(issuer), web.client_id!, web.client_secret, undefined, { [oidc.customFetch]: send });
    // The browser tries to choose the address that lockout, rate limits and the audit log record.
    const browser = new ScriptedBrowser((url, init) => send(url, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-forwarded-for': SPOOFED } }));
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier), { identifier: citizenId, password: 'compose-test-password-1' });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(issuer);
    expect(claims.sub).toBe(citizen.sub);
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, claims.sub);
    expect(userinfo.name).toBe('王小明');

    // nginx spread the requests over both instances.
    const served = readFileSync(join(dir, 'nginx-access.log'), 'utf8');
    for (const port of ports) expect(served).toContain(`127.0.0.1:${port} 200`);

    // What Yihao recorded as the client's address is what nginx saw, not what the client claimed.
    const db = knexFactory({ client: 'pg', connection: PG_URL, searchPath: [schema.schema], pool: { min: 0, max: 1 } });
    try {
      const ips = ((await db('audit_events').whereNotNull('ip').distinct('ip')) as { ip: string }[]).map((r) => r.ip);
      expect(ips.length).toBeGreaterThan(0);
      expect(ips).not.toContain(SPOOFED);
      for (const ip of ips) expect(ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    } finally {
      await db.destroy();
    }
  });
});
