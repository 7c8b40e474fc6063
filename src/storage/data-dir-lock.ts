import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Another server process serves this embedded data directory: said at start, not found out later. */
export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
}

interface Holder {
  pid: number;
  host: string;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

function holderOf(file: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? { pid: h.pid, host: h.host } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One server per embedded data directory. Two servers on one SQLite file each hold the other's
 * writes up (a write waits for the other process's lock with the event loop held) and both run
 * the audit sealer's election on it: a mistake (a second `npm start`, a unit started twice) that
 * worked badly and silently. The lock is a file naming the process; one left by a process that is
 * gone on this host (a crash, SIGKILL) is taken over. One naming another host (a data directory on
 * a shared volume) cannot be checked from here, so it refuses too, and says how to clear it.
 * Returns the release, for a clean stop.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'server.lock');
  const me: Holder = { pid: process.pid, host: hostname() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const held = holderOf(file);
      const gone = held !== undefined && held.host === me.host && held.pid !== me.pid && !alive(held.pid);
      if (held && !gone) {
        const who = held.host === me.host ? `process ${held.pid}` : `process ${held.pid} on ${held.host}`;
        throw new DataDirInUse(`another Yihao server (${who}) serves the data directory ${dataDir}: stop it first; if it is not running, delete ${file}`);
      }
      // Gone, or a file cut short by a crash while it was written: ours to take.
      try {
        unlinkSync(file);
      } catch {
        // Another starting process took it over first: the next attempt finds its lock.
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } finally {
      closeSync(fd);
    }
    return () => {
      const held = holderOf(file);
      try {
        if (held?.pid === me.pid && held.host === me.host) unlinkSync(file);
      } catch {
        // Already gone.
      }
    };
  }
  throw new DataDirInUse(`another Yihao server is starting on the data directory ${dataDir} at the same moment`);
}
