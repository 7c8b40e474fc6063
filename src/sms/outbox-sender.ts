import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normalisePhone } from '../accounts/phone.js';
import type { SmsMessage, SmsSender } from './sms-sender.js';

/** One line of the outbox. */
export interface OutboxMessage extends SmsMessage {
  /** Epoch milliseconds when the message was written. */
  readonly at: number;
}

export interface OutboxSender extends SmsSender {
  /** The JSON-lines file the messages go to. */
  readonly path: string;
}

export const outboxPath = (dataDir: string): string => join(dataDir, 'sms-outbox.jsonl');

/**
 * The development sender: every message becomes one JSON line in `<dataDir>/sms-outbox.jsonl`
 * (file mode 0600: the codes in it are live), where tests and a local operator read it back.
 * Not for production: nothing leaves the machine.
 */
export function createOutboxSender({ dataDir, now = Date.now }: { dataDir: string; now?: () => number }): OutboxSender {
  const path = outboxPath(dataDir);
  return {
    path,
    local: true,
    async send({ to, text, purpose }: SmsMessage): Promise<void> {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      const line = `${JSON.stringify({ at: now(), to, purpose, text } satisfies OutboxMessage)}\n`;
      // One write per line on an O_APPEND handle, so concurrent senders never interleave lines.
      const file = await open(path, 'a', 0o600);
      try {
        // The mode above applies only when the file is created; tighten one that was made otherwise.
        if (((await file.stat()).mode & 0o777) !== 0o600) await file.chmod(0o600);
        await file.writeFile(line, 'utf8');
      } finally {
        await file.close();
      }
    },
  };
}

/** The messages in an outbox, oldest first, optionally only those to one number (any accepted spelling). */
export async function readOutbox(path: string, to?: string): Promise<OutboxMessage[]> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const wanted = to === undefined ? undefined : (normalisePhone(to) ?? to);
  const messages: OutboxMessage[] = [];
  for (const line of content.split('\n')) {
    if (line.trim() === '') continue;
    const message = JSON.parse(line) as OutboxMessage;
    if (wanted === undefined || message.to === wanted) messages.push(message);
  }
  return messages;
}

/** The code in the latest message to `to` (for `purpose`, if given), or undefined. */
export async function latestOutboxCode(path: string, to: string, purpose?: string): Promise<string | undefined> {
  const messages = (await readOutbox(path, to)).filter((m) => purpose === undefined || m.purpose === purpose);
  const latest = messages.at(-1);
  return latest ? /\d{6}/.exec(latest.text)?.[0] : undefined;
}
