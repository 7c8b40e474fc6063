/**
 * `npm run bench:profile -- <scenario> [seconds]`: where one scenario's server CPU goes, sampled by
 * Linux perf (V8's own profiler samples wall time and misleads on a busy machine). Starts one Yihao
 * on the chosen backend with --perf-basic-prof, loads it with the scenario for `seconds`, records
 * the Yihao process with `perf record -g`, and prints perf's flat and caller views of the top symbols.
 * Scenarios: cc (client_credentials), userinfo, refresh, signin. With `--bare` (not for signin), the
 * bare provider gets the same load under perf, and each side's main-thread CPU per operation is
 * printed by owner (perf-record.ts `ownerOf`), side by side: what Yihao adds, and where.
 */
import { spawnSync } from 'node:child_process';
import { prepareStore } from './backends.js';
import { ownerTotals, perfInstalled, recordPerf, type OwnerTotals } from './perf-record.js';
import { benchRelyingParty, setUp, startBare, startYihao } from './instances.js';
import { knobs, type Backend } from './knobs.js';
import { onCleanup, runBench } from './lifecycle.js';
import { cannon, signInLoad, type Target } from './load.js';
import { clientCredentialsRequest, refreshRequest, sendOnce } from './requests.js';
import { signIn } from './sign-in.js';

