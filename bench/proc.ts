/** What the bench reads from /proc (Linux): CPU time and memory of processes, and how busy the machine is. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

const CLK_TCK = 100; // USER_HZ; 100 on every mainstream Linux build

/** CPU time (user + system, all threads) a process has used so far, in ms; NaN when /proc can't tell. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN; // not Linux, or the process is gone
  }
}

/**
 * Resident memory now (VmRSS) and at its peak so far (VmHWM), in MB, and what the resident memory
 * is: anonymous (heaps, malloc, stacks) or file-backed (the node binary and libraries mapped in).
 */
export function memoryMb(pid: number): { rss: number; peak: number; anon: number; file: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
  } catch {
    return { rss: NaN, peak: NaN, anon: NaN, file: NaN };
  }
}

/**
 * CPU used by the server processes under test and, on PostgreSQL, by the database backends that
 * serve their connections (found by application_name). Backends come and go with the pool, so a
 * sample keeps each one's figure by pid; one that appears during a measurement counts in full.
 */
export interface CpuSample {
  server: number;
  db: Map<number, number>;
}
export interface CpuMeter {
  sample(): Promise<CpuSample>;
}

export function cpuMeter(serverPids: number[], dbPids?: () => Promise<number[]>): CpuMeter {
  return {
    async sample() {
      const db = new Map<number, number>();
      for (const pid of (await dbPids?.()) ?? []) db.set(pid, processCpuMs(pid));
      return { server: serverPids.reduce((n, pid) => n + processCpuMs(pid), 0), db };
    },
  };
}

export function cpuSpent(before: CpuSample, after: CpuSample): { serverMs: number; dbMs: number } {
  let dbMs = 0;
  for (const [pid, ms] of after.db) if (Number.isFinite(ms)) dbMs += ms - (before.db.get(pid) ?? 0);
  return { serverMs: after.server - before.server, dbMs };
}

/** Busy and total CPU time of the whole machine so far (jiffies), from /proc/stat. */
export function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = fields[3]! + fields[4]!; // idle + iowait
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export const QUIET_BUSY = 0.25;

/**
 * Other engineers' test runs share these machines. Waits (up to `maxSeconds`) for a second in which
 * the machine is mostly idle; returns the busy share of the last second sampled.
 */
export async function waitForQuiet(maxSeconds: number): Promise<{ busy: number; waited: number }> {
  const started = Date.now();
  for (;;) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const b = machineCpu();
    if (!a || !b) return { busy: NaN, waited: 0 };
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    const waited = (Date.now() - started) / 1000;
    if (busy < QUIET_BUSY || waited >= maxSeconds) return { busy, waited };
  }
}

export const loadavg = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
