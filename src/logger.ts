import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * ioredis attaches the failed command to its errors (`command: { name, args }`), and the args are
 * whatever was being written: a whole Interaction or Session, with personal data. Logs keep the
 * command's name and lose its arguments, at any depth (a `cause`, a Cluster's `lastNodeError`).
 */
function withoutCommandArgs(value: unknown, seen = new WeakSet<object>()): unknown {
  if (!value || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => withoutCommandArgs(v, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'command' && v && typeof v === 'object' && 'args' in v) {
      const { name } = v as { name?: unknown };
      out[k] = { name, args: '[redacted]' };
    } else out[k] = withoutCommandArgs(v, seen);
  }
  return out;
}

const safeError = (e: unknown): unknown => withoutCommandArgs(e instanceof Error ? pino.stdSerializers.err(e) : e);

/**
 * JSON logs to stdout. Redaction is a second line of defence: citizen IDs and secrets are kept out
 * of log calls in the first place.
 */
export function createLogger(level: string, to?: DestinationStream): Logger {
  // Asynchronous, buffered writes: a synchronous write per request line showed up in the token
  // benchmark. `flushLogger` drains the buffer on shutdown.
  const destination = level === 'silent' ? undefined : (to ?? pino.destination({ sync: false, minLength: 4096 }));
  const options = {
    level,
    base: { service: 'yihao' },
    serializers: { err: safeError, error: safeError },
    redact: {
      paths: ['password', '*.password', 'client_secret', '*.client_secret', 'citizenId', '*.citizenId', 'citizen_id', '*.citizen_id', 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** The fields of the one line logged for every request; nothing else can be passed. */
export interface RequestLine {
  requestId: string;
  method: string;
  path: string;
  status: number;
  ms: number;
}

/**
 * Logs the per-request line. Its fields are fixed and none of them is a key that redaction
 * censors, so it skips the redaction pass: on the token path that pass was half the line's cost.
 * Everything else (errors, events) still goes through the redacting logger.
 */
export function requestLog(logger: Logger): (line: RequestLine) => void {
  const plain = logger.child({}, { redact: { paths: [] } });
  return (line) => plain.info({ requestId: line.requestId, method: line.method, path: line.path, status: line.status, ms: line.ms }, 'request');
}

/** Writes out buffered log lines; call before the process exits. */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // nothing buffered, or the destination is already closed
  }
}
export type { Logger };
