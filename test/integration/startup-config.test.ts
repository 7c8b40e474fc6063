/**
 * Bad configuration at start-up: one line naming the setting, exit code 2, whether the loader or a
 * part of Yihao that reads its own settings at start (outbound networks, the registry) finds it.
 * A malformed Redis URL is a configuration problem too, not "Invalid URL" from deep inside ioredis.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function start(env: Record<string, string>): Promise<{ status: number | null; lines: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'yihao-startup-'));
  try {
    const child = spawnSync(process.execPath, [join(root, 'dist', 'src', 'main.js')], {
      cwd: root,
      env: { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'silent', YIHAO_DATA_DIR: dir, PORT: String(await freePort()), ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    // oidc-provider warns about Node.js 20 on its own line.
    return { status: child.status, lines: child.stderr.trim().split('\n').filter((l) => l && !l.startsWith('oidc-provider WARNING')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('bad configuration at start-up', () => {
  it('exits 2 with one line for a setting checked while the app is built (outbound networks)', async () => {
    const r = await start({ YIHAO_OUTBOUND_ALLOW: '10.0.0.0/33' });
    expect(r.lines).toEqual(['configuration: outbound.allowedNetworks "10.0.0.0/33" is not an IP network']);
    expect(r.status).toBe(2);
  });

  it('exits 2 naming REDIS_URL when it is not a URL, without its password', async () => {
    const r = await start({ REDIS_URL: 'redis://:s3cret-pw@127.0.0.1:notaport' });
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^configuration: REDIS_URL /);
    expect(r.lines[0]).not.toContain('s3cret-pw');
    expect(r.status).toBe(2);
  });
});
