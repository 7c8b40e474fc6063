/**
 * Every checkpoint leaves the database: appended to a file and POSTed to a webhook (through the
 * outbound guard, here allowed to reach 127.0.0.1). The running server's sealer sends them.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

describe('checkpoint export', () => {
  let h: Harness | undefined;
  let receiver: Server | undefined;
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => receiver?.close(r));
  });

  it('appends each signed checkpoint to the export file and posts it to the webhook, and verify checks the copy', async () => {
    const received: string[] = [];
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', () => r()));
    const port = (receiver.address() as { port: number }).port;
    let file = '';
    h = await startHarness({
      overrides: (c) => {
        file = join(c.dataDir, 'checkpoints.jsonl');
        return {
          ...c,
          outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] },
          audit: { ...c.audit, sealIntervalMs: 100, export: { file, webhookUrl: `http://127.0.0.1:${port}/checkpoints` } },
        };
      },
    });
    await h.citizen();
    await h.yihao.services.audit.append({ action: 'admin.test.exported', actorType: 'system' });
    await expect.poll(async () => (await h!.yihao.services.audit.check()).unsealed.count, { timeout: 30_000, interval: 100 }).toBe(0);
    await h.yihao.auditSealer.stop();

    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(received).toEqual(lines);
    const last = JSON.parse(lines.at(-1)!) as { seq: number; hash: string; kid: string; jws: string };
    expect(last).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/), kid: h.yihao.services.auditKey.kid });
    const report = await h.yihao.services.audit.check();
    expect(report).toMatchObject({ intact: true, exported: lines.length });
    expect(report.lastCheckpoint?.seq).toBe(last.seq);
  });
});
