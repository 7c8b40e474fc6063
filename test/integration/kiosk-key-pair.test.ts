/**
 * docs/channels/kiosk.md tells an operator how to make a kiosk's key pair. Both of its commands run
 * here exactly as written (taken from the page), and each result must be what `yihao client create
 * --kind kiosk --jwks-file` takes and what the kiosk then authenticates with.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importPKCS8 } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { buildCli, hostedYihao } from '../support/yihao-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const page = readFileSync(join(root, 'docs', 'channels', 'kiosk.md'), 'utf8');
const section = /^## Making the kiosk's key pair\n([\s\S]*?)^## /m.exec(page)?.[1] ?? '';
const commands = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

let h: Harness;
const dirs: string[] = [];

beforeAll(async () => {
  buildCli();
  h = await startHarness({ backend: 'sqlite' });
});
afterAll(async () => {
  await h?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the kiosk key pair from docs/channels/kiosk.md', () => {
  it('gives two ways to make it', () => {
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/^node -e/);
    expect(commands[1]).toMatch(/openssl genpkey/);
  });

  it.each([
    ['Node.js', 0],
    ['OpenSSL', 1],
  ])('made with %s, is registered by `client create --kind kiosk --jwks-file` and authenticates the kiosk', async (_how, i) => {
    const dir = mkdtempSync(join(tmpdir(), 'yihao-kiosk-key-'));
    dirs.push(dir);
    const made = spawnSync('sh', ['-c', commands[i]!], { cwd: dir, encoding: 'utf8' });
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    const pem = join(dir, 'kiosk-0042.key.pem');
    // The private key is its owner's alone.
    expect(statSync(pem).mode & 0o077).toBe(0);
    const jwks = JSON.parse(readFileSync(join(dir, 'kiosk-0042.jwks.json'), 'utf8')) as { keys: Record<string, string>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(Object.keys(jwks.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'kiosk-0042', alg: 'ES256', use: 'sig' });

    const run = await hostedYihao(['client', 'create', '--kind', 'kiosk', '--name', `政务自助终端 ${i}`, '--scope', 'openid profile', '--jwks-file', join(dir, 'kiosk-0042.jwks.json'), '--json'], h.env, '', 60_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const client = JSON.parse(run.stdout) as { client_id: string; client_secret?: string };
    expect(client.client_secret).toBeUndefined();

    // The private half authenticates the kiosk (private_key_jwt) for a device authorization.
    const key = await importPKCS8(readFileSync(pem, 'utf8'), 'ES256');
    const kiosk = await oidc.discovery(new URL(h.issuer), client.client_id, undefined, oidc.PrivateKeyJwt({ key, kid: 'kiosk-0042' }), { execute: [oidc.allowInsecureRequests] });
    const device = await oidc.initiateDeviceAuthorization(kiosk, { scope: 'openid' });
    expect(device.device_code).toBeTruthy();
    expect(device.user_code).toBeTruthy();
  });
});
