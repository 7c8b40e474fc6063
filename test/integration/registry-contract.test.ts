import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCitizenId } from '../../src/identity/index.js';
import {
  createFileRegistry,
  createHttpRegistry,
  createInMemoryRegistry,
  type IdentityRegistry,
  type RegistryRecord,
} from '../../src/registry/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { loopbackOutbound } from '../support/outbound.js';

/**
 * One contract, run against every IdentityRegistry: the file registry, the in-memory registry, and
 * the HTTP client talking to a real local server that answers from the same records.
 */
const FIXTURE = fileURLToPath(new URL('../fixtures/registry.json', import.meta.url));

/** A population registry stand-in on 127.0.0.1: POST { citizen_id, name, phone? } → { result, checked_at, phone_result? }. */
async function startRegistryServer(records: IdentityRegistry): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { citizen_id: string; name: string; phone?: string };
          const result = await records.verify({ citizenId: parseCitizenId(body.citizen_id), name: body.name, ...(body.phone === undefined ? {} : { phone: body.phone }) });
          const phoneResult = body.phone === undefined ? {} : { phone_result: result.outcome === 'phone_mismatch' ? 'mismatch' : 'match' };
          const answer =
            result.outcome === 'match' || result.outcome === 'phone_mismatch'
              ? { result: 'match', checked_at: new Date().toISOString(), ...phoneResult }
              : { result: result.outcome };
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        } catch {
          res.writeHead(400).end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/verify`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const fixtureRecords: RegistryRecord[] = [
  { citizenId: '11010519491231002X', name: '张三', phones: ['+8613800138000'] },
  { citizenId: '440305199001010157', name: '李四', phones: ['13900139001', '+86 139 0013 9002'] },
  { citizenId: '650102198503120043', name: '阿依古丽·买买提' },
  { citizenId: '510107193010050882', name: '赵淑芬', status: 'deceased' },
];

interface Subject {
  registry: IdentityRegistry;
  close(): Promise<void>;
}

const implementations: [string, () => Promise<Subject>][] = [
  ['file registry', async () => ({ registry: createFileRegistry(FIXTURE), close: async () => {} })],
  ['in-memory registry', async () => ({ registry: createInMemoryRegistry(fixtureRecords), close: async () => {} })],
  [
    'HTTP registry',
    async () => {
      const server = await startRegistryServer(createFileRegistry(FIXTURE));
      const registry = createHttpRegistry({ endpoint: server.endpoint, timeoutMs: 2000, retries: 1, backoffMs: 20, outbound: loopbackOutbound() });
      return { registry, close: async () => (await registry.close?.(), await server.close()) };
    },
  ],
];

describe.each(implementations)('IdentityRegistry contract: %s', (_name, start) => {
  let subject: Subject;
  beforeAll(async () => {
    subject = await start();
  });
  afterAll(async () => {
    await subject?.close();
  });
  const verify = (citizenId: string, name: string) => subject.registry.verify({ citizenId: parseCitizenId(citizenId), name });

  it('matches a number with its name, saying when and by which registry', async () => {
    const before = Date.now() - 1000;
    const result = await verify('11010519491231002X', '张三');
    expect(result.outcome).toBe('match');
    if (result.outcome !== 'match') return;
    expect(result.checkedAt).toBeInstanceOf(Date);
    expect(result.checkedAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(result.checkedAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect(result.source).toMatch(/\S/);
  });

  it('matches whatever middle dot and spacing the citizen typed', async () => {
    expect((await verify('650102198503120043', '阿依古丽.买买提')).outcome).toBe('match');
    expect((await verify('650102198503120043', '  阿依古丽 ・ 买买提')).outcome).toBe('match');
  });

  it('answers mismatch for the wrong name', async () => {
    expect(await verify('440305199001010157', '李思')).toEqual({ outcome: 'mismatch' });
    expect(await verify('650102198503120043', '阿依古丽买买提')).toEqual({ outcome: 'mismatch' });
  });

  it('answers unknown for a number it does not hold', async () => {
    expect(await verify(syntheticCitizenId({ region: '530102' }), '李四')).toEqual({ outcome: 'unknown' });
  });

  it('answers mismatch for a deceased person', async () => {
    expect(await verify('510107193010050882', '赵淑芬')).toEqual({ outcome: 'mismatch' });
  });

  it('asked about a phone: matches only a number registered in the person\'s name, however it is written', async () => {
    const withPhone = (citizenId: string, name: string, phone: string) => subject.registry.verify({ citizenId: parseCitizenId(citizenId), name, phone });
    expect((await withPhone('11010519491231002X', '张三', '+8613800138000')).outcome).toBe('match');
    expect((await withPhone('440305199001010157', '李四', '+8613900139002')).outcome).toBe('match');
    expect((await withPhone('440305199001010157', '李四', '+8613900139001')).outcome).toBe('match');
    // Someone else's number, and a number in another person's name.
    expect(await withPhone('11010519491231002X', '张三', '+8613900139001')).toEqual({ outcome: 'phone_mismatch' });
    expect(await withPhone('11010519491231002X', '张三', '+8618612345678')).toEqual({ outcome: 'phone_mismatch' });
    // The name is checked first: a wrong name is a mismatch, whatever the phone.
    expect(await withPhone('11010519491231002X', '李四', '+8613800138000')).toEqual({ outcome: 'mismatch' });
  });
});
