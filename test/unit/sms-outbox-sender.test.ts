import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOutboxSender, latestOutboxCode, outboxPath, readOutbox } from '../../src/sms/index.js';

const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'yihao-sms-outbox-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const text = (code: string) => `【一号】验证码 ${code}，用于注册一号账号，5 分钟内有效。请勿告诉他人。`;

describe('outbox SMS sender', () => {
  it('writes each message as a JSON line to <dataDir>/sms-outbox.jsonl with file mode 0600', async () => {
    const dir = join(dataDir(), 'nested');
    const sender = createOutboxSender({ dataDir: dir, now: () => 1_700_000_000_000 });
    expect(sender.path).toBe(join(dir, 'sms-outbox.jsonl'));
    expect(outboxPath(dir)).toBe(sender.path);
    await sender.send({ to: '+8613800138000', text: text('123456'), purpose: 'register' });
    await sender.send({ to: '+8613900139000', text: text('654321'), purpose: 'login' });
    expect(statSync(sender.path).mode & 0o777).toBe(0o600);
    expect(await readOutbox(sender.path)).toEqual([
      { at: 1_700_000_000_000, to: '+8613800138000', purpose: 'register', text: text('123456') },
      { at: 1_700_000_000_000, to: '+8613900139000', purpose: 'login', text: text('654321') },
    ]);
  });

  it('tightens an existing outbox file to 0600', async () => {
    const dir = dataDir();
    writeFileSync(outboxPath(dir), '');
    chmodSync(outboxPath(dir), 0o644);
    await createOutboxSender({ dataDir: dir }).send({ to: '+8613800138000', text: text('123456'), purpose: 'register' });
    expect(statSync(outboxPath(dir)).mode & 0o777).toBe(0o600);
  });

  it('reads the messages to one number, however it is spelled, and the latest code', async () => {
    const sender = createOutboxSender({ dataDir: dataDir() });
    await sender.send({ to: '+8613800138000', text: text('111111'), purpose: 'register' });
    await sender.send({ to: '+8613900139000', text: text('222222'), purpose: 'register' });
    await sender.send({ to: '+8613800138000', text: text('333333'), purpose: 'login' });
    expect((await readOutbox(sender.path, '138 0013 8000')).map((m) => m.purpose)).toEqual(['register', 'login']);
    expect(await latestOutboxCode(sender.path, '13800138000')).toBe('333333');
    expect(await latestOutboxCode(sender.path, '+8613800138000', 'register')).toBe('111111');
    expect(await latestOutboxCode(sender.path, '+8613700137000')).toBeUndefined();
  });

  it('keeps lines whole when many messages are sent at once', async () => {
    const sender = createOutboxSender({ dataDir: dataDir() });
    await Promise.all(Array.from({ length: 50 }, (_, i) => sender.send({ to: '+8613800138000', text: text(String(i).padStart(6, '0')), purpose: 'login' })));
    const messages = await readOutbox(sender.path);
    expect(messages).toHaveLength(50);
    expect(new Set(messages.map((m) => m.text)).size).toBe(50);
  });

  it('reads a missing outbox as empty', async () => {
    expect(await readOutbox(join(dataDir(), 'sms-outbox.jsonl'))).toEqual([]);
  });
});