const SCENARIOS = ['cc', 'userinfo', 'refresh', 'signin'] as const;
type Scenario = (typeof SCENARIOS)[number];

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run bench:profile -- <${SCENARIOS.join('|')}> [seconds] [--bare]   (BENCH_BACKEND=sqlite or postgres+redis)`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const withBare = args.includes('--bare');
  const [scenarioArg, secondsArg, ...rest] = args.filter((a) => a !== '--bare');
  const scenario = scenarioArg as Scenario;
  if (!SCENARIOS.includes(scenario)) usage(`unknown scenario ${JSON.stringify(scenarioArg ?? '')}`);
  if (rest.length) usage(`unexpected argument ${JSON.stringify(rest[0])}`);
  if (withBare && scenario === 'signin') usage('--bare compares cc, userinfo or refresh (bench:steps -- N --perf compares sign-ins step by step)');
  const seconds = Number(secondsArg ?? 15);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 300) usage('seconds must be a number from 1 to 300');
  if (!perfInstalled()) usage('Linux perf is missing: apt-get install -y linux-perf');
  const backend: Backend = knobs.backend === 'postgres+redis' ? 'postgres+redis' : 'sqlite';

  const store = await prepareStore(backend);
  const yihao = await startYihao(store, 0);
  onCleanup(() => yihao.child.stop());
  const setup = await setUp(yihao, knobs.signInLoops);
  const discovery = await sendOnce(store.issuer, { method: 'GET', path: '/.well-known/openid-configuration' });
  const rp = benchRelyingParty(store.issuer, discovery, setup);
  const target = (request: Target['request']): Target => ({ server: 'Yihao', base: yihao.base, meter: yihao.meter, measuresDb: false, request });
  const first = await signIn(rp, setup.citizens[0]!);
  const pool: string[] = [];
  const signIns = (loops: number, secs: number) =>
    signInLoad(rp, (i) => setup.citizens[i % setup.citizens.length]!, { meter: yihao.meter, measuresDb: false, loops, seconds: secs });
  let load: () => Promise<unknown>;
  if (scenario === 'cc') load = () => cannon(target(clientCredentialsRequest(setup.clientId, setup.clientSecret)), seconds);
  else if (scenario === 'userinfo') {
    const path = new URL(String(discovery.userinfo_endpoint)).pathname;
    load = () => cannon(target({ method: 'GET', path, headers: { authorization: `Bearer ${first.access_token}` } }), seconds);
  } else if (scenario === 'refresh') {
    while (pool.length < knobs.connections * 4) pool.push(...(await Promise.all(setup.citizens.map((c) => signIn(rp, c)))).map((t) => t.refresh_token!));
    load = () => cannon(target(refreshRequest(setup.clientId, setup.clientSecret, pool)), seconds);
  } else {
    load = () => signIns(knobs.signInLoops, seconds);
  }
  // Warm-up, so that perf sees optimised code rather than the compiler.
  await (scenario === 'signin' ? signIns(4, 3) : load().then(() => undefined));

  const data = `/tmp/yihao-perf-${scenario}.data`;
  const perf = recordPerf(yihao.child.pid, data);
  const result = (await load()) as { ok?: number; failed?: number; cpuMs?: number; row?: { cpuPerOp: number; total: number; failed: number } };
  const done = perf.stop();
  const perOp = result.row ? result.row.cpuPerOp : (result.cpuMs ?? NaN) / (result.ok ?? NaN);
  console.log(`${scenario}: ${result.row?.total ?? result.ok} operations (${result.row?.failed ?? result.failed} failed), server CPU ${perOp.toFixed(3)} ms/op (perf's own sampling adds a little)`);
  await done;
  for (const args of [
    ['--no-children', '--sort', 'symbol', '--percent-limit', '0.7'],
    ['--children', '--sort', 'symbol', '--percent-limit', '3'],
  ]) {
    const r = spawnSync('perf', ['report', '-i', data, '--stdio', '-g', 'none', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    console.log(r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 60).map((l) => l.trimEnd().replace(/\s+-\s+-$/, '')).join('\n'));
    console.log('');
  }
  console.log(`perf data: ${data} (perf report -i ${data})`);
  if (!withBare) return;

  const ops = result.row?.total ?? result.ok ?? NaN;
  const bare = await startBare();
  onCleanup(() => bare.child.stop());
  const bareTarget = async (): Promise<Target> => {
    const base = { server: 'bare oidc-provider', base: bare.base, meter: bare.meter, measuresDb: false };
    if (scenario === 'cc') return { ...base, request: clientCredentialsRequest(bare.clientId, bare.clientSecret) };
    const minted = await bare.mint();
    if (scenario === 'userinfo') return { ...base, request: { method: 'GET', path: '/me', headers: { authorization: `Bearer ${minted.userinfoToken}` } } };
    return { ...base, request: refreshRequest(bare.clientId, bare.clientSecret, minted.refreshTokens) };
  };
  const t = await bareTarget();
  await cannon(t, seconds);
  const bareData = `/tmp/yihao-perf-${scenario}-bare.data`;
  const barePerf = recordPerf(bare.child.pid, bareData);
  const bareResult = await cannon(t, seconds);
  await barePerf.stop();
  console.log(`\nbare oidc-provider, ${scenario}: ${bareResult.ok} operations (${bareResult.failed} failed), server CPU ${(bareResult.cpuMs / bareResult.ok).toFixed(3)} ms/op; perf data: ${bareData}`);
  printOwners(await ownerTotals(data), ops, await ownerTotals(bareData), bareResult.ok);
}

/** The main thread's CPU per operation by owner, Yihao beside the bare provider, largest first. */
function printOwners(yihao: OwnerTotals, yihaoOps: number, bare: OwnerTotals, bareOps: number, top = 25): void {
  const per = (us: number | undefined, ops: number) => ((us ?? 0) / ops).toFixed(0);
  console.log(`\nMain thread per operation by owner (µs; the owner is the innermost JavaScript frame's package, Node module or Yihao file, "native" a sample with none):`);
  console.log(`  main thread ${per(yihao.mainUs, yihaoOps)} (bare ${per(bare.mainUs, bareOps)}), other threads ${per(yihao.otherUs, yihaoOps)} (bare ${per(bare.otherUs, bareOps)})`);
  const names = new Set([...yihao.owners.keys(), ...bare.owners.keys()]);
  const rows = [...names]
    .map((name) => ({ name, y: (yihao.owners.get(name) ?? 0) / yihaoOps, b: (bare.owners.get(name) ?? 0) / bareOps }))
    .sort((p, q) => Math.max(q.y, q.b) - Math.max(p.y, p.b))
    .slice(0, top);
  const width = Math.max(5, ...rows.map((r) => r.name.length));
  console.log(`  ${'owner'.padEnd(width)}  Yihao µs   bare µs`);
  for (const r of rows) console.log(`  ${r.name.padEnd(width)}  ${r.y.toFixed(0).padStart(8)}  ${r.b.toFixed(0).padStart(8)}`);
}

runBench('bench:profile', 10 * 60_000, main);
