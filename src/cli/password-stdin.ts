import { YihaoError } from '../errors.js';

/** Far above the service's 128-character limit (4 bytes a character), far below anything silly. */
const MAX_BYTES = 1024;

/**
 * Reads a password from the first line of stdin (the trailing newline, and a CR before it, are
 * not part of it). A terminal is refused: what is typed there would be echoed on screen.
 */
export async function readPasswordLine(stdin: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<string> {
  if (stdin.isTTY) {
    throw new YihaoError('invalid_input', `--password-stdin reads the password from a pipe, not a terminal (as in: printf '%s\\n' "$PASSWORD" | yihao account create ...)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const newline = buf.indexOf(0x0a);
    const part = newline === -1 ? buf : buf.subarray(0, newline);
    chunks.push(part);
    size += part.length;
    if (size > MAX_BYTES) throw new YihaoError('invalid_input', 'the password on stdin is too long');
    if (newline !== -1) break;
  }
  const line = Buffer.concat(chunks).toString('utf8');
  const password = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (password === '') throw new YihaoError('invalid_input', 'the password on stdin is empty');
  return password;
}
