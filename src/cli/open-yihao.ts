import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.js';
import type { Stores, Yihao } from '../yihao.js';

/** A command is done; closing the stores must not keep the process (a script) waiting for long. */
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Loads the provider modules on demand, so that help and bad input answer without loading
 * oidc-provider. Its import-time "Unsupported runtime" warning (Node 20) is dropped: the CLI's
 * stderr carries exactly one line when something is wrong, and the server already shows it.
 */
async function importYihao(): Promise<typeof import('../yihao.js')> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
    warn(...args);
  };
  try {
    return await import('../yihao.js');
  } finally {
    console.warn = warn;
  }
}

/**
 * Runs `use` with the same provider the server builds (same stores, secrets and services, so what
 * the CLI creates the server sees), then closes it. Logs are off: stdout belongs to the result.
 */
export async function withYihao<T>(config: Config, use: (yihao: Yihao) => Promise<T>): Promise<T> {
  const [{ createYihao, openStores }, { createLogger }] = await Promise.all([importYihao(), import('../logger.js')]);
  const stores = await openStores(config);
  // No command here needs Redis yet; a Redis that is down must not print ioredis's "Unhandled
  // error event" stack traces. A command that does use it fails on its own, with one line.
  stores.redis?.on('error', () => undefined);
  let yihao: Yihao | undefined;
  try {
    yihao = await createYihao(config, { logger: createLogger('silent'), stores });
    return await use(yihao);
  } finally {
    // The command's work is committed (or has failed) by now; a close that fails or hangs must not
    // turn a created client, whose secret is shown only once, into an error that invites a retry.
    const closed = new AbortController();
    await Promise.race([
      close(yihao, stores).finally(() => closed.abort()),
      sleep(CLOSE_TIMEOUT_MS, undefined, { signal: closed.signal }).catch(() => undefined),
    ]);
  }
}

/** `createYihao` leaves stores that it was given open: close them here, after the provider. */
async function close(yihao: Yihao | undefined, stores: Stores): Promise<void> {
  await yihao?.close().catch(() => undefined);
  await stores.db.destroy().catch(() => undefined);
  // Every command has awaited its work, so nothing is pending: no need for QUIT's round trip.
  stores.redis?.disconnect();
}
