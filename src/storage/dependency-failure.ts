/**
 * A store that the process needs is not reachable (at start-up, or for a request). Its message names
 * the store and never carries a password.
 */
export class DependencyUnavailable extends Error {
  override name = 'DependencyUnavailable';
}

// PostgreSQL SQLSTATE classes and codes that mean "the server went away, is not ready yet or has no
// room", not a problem with the statement: 08 connection exception, 53 insufficient resources (disk
// full, out of memory, too many connections), 57P01-57P03 shut down / cannot connect now.
const PG_UNAVAILABLE = /^(08...|53...|57P0[123])$/;
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
// ioredis's own errors while it has no usable connection, what Redis answers during a fail-over,
// and what it answers while it has no room (OOM: full under noeviction; MISCONF: its last snapshot
// failed and it refuses writes), is busy (a script running long) or lacks the replicas it must write to.
const REDIS_UNAVAILABLE =
  /^(Reached the max retries per request limit|Connection is closed|Stream isn't writeable|Command timed out|Failed to refresh slots cache|None of startup nodes is available|All sentinels are unreachable|MOVED |ASK |Too many Cluster redirections|Cluster isn't ready|READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM |MISCONF |BUSY |NOREPLICAS )/;
// SQLite: another process (the CLI) holds the file's write lock past the busy timeout, or the disk is full.
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL)/;
const PG_CLIENT_GONE = /^(Connection terminated|Client has encountered a connection error|timeout expired|Knex: Timeout acquiring a connection)/;

/**
 * Whether `err` says a store is unreachable or restarting (the request may succeed if sent again
 * shortly), as opposed to a bug or bad data. Looks through `cause` chains.
 */
export function isDependencyFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DependencyUnavailable) return true;
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && (NET_CODES.has(code) || PG_UNAVAILABLE.test(code) || SQLITE_UNAVAILABLE.test(code))) return true;
    if (name === 'MaxRetriesPerRequestError' || name === 'ClusterAllFailedError' || name === 'KnexTimeoutError') return true;
    if (typeof message === 'string' && (REDIS_UNAVAILABLE.test(message) || PG_CLIENT_GONE.test(message))) return true;
    // AggregateError (a connection attempt to each address of a host name) carries the real ones.
    if (Array.isArray((e as { errors?: unknown }).errors) && (e as { errors: unknown[] }).errors.some(isDependencyFailure)) return true;
  }
  return false;
}

/** Seconds a client should wait before retrying a request refused because a store was down. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * The ctx.state flag set by whoever caught a store failure and answered 500 itself (oidc-provider's
 * error handler, through its server_error event), for the outer app to turn into a 503.
 */
export const DEPENDENCY_DOWN = 'dependencyDown';
