/**
 * Logs an operator can use (issue 13): the listening line reaches the terminal while the server
 * runs, not at Ctrl-C; and what a request carries in secrets (passwords, client secrets, tokens,
 * cookies, citizen ID numbers) never reaches a log line, even at the most verbose level.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createLogger } from '../../src/logger.js';
import { freePort, startHarness, type Harness } from '../support/harness.js';
import { logCapture } from '../support/log-capture.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the terminal', () => {
  it('shows the listening line while the server runs, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yihao-logs-'));
    const port = await freePort();
    const child = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js')], {
      cwd: root,
      env: { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'info', YIHAO_DATA_DIR: dir, PORT: String(port), ISSUER: `http://127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // Start-up (migrations, keys) on a loaded machine takes a while; the line must then come at once.
      await expect.poll(() => stdout, { timeout: 60_000, interval: 100 }).toContain(`Yihao listening on port ${port}`);
      // The server answers: the line was not printed on the way out.
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout).toContain('"msg":"stopped"');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('writes a warning out as soon as it is logged, without waiting for the buffer to fill', async () => {
    // The real terminal destination, in a child process whose stdout is a pipe we read.
    const script = `import { createLogger } from ${JSON.stringify(join(root, 'dist', 'src', 'logger.js'))};
      const log = createLogger('info');
      log.warn('a store is not reachable');
      setTimeout(() => process.exit(0), 30_000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      await expect.poll(() => stdout, { timeout: 10_000, interval: 50 }).toContain('a store is not reachable');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});

describe('redaction', () => {
  let h: Harness;
  const logs = logCapture();
  const lines = logs.lines;

  beforeAll(async () => {
    h = await startHarness({ logger: logs.logger });
  });
  afterAll(async () => h?.close());

  it('keeps passwords, client secrets, tokens, cookies and citizen IDs out of every log line', async () => {
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const citizen = await h.citizen();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid profile', prompt: 'consent' });
    const browser = new ScriptedBrowser();
    const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
    const code = callback.searchParams.get('code')!;
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: oidc.skipStateCheck });
    await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    const someoneElse = syntheticCitizenId();
    // Secrets where an attacker or a careless client would put them: query, headers, body.
    await fetch(`${h.url}/me?access_token=${tokens.access_token}&citizen_id=${someoneElse}`, {
      headers: { authorization: `Bearer ${tokens.access_token}`, cookie: `_session=${tokens.access_token}` },
    });
    await fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:wrong-${client.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_secret: client.client_secret!, citizen_id: someoneElse }),
    });
    await fetch(`${h.url}/no-such-page/${someoneElse}?code=${code}`);
    // Let the destination catch up with the last requests.
    await new Promise((r) => setTimeout(r, 200));

    const logged = lines.join('');
    expect(lines.length).toBeGreaterThan(5);
    for (const secret of [citizen.password, citizen.citizenId, someoneElse, client.client_secret!, tokens.access_token, tokens.refresh_token!, tokens.id_token!, code]) {
      expect(logged).not.toContain(secret);
    }
  }, 60_000);

  it('censors secrets that a log call passes by mistake', () => {
    const out: string[] = [];
    const log = createLogger('info', { write: (s: string) => void out.push(s) });
    const citizenId = syntheticCitizenId();
    log.warn(
      {
        req: { headers: { authorization: 'Bearer at-123', cookie: 'sid=c-456' } },
        body: { password: 'pw-789', client_secret: 'cs-000', citizen_id: citizenId, refresh_token: 'rt-111', access_token: 'at-222', code: 'ac-333' },
        citizenId,
        headers: { authorization: 'Basic b-444', cookie: 'sid=c-555' },
      },
      'a mistake',
    );
    const line = out.join('');
    expect(line).toContain('a mistake');
    for (const secret of ['at-123', 'c-456', 'pw-789', 'cs-000', citizenId, 'rt-111', 'at-222', 'ac-333', 'b-444', 'c-555']) expect(line).not.toContain(secret);
  });
});
