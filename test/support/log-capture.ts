import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.js';

/** A logger whose lines a test reads back: `text()` all of them, `entries()` each parsed. */
export function logCapture(level = 'trace'): { logger: Logger; lines: string[]; text(): string; entries(): Record<string, unknown>[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const text = () => lines.join('');
  return {
    logger: createLogger(level, stream),
    lines,
    text,
    entries: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
