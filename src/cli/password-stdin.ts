import { YihaoError } from '../errors.js';

/** Far above the password limit (128 characters, 4 bytes each) and any real client secret, far below anything silly. */
const MAX_BYTES = 1024;

type Stdin = NodeJS.ReadableStream & { isTTY?: boolean };

/**
 * Reads a secret (a password, a client secret) from the first line of stdin (the trailing newline,
 * and a CR before it, are not part of it). A terminal is refused: what is typed there would be
 * echoed on screen. `what` names the secret in messages; `tty` is the message for a terminal.
 */
export async function readSecretLine(stdin: Stdin, { what, tty }: { what: string; tty: string }): Promise<string> {
  if (stdin.isTTY) throw new YihaoError('invalid_input', tty);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const newline = buf.indexOf(0x0a);
    const part = newline === -1 ? buf : buf.subarray(0, newline);
    chunks.push(part);
    size += part.length;
    if (size > MAX_BYTES) throw new YihaoError('invalid_input', `the ${what} on stdin is too long`);
    if (newline !== -1) break;
  }
  const line = Buffer.concat(chunks).toString('utf8');
  const secret = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (secret === '') throw new YihaoError('invalid_input', `the ${what} on stdin is empty`);
  return secret;
}

/** The password for `--password-stdin`. */
export function readPasswordLine(stdin: Stdin): Promise<string> {
  return readSecretLine(stdin, {
    what: 'password',
    tty: `--password-stdin reads the password from a pipe, not a terminal (as in: printf '%s\\n' "$PASSWORD" | yihao account create ...)`,
  });
}

/**
 * All of stdin as text (a presentation or a bundle given as `-`), at most `maxBytes`: read from the
 * command's own stdin, as every command reads it, so that the CLI host of the tests can hand it one.
 */
export async function readStdinText(stdin: Stdin, { what, maxBytes }: { what: string; maxBytes: number }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) throw new YihaoError('invalid_input', `the ${what} on stdin is too large`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
