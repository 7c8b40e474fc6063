/**
 * Every scenario of the default bench against one backend: client_credentials interleaved with
 * the bare provider, userinfo, complete sign-ins bracketed by raw argon2, refresh, the round-trip
 * counting pass, RSS, and (on PostgreSQL + Redis) two instances sharing the stores.
 */
import * as argon2 from '@node-rs/argon2';
import { countPerOp, type PerOp } from './count-pass.js';
import { prepareStore } from './backends.js';
import { benchRelyingParty, setUp, startYihao, type BareProvider } from './instances.js';
import { knobs, type Backend } from './knobs.js';
import { argon2Row, argon2Run, cannon, combine, signInLoad, type Row, type Target } from './load.js';
import { memoryMb } from './proc.js';
import { checkJwtAccessToken, clientCredentialsRequest, refreshRequest, sendOnce } from './requests.js';
import { signIn } from './sign-in.js';
import { twoInstances, type TwoInstances } from './two-instances.js';

export interface BackendResult {
  backend: Backend;
  rows: Row[];
  clientCredentials: Row;
  bare: Row;
  /** The bare provider's userinfo: oidc-provider's floor, no storage round trips. */
  bareUserinfo: Row;
  /** The bare provider's refresh, rotating as Yihao's does: oidc-provider's floor. */
  bareRefresh: Row;
  userinfo: Row;
  /** Returning citizens: consent was given before (docs/claims.md), so no consent page. */
  signIn: Row;
  /** The consent page on every sign-in (`prompt=consent`), as a first sign-in to an app has it. */
  signInWithConsent: Row;
  /** The bare provider's returning sign-in with the smallest login page, no password hash: oidc-provider's floor. */
  bareSignIn: Row;
  argon2: Row;
  refresh: Row;
  counts: { clientCredentials: PerOp; userinfo: PerOp; signIn: PerOp; signInWithConsent: PerOp; firstSignIn: PerOp; refresh: PerOp };
  rss: { startMb: number; afterLoadMb: number; peakMb: number; anonMb: number; fileMb: number; v8HeapTotalMb: number; v8HeapUsedMb: number; externalMb: number };
  twoInstances: TwoInstances | undefined;
}

const PASSWORD = 'bench-password-Aa1';

