/**
 * `yihao account show|disable|enable` against a running server's stores: the CLI acts with the
 * server's authority (no second operator), audited as the system with `via: "cli"`; a disable ends
 * the citizen's tokens at the running server; bad input exits 2 and an unknown account 3, and
 * nothing printed holds the ID number in full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, oauthError, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { buildCli, hostedYihao, pgUrlWithSchema, type CliRun } from '../support/yihao-cli.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

function expectBadInput(run: CliRun, message: RegExp): void {
  expect(run.stderr).toMatch(/^yihao: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(2);
}

describe.each(backends)('yihao account show|disable|enable ($name)', ({ name, enabled }) => {
  let h: Harness;
  const cliEnv = () => (h.env.DATABASE_URL ? { ...h.env, DATABASE_URL: pgUrlWithSchema(h.env.DATABASE_URL, h.env.TEST_SCHEMA!) } : h.env);
  const yihao = (args: string[]): Promise<CliRun> => hostedYihao(args, cliEnv(), '', 90_000);

  beforeAll(async () => {
    if (!enabled) return;
    buildCli();
    h = await startHarness({ backend: name });
  }, 180_000);
  afterAll(async () => h?.close());

  it.skipIf(!enabled)('revokes a lost phone\'s device keys for a citizen at the counter: the keys and what they let in end at the running server; audited as the system', async () => {
    const app = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    // The app's own sign-in on that phone (a password and a code): no key made it, and it ends too.
    const appSignIn = phone.refreshToken!;
    const offline = await phone.loginWithDeviceKey(undefined, 'openid profile offline_access');
    let refreshToken = offline.refresh_token!;
    const refresh = () => oidc.refreshTokenGrant(phone.rp, refreshToken, undefined, { DPoP: phone.dpop });
    // The refresh token works with the phone's DPoP key until the revocation (the rotated one is kept).
    const refreshed = await refresh();
    refreshToken = refreshed.refresh_token ?? refreshToken;
    const run = await yihao(['account', 'revoke-devices', '--sub', citizen.sub, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ sub: citizen.sub, revoked: 1 });
    expect(await h.yihao.channels.deviceKeys.find(phone.deviceKeyId!)).toBeUndefined();
    expect(await oauthError(refresh())).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(oidc.refreshTokenGrant(phone.rp, appSignIn, undefined, { DPoP: phone.dpop }))).toMatchObject({ error: 'invalid_grant' });
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'credential.removed')).toMatchObject({ actorType: 'system', actorId: 'cli', details: { type: 'device', via: 'cli', deviceKeyId: phone.deviceKeyId } });
    expect(events.find((e) => e.action === 'session.ended' && e.details?.reason === 'device_key_revoked')).toMatchObject({ actorType: 'system', actorId: 'cli', details: { via: 'cli', deviceKeyId: phone.deviceKeyId } });
    expect(events.find((e) => e.action === 'session.ended' && e.details?.everywhere === true)).toMatchObject({ actorType: 'system', actorId: 'cli', details: { reason: 'lost_phone', via: 'cli' } });
    expect(JSON.parse((await yihao(['account', 'revoke-devices', '--sub', citizen.sub, '--json'])).stdout)).toEqual({ sub: citizen.sub, revoked: 0 });
  });

  it.skipIf(!enabled)('disables at once (tokens end at the running server), shows why, and enables again; audited as the system via the CLI', async () => {
    const citizen = await h.citizen({ name: '孙七' });
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' });
    const rp = await relyingParty(h, client);
    const signIn = async () => {
      const verifier = oidc.randomPKCECodeVerifier();
      const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
      return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    };
    const tokens = await signIn();
    const masked = `${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`;

    const shown = await yihao(['account', 'show', '--citizen-id', citizen.citizenId, '--json']);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ sub: citizen.sub, citizen_id_masked: masked, name: '孙七', status: 'active', sign_in: { sessions: 1 } });

    const disabled = await yihao(['account', 'disable', '--citizen-id', citizen.citizenId, '--reason', 'court_order', '--note', '法院协助执行通知书', '--json']);
    expect(disabled.stderr).toBe('');
    expect(disabled.code).toBe(0);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ status: 'disabled', disabled: { reason: 'court_order', note: '法院协助执行通知书', by: 'cli' }, sign_in: { sessions: 0 } });
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(signIn()).rejects.toThrow();

    const text = await yihao(['account', 'show', '--sub', citizen.sub]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`citizen_id_masked: ${masked}\n`);
    expect(text.stdout).toMatch(/^status: disabled$/m);
    expect(text.stdout).toMatch(/^disabled: court_order by cli at \S+ \(法院协助执行通知书\)$/m);

    const again = await yihao(['account', 'disable', '--sub', citizen.sub, '--reason', 'fraud']);
    expectBadInput(again, /already disabled/);

    const enabledRun = await yihao(['account', 'enable', '--sub', citizen.sub, '--reason', 'court_order', '--json']);
    expect(enabledRun.stderr).toBe('');
    expect(enabledRun.code).toBe(0);
    expect(JSON.parse(enabledRun.stdout)).toMatchObject({ status: 'active', disabled: null });
    // Sign-in works again; the refresh token the disable ended stays ended.
    expect((await signIn()).access_token).toBeTruthy();
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const events = (await h.yihao.services.audit.query({ subject: citizen.sub, limit: 50 })).events;
    expect(events.find((e) => e.action === 'account.disabled')).toMatchObject({ actorType: 'system', actorId: 'cli', details: { reason: 'court_order', via: 'cli' } });
    expect(events.find((e) => e.action === 'account.enabled')).toMatchObject({ actorType: 'system', actorId: 'cli', details: { reason: 'court_order', via: 'cli' } });
    for (const run of [shown, disabled, text, enabledRun]) expect(run.stdout + run.stderr).not.toContain(citizen.citizenId);
    expect(JSON.stringify(events)).not.toContain(citizen.citizenId);
  }, 180_000);

  it.skipIf(!enabled)('exits 2 for bad input and 3 for an account that does not exist, never echoing the ID number', async () => {
    const citizen = await h.citizen();
    const unknown = syntheticCitizenId();
    const notFound = await yihao(['account', 'show', '--citizen-id', unknown]);
    expect(notFound.code).toBe(3);
    expect(notFound.stderr).toMatch(/^yihao: no account matches\n$/);
    expect((await yihao(['account', 'disable', '--sub', 'nosuchsub', '--reason', 'fraud'])).code).toBe(3);

    const broken = `${citizen.citizenId.slice(0, 17)}${citizen.citizenId.endsWith('0') ? '1' : '0'}`;
    const runs: [string[], RegExp][] = [
      [['account', 'show'], /exactly one of --citizen-id and --sub/],
      [['account', 'show', '--citizen-id', citizen.citizenId, '--sub', citizen.sub], /exactly one of --citizen-id and --sub/],
      [['account', 'show', '--citizen-id', broken], /check/i],
      [['account', 'disable', '--sub', citizen.sub], /--reason is required: one of fraud, deceased/],
      [['account', 'disable', '--sub', citizen.sub, '--reason', 'bored'], /reason must be one of/],
      [['account', 'disable', '--sub', citizen.sub, '--reason', 'other'], /note is required when the reason is other/],
      [['account', 'disable', '--sub', citizen.sub, '--reason', 'fraud', '--note', `见 ${citizen.citizenId}`], /note must not contain an ID number/],
      [['account', 'enable', '--sub', citizen.sub, '--reason', 'citizen_request'], /only a disabled account can be enabled/],
      [['account', 'disable', '--sub', citizen.sub, '--reason', 'fraud', '--bogus'], /unknown option --bogus/],
    ];
    for (const [args, message] of runs) {
      const run = await yihao(args);
      expectBadInput(run, message);
      expect(run.stderr).not.toContain(citizen.citizenId);
      expect(run.stderr).not.toContain(broken);
    }
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.status).toBe('active');

    const help = await yihao(['help', 'account', 'disable']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: yihao account disable \(--citizen-id ID \| --sub SUB\) --reason R/);
    expect(help.stdout).toContain('one of fraud, deceased, court_order, citizen_request, compromised, other');
  }, 180_000);
});
