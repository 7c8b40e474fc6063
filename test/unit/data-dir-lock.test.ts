/**
 * The embedded data directory's lock (src/storage/data-dir-lock.ts): which locks a starting server
 * takes over and which it refuses. The refusal of a live second server, across processes, is in
 * test/integration/embedded-sqlite-attacks.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUse, lockDataDir } from '../../src/storage/data-dir-lock.js';

describe('the data directory lock', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'yihao-lock-'));
    dirs.push(d);
    return d;
  };
  const lockFile = (d: string) => join(d, 'server.lock');
  const held = (d: string) => JSON.parse(readFileSync(lockFile(d), 'utf8')) as { pid: number; host: string };

  it('takes a free directory, and gives it back', () => {
    const d = dir();
    const release = lockDataDir(d);
    expect(held(d)).toEqual({ pid: process.pid, host: hostname() });
    release();
    expect(existsSync(lockFile(d))).toBe(false);
  });

  it("takes over a lock naming this process's own pid on this host (a container's PID 1 after a crash)", () => {
    const d = dir();
    writeFileSync(lockFile(d), JSON.stringify({ pid: process.pid, host: hostname() }));
    lockDataDir(d)();
  });

  it('takes over a lock whose process is gone on this host, and refuses one whose process lives', () => {
    const d = dir();
    // A pid no process has (above the kernel's pid_max).
    writeFileSync(lockFile(d), JSON.stringify({ pid: 2 ** 22 + 1, host: hostname() }));
    lockDataDir(d)();
    // The parent of this test process is alive.
    writeFileSync(lockFile(d), JSON.stringify({ pid: process.ppid, host: hostname() }));
    expect(() => lockDataDir(d)).toThrow(DataDirInUse);
    expect(() => lockDataDir(d)).toThrow(`another Yihao server (process ${process.ppid}) serves the data directory`);
  });

  it("refuses another host's lock while it is touched, and takes it over once it is not (a container back under a new host name)", () => {
    const d = dir();
    writeFileSync(lockFile(d), JSON.stringify({ pid: 1, host: 'another-host' }));
    expect(() => lockDataDir(d)).toThrow('process 1 on another-host');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockFile(d), old, old);
    lockDataDir(d)();
  });

  it('refuses a fresh lock not written yet (a server starting this moment)', () => {
    const d = dir();
    writeFileSync(lockFile(d), '');
    expect(() => lockDataDir(d)).toThrow('starting now');
  });
});
