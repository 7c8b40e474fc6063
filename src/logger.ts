import pino, { type Logger } from 'pino';

/**
 * JSON logs to stdout. Redaction is a second line of defence: citizen IDs and secrets are kept out
 * of log calls in the first place.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'yihao' },
    redact: {
      paths: ['password', '*.password', 'client_secret', '*.client_secret', 'citizenId', '*.citizenId', 'citizen_id', '*.citizen_id', 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
  });
}
export type { Logger };
