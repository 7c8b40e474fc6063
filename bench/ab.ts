/**
 * `npm run bench:ab -- <userinfo|refresh|cc> [other checkout]`: this build's server CPU per operation
 * against another checkout's (built, with its node_modules), on PostgreSQL + Redis, in alternated
 * slices (A B B A, three times, 4 s each) after a warm-up of each. Without another checkout, A is
 * this build too: a null A/B, which shows what the method itself can tell apart on this host.
 *
 * Three instances share one store: a third one takes the sign-ins that make the tokens, so that
 * neither measured instance has run code the other has not (an instance that had served the
 * sign-ins read 9 % slower on userinfo in a null A/B). The measured ones serve only the load.
 * Start order: A, then the token maker, then B, so an older A migrates first; both builds must
 * accept the newer one's schema.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { prepareStore } from './backends.js';
import { benchRelyingParty, setUp, startYihao, type YihaoInstance } from './instances.js';
import { onCleanup, runBench } from './lifecycle.js';
import { cannon, type Target } from './load.js';
import { clientCredentialsRequest, refreshRequest, sendOnce } from './requests.js';
import { signIn } from './sign-in.js';

const SCENARIOS = ['userinfo', 'refresh', 'cc'] as const;
type Scenario = (typeof SCENARIOS)[number];
const ORDER = ['A', 'B', 'B', 'A', 'A', 'B', 'B', 'A', 'A', 'B', 'B', 'A'] as const;
const SLICE_SECONDS = 4;

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run bench:ab -- <${SCENARIOS.join('|')}> [path to another built checkout]`);
  process.exit(2);
}

async function main(): Promise<void> {
  const [scenarioArg, otherArg, ...rest] = process.argv.slice(2);
  const scenario = scenarioArg as Scenario;
  if (!SCENARIOS.includes(scenario)) usage(`unknown scenario ${JSON.stringify(scenarioArg ?? '')}`);
  if (rest.length) usage(`unexpected argument ${JSON.stringify(rest[0])}`);
  let otherEntry: string | undefined;
  if (otherArg) {
    const server = join(resolve(otherArg), 'dist', 'bench', 'yihao-server.js');
    if (!existsSync(server)) usage(`${server} does not exist: build that checkout first (npm run build)`);
    otherEntry = pathToFileURL(server).href;
  }

  const store = await prepareStore('postgres+redis');
  const a = await startYihao(store, 1, otherEntry);
  onCleanup(() => a.child.stop());
  const maker = await startYihao(store, 0);
  onCleanup(() => maker.child.stop());
  const b = await startYihao(store, 2);
  onCleanup(() => b.child.stop());

  const setup = await setUp(maker, 8);
  const discovery = await sendOnce(store.issuer, { method: 'GET', path: '/.well-known/openid-configuration' });
  const rp = benchRelyingParty(store.issuer, discovery, setup);
  const signedIn = await signIn(rp, setup.citizens[0]!);
  // One pool for both: each slice hands back the tokens it rotated.
  const pool: string[] = [];
  if (scenario === 'refresh') while (pool.length < 240) pool.push(...(await Promise.all(setup.citizens.map((c) => signIn(rp, c)))).map((t) => t.refresh_token!));
  const userinfoPath = new URL(String(discovery.userinfo_endpoint)).pathname;
  const request = (): Target['request'] =>
    scenario === 'userinfo'
      ? { method: 'GET', path: userinfoPath, headers: { authorization: `Bearer ${signedIn.access_token}` } }
      : scenario === 'refresh'
        ? refreshRequest(setup.clientId, setup.clientSecret, pool)
        : clientCredentialsRequest(setup.clientId, setup.clientSecret);
  const target = (y: YihaoInstance): Target => ({ server: 'Yihao', base: y.base, meter: y.meter, measuresDb: y.measuresDb, request: request() });

  console.log(`bench:ab ${scenario}: A = ${otherArg ? resolve(otherArg) : 'this build (a null A/B)'}, B = this build; PostgreSQL + Redis, ${ORDER.join(' ')}, ${SLICE_SECONDS} s each`);
  for (const y of [a, b]) await cannon(target(y), 3);
  const sum = { A: { ok: 0, cpu: 0, db: 0, failed: 0 }, B: { ok: 0, cpu: 0, db: 0, failed: 0 } };
  for (const k of ORDER) {
    const part = await cannon(target(k === 'A' ? a : b), SLICE_SECONDS);
    Object.assign(sum[k], { ok: sum[k].ok + part.ok, cpu: sum[k].cpu + part.cpuMs, db: sum[k].db + part.dbCpuMs, failed: sum[k].failed + part.failed });
    console.log(`  ${k}: ${(part.cpuMs / part.ok).toFixed(3)} ms/op + PostgreSQL ${(part.dbCpuMs / part.ok).toFixed(3)} (${part.ok} ok${part.failed ? `, ${part.failed} FAILED` : ''})`);
  }
  const perOp = (s: (typeof sum)['A']) => `${(s.cpu / s.ok).toFixed(3)} ms/op + PostgreSQL ${(s.db / s.ok).toFixed(3)}`;
  console.log(`A ${perOp(sum.A)}; B ${perOp(sum.B)}; B / A ${(sum.B.cpu / sum.B.ok / (sum.A.cpu / sum.A.ok)).toFixed(3)}`);
  if (sum.A.failed + sum.B.failed) console.log(`failed requests: A ${sum.A.failed}, B ${sum.B.failed}: the figures are not comparable`);
}

runBench('bench:ab', 10 * 60_000, main);
