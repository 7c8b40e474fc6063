import type { Writable } from 'node:stream';

/** Where a command's answer goes: results to stdout, the one-line error to stderr. */
export interface Output {
  /** One result: a JSON document with --json, lines of text otherwise. */
  result(json: boolean | undefined, data: unknown, text: readonly string[]): void;
  /** A line of progress on a long command (stdout, before its result); commands skip it with --json. */
  progress(line: string): void;
  /** Help and usage text (stdout: asked for, so not an error). */
  help(text: string): void;
  /** The single error line, `yihao: <message>`. */
  error(message: string): void;
  /** Resolves once everything written has been handed to the operating system. */
  flush(): Promise<void>;
}

const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();

export function streamOutput(stdout: Writable, stderr: Writable): Output {
  const drained = (stream: Writable) => new Promise<void>((resolve) => stream.write('', () => resolve()));
  return {
    result(json, data, text) {
      stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : text.map((line) => `${line}\n`).join(''));
    },
    progress(line) {
      stdout.write(`${oneLine(line)}\n`);
    },
    help(text) {
      stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    error(message) {
      stderr.write(`yihao: ${oneLine(message)}\n`);
    },
    async flush() {
      await Promise.all([drained(stdout), drained(stderr)]);
    },
  };
}

/** Left-aligned columns, two spaces apart; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}
