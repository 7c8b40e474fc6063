/**
 * `npm run bench:profile -- <scenario> [seconds]`: where one scenario's server CPU goes, sampled by
 * Linux perf (V8's own profiler samples wall time and misleads on a busy machine). Starts one Yihao
 * on the chosen backend with --perf-basic-prof, loads it with the scenario for `seconds`, records
 * the Yihao process with `perf record -g`, and prints perf's flat and caller views of the top symbols.
 * Scenarios: cc (client_credentials), userinfo, refresh, signin.
 */
import { spawnSync } from 'node:child_process';
import { prepareStore } from './backends.js';
import { perfInstalled, recordPerf } from './perf-record.js';
import { benchRelyingParty, setUp, startYihao } from './instances.js';
import { knobs, type Backend } from './knobs.js';
import { onCleanup, runBench } from './lifecycle.js';
import { cannon, signInLoad, type Target } from './load.js';
import { clientCredentialsRequest, refreshRequest, sendOnce } from './requests.js';
import { signIn } from './sign-in.js';

const SCENARIOS = ['cc', 'userinfo', 'refresh', 'signin'] as const;
type Scenario = (typeof SCENARIOS)[number];

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run bench:profile -- <${SCENARIOS.join('|')}> [seconds]   (BENCH_BACKEND=sqlite or postgres+redis)`);
  process.exit(2);
}

async function main(): Promise<void> {
  const scenario = process.argv[2] as Scenario;
  if (!SCENARIOS.includes(scenario)) usage(`unknown scenario ${JSON.stringify(process.argv[2] ?? '')}`);
  const seconds = Number(process.argv[3] ?? 15);
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
}

runBench('bench:profile', 10 * 60_000, main);
