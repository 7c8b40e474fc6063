import pino, { type DestinationStream, type Logger } from 'pino';

/** pino's numeric level for `warn`: lines at or above it are written out at once. */
const WARN = 40;
/** Info lines (one per request) wait at most this long in the buffer when traffic is light. */
const IDLE_FLUSH_MS = 1_000;

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
 * Buffered stdout that does not sit on what an operator needs to see: a warning or an error is
 * handed to the terminal as soon as it is logged, and quieter lines within a second. Without this,
 * `npm start` showed nothing (not even the listening line) until 4 KiB had piled up or Ctrl-C.
 */
function terminal(): DestinationStream {
  // Asynchronous, buffered writes: a synchronous write per request line showed up in the token
  // benchmark. `flushLogger` drains the buffer on shutdown.
  const boom = pino.destination({ sync: false, minLength: 4096 });
  const idle = setInterval(() => boom.flush(), IDLE_FLUSH_MS);
  idle.unref();
  const stream = {
    // pino sets this before each write (see needsMetadataGsym below).
    lastLevel: 0,
    write(line: string) {
      boom.write(line);
      if (stream.lastLevel >= WARN) boom.flush();
    },
    flush(cb?: (err?: Error) => void) {
      boom.flush(cb);
    },
    flushSync() {
      boom.flushSync();
    },
    [pino.symbols.needsMetadataGsym]: true,
  };
  return stream;
}

/** Keys whose values are secret wherever they sit, at the top or one level down. */
const SECRET_KEYS = ['password', 'client_secret', 'citizenId', 'citizen_id', 'access_token', 'refresh_token', 'id_token', 'code', 'code_verifier', 'token', 'assertion', 'client_assertion'];
const REDACTED = [
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
  ...['authorization', 'cookie', 'set-cookie'].flatMap((h) => [`req.headers["${h}"]`, `headers["${h}"]`, `res.headers["${h}"]`]),
];

/**
 * What a request path may carry that a log line must not: a citizen ID number (18 characters, or
 * the old 15 digits) or a mobile number (11 digits), however its digits are grouped, so any 11 or
 * more digits (of any script) with nothing but non-letters between them; and the one-time code in a
 * QR hand-off's link (`/m/qr/<code>`). Each repeat starts with a digit and a separator is never one,
 * so matching stays linear in the path's length.
 */
const NUMBER_SHAPE = /\+?(?:\p{Nd}[^\p{L}\p{Nd}]*){10,}\p{Nd}[Xx]?/gu;
const CODE_IN_PATH = /^\/m\/qr\/[^/]+/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The path as the client meant it: percent-encoding undone (printable ASCII at least), and compatibility forms (fullwidth digits) folded. */
function spelledOut(path: string): string {
  // ASCII is its own NFKC form: most paths skip the ICU call.
  if (!path.includes('%')) return PRINTABLE_ASCII.test(path) ? path : path.normalize('NFKC');
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    decoded = path.replace(/%([2-7][0-9A-Fa-f])/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  return decoded.normalize('NFKC');
}

/**
 * A request path as a log line writes it: whatever the client sent, decoded, with the shapes above
 * taken out. Every log line that names a request's path goes through it.
 */
export function loggedPath(path: string): string {
  return spelledOut(path).replace(CODE_IN_PATH, '/m/qr/[redacted]').replace(NUMBER_SHAPE, '[redacted]');
}

/**
 * JSON logs to stdout (or `destination`, for tests). Redaction is a second line of defence: citizen
 * IDs and secrets are kept out of log calls in the first place.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const out = level === 'silent' ? undefined : (destination ?? terminal());
  const options = {
    level,
    base: { service: 'yihao' },
    serializers: { err: safeError, error: safeError },
    redact: {
      paths: REDACTED,
      censor: '[redacted]',
    },
  };
  return out ? pino(options, out) : pino(options);
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
  // A path is whatever the client sent (a 404 logs it too).
  return (line) => plain.info({ requestId: line.requestId, method: line.method, path: loggedPath(line.path), status: line.status, ms: line.ms }, 'request');
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