export async function runBackend(backend: Backend, bare: BareProvider): Promise<BackendResult> {
  const store = await prepareStore(backend);
  const yihao = await startYihao(store, 0);
  const startMb = memoryMb(yihao.child.pid).rss;
  // One citizen per sign-in loop, and fresh ones for counting a first sign-in to the app.
  const setup = await setUp(yihao, knobs.signInLoops + knobs.countOps);
  const newcomers = setup.citizens.splice(knobs.signInLoops);
  const discovery = await sendOnce(store.issuer, { method: 'GET', path: '/.well-known/openid-configuration' });
  const endpoint = (key: string) => new URL(String(discovery[key])).pathname;
  const target = (request: Target['request']): Target => ({ server: 'Yihao', base: yihao.base, meter: yihao.meter, measuresDb: yihao.measuresDb, request });

  // --- client_credentials: Yihao and the bare provider in Y B B Y order, so drift in the machine's
  // other load hits both alike
  console.log('client_credentials, Yihao and bare oidc-provider interleaved (Y B B Y):');
  const ccY = target(clientCredentialsRequest(setup.clientId, setup.clientSecret));
  const ccB: Target = { server: 'bare oidc-provider', base: bare.base, meter: bare.meter, measuresDb: false, request: clientCredentialsRequest(bare.clientId, bare.clientSecret) };
  for (const t of [ccY, ccB]) checkJwtAccessToken(t.server, await sendOnce(t.base, t.request));
  await cannon(ccY, knobs.warmupSeconds);
  await cannon(ccB, knobs.warmupSeconds);
  const half = knobs.seconds / 2;
  const y1 = await cannon(ccY, half);
  const b1 = await cannon(ccB, half);
  const b2 = await cannon(ccB, half);
  const y2 = await cannon(ccY, half);
  const clientCredentials = combine('client_credentials /token', 'Yihao', [y1, y2]);
  const bareRow = combine('client_credentials /token', 'bare oidc-provider', [b1, b2]);

  const rp = benchRelyingParty(store.issuer, discovery, setup);
  const first = await signIn(rp, setup.citizens[0]!); // warm-up and sanity check
  if (!first.refresh_token || !first.id_token) throw new Error('the sign-in returned no refresh token or ID token');
  // userinfo in Y B B Y order too. The bare provider's token lives in its in-memory adapter, so its
  // figure is oidc-provider's own floor for userinfo, without any storage round trip.
  console.log('userinfo, Yihao and bare oidc-provider interleaved (Y B B Y):');
  const userinfoT = target({ method: 'GET', path: endpoint('userinfo_endpoint'), headers: { authorization: `Bearer ${first.access_token}` } });
  const userinfoB: Target = { server: 'bare oidc-provider', base: bare.base, meter: bare.meter, measuresDb: false, request: { method: 'GET', path: '/me', headers: { authorization: `Bearer ${(await bare.mint()).userinfoToken}` } } };
  for (const t of [userinfoT, userinfoB]) await sendOnce(t.base, t.request);
  await cannon(userinfoT, knobs.warmupSeconds);
  await cannon(userinfoB, knobs.warmupSeconds);
  const u1 = await cannon(userinfoT, half);
  const ub1 = await cannon(userinfoB, half);
  const ub2 = await cannon(userinfoB, half);
  const u2 = await cannon(userinfoT, half);
  const userinfo = combine('userinfo', 'Yihao', [u1, u2]);
  const bareUserinfo = combine('userinfo', 'bare oidc-provider', [ub1, ub2]);

  // --- sign-ins, bracketed by raw argon2 runs (A S A) for the same reason
  console.log('sign-ins, bracketed by raw argon2.verify runs in this process (A S A):');
  const settings = store.config.argon2;
  const hash = await argon2.hash(PASSWORD, { algorithm: 2, memoryCost: settings.memoryKiB, timeCost: settings.iterations, parallelism: settings.parallelism });
  await argon2.verify(hash, PASSWORD);
  const citizen = (loop: number) => setup.citizens[loop % setup.citizens.length]!;
  const signInLoadOpts = { meter: yihao.meter, measuresDb: yihao.measuresDb, loops: knobs.signInLoops, seconds: knobs.signInSeconds };
  // Warm-up, as for the endpoints above: the sign-in's own pages and steps have run once so far.
  // V8 optimises about 800 of Yihao's functions on a sign-in's path, a few ms of compiling each,
  // for tens of seconds (bench/README.md): the consent run, which takes the same path, goes first
  // and warms the returning run, whose figures the budgets read.
  const warm = await signInLoad(rp, citizen, { ...signInLoadOpts, seconds: knobs.signInWarmupSeconds, quiet: true });
  const a1 = await argon2Run(settings, hash, PASSWORD, knobs.argon2Seconds / 2);
  const withConsent = await signInLoad(rp, citizen, { ...signInLoadOpts, name: `sign-ins, prompt=consent (${knobs.signInLoops} loops)`, extra: { prompt: 'consent' } });
  const a2 = await argon2Run(settings, hash, PASSWORD, knobs.argon2Seconds / 2);
  const signIns = await signInLoad(rp, citizen, { ...signInLoadOpts, name: `complete sign-ins, returning (${knobs.signInLoops} loops)` });
  const a3 = await argon2Run(settings, hash, PASSWORD, knobs.argon2Seconds / 2);
  const argon = argon2Row(settings, [a1, a2, a3]);
  // The same five requests on the bare provider, whose login checks a password without hashing it:
  // what oidc-provider itself costs per sign-in, to read the non-argon2 budget by.
  const bareSignInOpts = { meter: bare.meter, measuresDb: false, loops: knobs.signInLoops, server: 'bare oidc-provider' };
  const bareCitizen = () => bare.citizen;
  if (!bare.signInWarm) await signInLoad(bare.relyingParty, bareCitizen, { ...bareSignInOpts, seconds: knobs.bareSignInWarmupSeconds, quiet: true });
  bare.signInWarm = true;
  const bareSignIn = await signInLoad(bare.relyingParty, bareCitizen, {
    ...bareSignInOpts,
    seconds: knobs.signInSeconds,
    name: `complete sign-ins, returning, no password hash (${knobs.signInLoops} loops)`,
  });

  const pool = [first, ...warm.tokens, ...signIns.tokens, ...withConsent.tokens].map((t) => t.refresh_token).filter((t): t is string => Boolean(t));
  // A very busy machine may leave too few; top up so that every connection always finds one.
  while (pool.length < knobs.connections * 2) {
    const more = await Promise.all(setup.citizens.slice(0, 4).map((c) => signIn(rp, c)));
    pool.push(...more.map((t) => t.refresh_token!));
  }
  console.log(`refresh_token (pool of ${pool.length} rotating tokens from the sign-ins), Yihao and bare oidc-provider interleaved (Y B B Y):`);
  const refreshT = target(refreshRequest(setup.clientId, setup.clientSecret, pool));
  // The bare provider's pool is its own, made now; each answer puts its rotated token back.
  const refreshB: Target = { server: 'bare oidc-provider', base: bare.base, meter: bare.meter, measuresDb: false, request: refreshRequest(bare.clientId, bare.clientSecret, (await bare.mint()).refreshTokens) };
  await cannon(refreshT, knobs.warmupSeconds);
  await cannon(refreshB, knobs.warmupSeconds);
  const r1 = await cannon(refreshT, half);
  const rb1 = await cannon(refreshB, half);
  const rb2 = await cannon(refreshB, half);
  const r2 = await cannon(refreshT, half);
  const refresh = combine('refresh_token /token', 'Yihao', [r1, r2]);
  const bareRefresh = combine('refresh_token /token', 'bare oidc-provider', [rb1, rb2]);

  // --- round trips per operation, one at a time on the now idle server
  const chain = [(await signIn(rp, setup.citizens[0]!)).refresh_token!];
  const counts = {
    clientCredentials: await countPerOp(yihao, () => sendOnce(yihao.base, ccY.request)),
    userinfo: await countPerOp(yihao, () => sendOnce(yihao.base, userinfoT.request)),
    signIn: await countPerOp(yihao, (i) => signIn(rp, citizen(i))),
    signInWithConsent: await countPerOp(yihao, (i) => signIn(rp, citizen(i), { prompt: 'consent' })),
    // Each one's first sign-in to the app: the remembered-consent lookup finds nothing, the page comes.
    firstSignIn: await countPerOp(yihao, (i) => signIn(rp, newcomers[i % newcomers.length]!)),
    // A chain of its own: the pool's tokens may belong to sessions that later sign-ins replaced.
    refresh: await countPerOp(yihao, () => sendOnce(yihao.base, refreshRequest(setup.clientId, setup.clientSecret, chain))),
  };
  const perOp = (c: PerOp) => `${c.sql.toFixed(1)} SQL + ${c.redis.toFixed(1)} Redis`;
  console.log(
    `round trips per operation (${knobs.countOps} of each, one at a time): client_credentials ${perOp(counts.clientCredentials)}, ` +
      `userinfo ${perOp(counts.userinfo)}, sign-in ${perOp(counts.signIn)} (prompt=consent: ${perOp(counts.signInWithConsent)}; a first sign-in to the app: ${perOp(counts.firstSignIn)}), refresh ${perOp(counts.refresh)}; ` +
      `promises the server created per operation: client_credentials ${counts.clientCredentials.promises.toFixed(0)}, userinfo ${counts.userinfo.promises.toFixed(0)}, sign-in ${counts.signIn.promises.toFixed(0)}, refresh ${counts.refresh.promises.toFixed(0)}`,
  );

  const two = backend === 'postgres+redis' ? await twoInstances(store, yihao, ccY.request) : undefined;
  const mem = memoryMb(yihao.child.pid);
  const v8 = await yihao.memory();
  const mb = (n: number) => n.toFixed(0);
  console.log(`Yihao RSS: ${mb(startMb)} MB at start, ${mb(mem.rss)} MB after the load, ${mb(mem.peak)} MB at peak`);
  console.log(
    `  after the load: ${mb(mem.anon)} MB anonymous (V8 heap ${mb(v8.heapTotal)} MB reserved, ${mb(v8.heapUsed)} MB used; ` +
      `${mb(v8.external)} MB outside it; the rest malloc and stacks), ${mb(mem.file)} MB file-backed (code)`,
  );
  await yihao.child.stop();

  return {
    backend,
    rows: [clientCredentials, bareRow, userinfo, bareUserinfo, withConsent.row, signIns.row, bareSignIn.row, argon, refresh, bareRefresh],
    clientCredentials,
    bare: bareRow,
    bareUserinfo,
    bareRefresh,
    userinfo,
    signIn: signIns.row,
    signInWithConsent: withConsent.row,
    bareSignIn: bareSignIn.row,
    argon2: argon,
    refresh,
    counts,
    rss: { startMb, afterLoadMb: mem.rss, peakMb: mem.peak, anonMb: mem.anon, fileMb: mem.file, v8HeapTotalMb: v8.heapTotal, v8HeapUsedMb: v8.heapUsed, externalMb: v8.external },
    twoInstances: two,
  };
}
