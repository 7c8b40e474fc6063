import { closeSync, openSync, readFileSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
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

// The holder touches the file this often; one untouched for STALE_MS was left by a process that is gone.
const TOUCH_MS = 10_000;
const STALE_MS = 3 * TOUCH_MS;

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
 * worked badly and silently. The lock is a file naming the process, touched every 10 s while it
 * runs. It is taken over when it was left by a process that is gone: one on this host whose pid is
 * no longer alive (a crash) or is this process's own (a container's PID 1 started again), or one
 * not touched for 30 s (another host's, or a container that came back under a new host name).
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
      const untouched = (() => {
        try {
          return Date.now() - statSync(file).mtimeMs > STALE_MS;
        } catch {
          return true;
        }
      })();
      // A fresh file not written yet is a server starting this moment: held too.
      const gone = untouched || (held !== undefined && held.host === me.host && (held.pid === me.pid || !alive(held.pid)));
      if (!gone) {
        const who = !held ? 'starting now' : held.host === me.host ? `process ${held.pid}` : `process ${held.pid} on ${held.host}`;
        throw new DataDirInUse(`another Yihao server (${who}) serves the data directory ${dataDir}: stop it first; if it is not running, delete ${file}`);
      }
      // Left by a process that is gone: ours to take.
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
    const touch = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(file, now, now);
      } catch {
        // Deleted by hand: the next start takes a new one.
      }
    }, TOUCH_MS);
    touch.unref();
    return () => {
      clearInterval(touch);
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
