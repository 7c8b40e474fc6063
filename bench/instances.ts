/** Starting the servers under test: Yihao instances on a store, and the bare oidc-provider baseline. */
import { randomBytes } from 'node:crypto';
import { startChild, freePort, type Child } from './children.js';
import { knobs, RESOURCE, RESOURCE_SCOPE, REDIRECT, SCOPE } from './knobs.js';
import type { RelyingParty } from './sign-in.js';
import { cpuMeter, type CpuMeter } from './proc.js';
import type { Store } from './backends.js';
import type { FromYihao, ToYihao } from './yihao-server.js';
import type { ToBare } from './bare-provider.js';
import { BARE_CITIZEN } from './bare-interactions.js';

export type Setup = Extract<FromYihao, { type: 'setup' }>;

export interface YihaoInstance {
  child: Child<ToYihao>;
  base: string;
  /** This instance's CPU and, on PostgreSQL, its backends'. */
  meter: CpuMeter;
  measuresDb: boolean;
  /** SQL statements and Redis commands the instance has sent so far. */
  /** `promises`: start counting promises (true) or stop after this read (false). */
  counts(promises?: boolean): Promise<{ sql: number; redis: number; promises: number }>;
  /** V8's heap and the memory outside it, as the instance itself sees them (MB). */
  memory(): Promise<Omit<Extract<FromYihao, { type: 'memory' }>, 'type'>>;
}

/** `entry`: this build's server (default), or another checkout's compiled `dist/bench/yihao-server.js` as a file URL (bench:ab). */
export async function startYihao(store: Store, n: number, entry = './yihao-server.js'): Promise<YihaoInstance> {
  const { env, base, appName } = await store.instanceEnv(n);
  const child = startChild<ToYihao>(entry, env, knobs.yihaoNodeFlags);
  await child.next('ready');
  const dbPids = store.dbPids && appName ? () => store.dbPids!(appName) : undefined;
  return {
    child,
    base,
    meter: cpuMeter([child.pid], dbPids),
    measuresDb: Boolean(dbPids),
    async counts(promises?: boolean) {
      child.send({ type: 'counts', ...(promises === undefined ? {} : { promises }) });
      const m = await child.next<Extract<FromYihao, { type: 'counts' }>>('counts');
      return { sql: m.sql, redis: m.redis, promises: m.promises };
    },
    async memory() {
      child.send({ type: 'memory' });
      const { type: _, ...m } = await child.next<Extract<FromYihao, { type: 'memory' }>>('memory');
      return m;
    },
  };
}

/** Registers the bench's relying party and `citizens` accounts (with random passwords) on the instance. */
export async function setUp(y: YihaoInstance, citizens: number): Promise<Setup> {
  y.child.send({ type: 'setup', citizens, redirectUri: REDIRECT });
  return y.child.next<Setup>('setup');
}

/** The bench's relying party: the client `setUp` registered, at the endpoints discovery names. */
export function benchRelyingParty(issuer: string, discovery: Record<string, unknown>, setup: Setup): RelyingParty {
  return {
    issuer,
    authorizationEndpoint: String(discovery.authorization_endpoint),
    tokenEndpoint: String(discovery.token_endpoint),
    clientId: setup.clientId,
    clientSecret: setup.clientSecret,
    redirectUri: REDIRECT,
    scope: SCOPE,
  };
}

export interface BareProvider {
  child: Child<ToBare>;
  base: string;
  clientId: string;
  clientSecret: string;
  /** A fresh grant's opaque access token for userinfo, and refresh tokens (each use rotates one). */
  mint(): Promise<{ userinfoToken: string; refreshTokens: string[] }>;
  meter: CpuMeter;
  /** Its static client as a relying party, and the one citizen its login page knows. */
  relyingParty: RelyingParty;
  citizen: { identifier: string; password: string };
  /** Whether its sign-in has been warmed up (once serves every backend). */
  signInWarm: boolean;
}

export async function startBare(): Promise<BareProvider> {
  const port = await freePort();
  const clientId = 'bench-bare';
  const clientSecret = randomBytes(32).toString('base64url');
  const child = startChild<ToBare>('./bare-provider.js', {
    NODE_ENV: 'development',
    UV_THREADPOOL_SIZE: knobs.threadpool,
    BENCH_PORT: String(port),
    BENCH_CLIENT_ID: clientId,
    BENCH_CLIENT_SECRET: clientSecret,
    BENCH_RESOURCE: RESOURCE,
    BENCH_SCOPE: RESOURCE_SCOPE,
    BENCH_REDIRECT: REDIRECT,
  });
  await child.next('ready');
  const mint = async () => {
    child.send({ type: 'mint' });
    return child.next<{ userinfoToken: string; refreshTokens: string[] }>('minted');
  };
  const base = `http://127.0.0.1:${port}`;
  const relyingParty: RelyingParty = {
    issuer: base,
    authorizationEndpoint: `${base}/auth`,
    tokenEndpoint: `${base}/token`,
    clientId,
    clientSecret,
    redirectUri: REDIRECT,
    scope: SCOPE,
  };
  return { child, base, clientId, clientSecret, mint, meter: cpuMeter([child.pid]), relyingParty, citizen: BARE_CITIZEN, signInWarm: false };
}
