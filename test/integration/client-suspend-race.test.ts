/**
 * A client an operator suspends must stay out of the provider, whatever another operator's action
 * on it was doing at that moment. Approving a change, rotating the secret and resuming each commit
 * the client's row and then write the provider's client store (src/admin/client-service.ts). A
 * suspension that commits in between, and takes the client out, must not be undone by that later
 * write: the attacker is whoever holds the client's secret, and the operator who suspended it
 * (a leaked secret, a compromised app) sees "suspended" while the token endpoint still serves it.
 * The other way round too: a resume that lands while a suspension is still taking the client out
 * leaves it live.
 *
 * The interleaving is forced, not waited for: the racing action runs on the server's own stores
 * with one seam, its write to the provider's store, where the other operator's request is made
 * through the admin API and answered before the write goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientService } from '../../src/admin/client-service.js';
import type { Operator } from '../../src/admin/index.js';
import { liveClients, type LiveClients } from '../../src/clients/index.js';
import { nationalTree } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const settings = (name: string) => ({ client_name: name, grant_types: ['client_credentials'], redirect_uris: [], scope: 'openid' });

describe.each(backends)('a client suspended while another action puts it live ($name)', ({ name, enabled }) => {
  let h: Harness;
  let tree: Awaited<ReturnType<typeof nationalTree>>;
  /** The same operators, for the racing action that runs on the service itself. */
  let as: { deptAdmin: Operator; reviewer: Operator };

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    tree = await nationalTree(h);
    const boot = h.yihao.admin.services.bootstrap;
    as = { deptAdmin: await boot.operatorFor(tree.deptAdmin.sub), reviewer: await boot.operatorFor(tree.reviewer.sub) };
  });
  afterAll(async () => h?.close());

  /** An active service client of the nation, registered and approved through the admin API. */
  async function activeClient(label: string): Promise<{ clientId: string; secret: string }> {
    const made = await tree.deptAdmin.api('POST', '/clients', { department_id: tree.dept.nation.id, settings: settings(label) });
    expect(made.status).toBe(201);
    const submitted = await tree.deptAdmin.api('POST', `/client-changes/${made.body.change.id}/submit`);
    const approved = await tree.reviewer.api('POST', `/client-changes/${made.body.change.id}/approve`, { revision: submitted.body.revision });
    expect(approved.body.client?.status).toBe('active');
    return { clientId: made.body.client.client_id as string, secret: made.body.client_secret as string };
  }

  /**
   * The admin services' client lifecycle on the server's own stores and provider, with one seam:
   * `before[write]` runs once, just before the first such write to the provider's client store.
   */
  function racingClients(before: Partial<Record<'publish' | 'unpublish', () => Promise<void>>>) {
    const { stores, guard } = h.yihao.admin.services;
    const live = liveClients({ Adapter: h.yihao.services.Adapter, provider: () => h.yihao.holder.current, recorded: stores.clients });
    const once = async (write: 'publish' | 'unpublish') => {
      const step = before[write];
      delete before[write];
      await step?.();
    };
    const seamed: LiveClients = {
      ...live,
      publish: async (clientId, metadata) => (await once('publish'), live.publish(clientId, metadata)),
      unpublish: async (clientId) => (await once('unpublish'), live.unpublish(clientId)),
    };
    return clientService({ store: stores.clients, departments: stores.departments, guard, live: seamed, secrets: h.yihao.services.clientSecrets, secretGrace: { defaultSeconds: 600, maxSeconds: 3600 } });
  }

  /** What the token endpoint answers the client's own client_credentials request. */
  const tokenStatus = async (c: { clientId: string; secret: string }) =>
    (
      await fetch(`${h.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${c.clientId}:${c.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=openid',
      })
    ).status;
  const served = async (clientId: string) => new h.yihao.services.Adapter('Client').find(clientId);
  const statusOf = async (clientId: string) => (await tree.deptAdmin.api('GET', `/clients/${clientId}`)).body.client.status as string;

  /** The other operator's suspension, through the admin API, answered before the racing write goes on. */
  const suspendThroughApi = (clientId: string, answers: number[]) => async () => {
    answers.push((await tree.deptAdmin.api('POST', `/clients/${clientId}/suspend`, { reason: '密钥泄露' })).status);
  };

  it.skipIf(!enabled)('keeps a client suspended between a resume’s commit and its publish out of the provider', async () => {
    const c = await activeClient('恢复竞争');
    expect((await tree.deptAdmin.api('POST', `/clients/${c.clientId}/suspend`, { reason: '检查' })).status).toBe(200);
    const answers: number[] = [];
    await racingClients({ publish: suspendThroughApi(c.clientId, answers) }).resume(as.deptAdmin, c.clientId);
    expect(answers).toEqual([200]);
    expect(await statusOf(c.clientId)).toBe('suspended');
    expect(await tokenStatus(c)).toBe(401);
    expect(await served(c.clientId)).toBeUndefined();
  });

  it.skipIf(!enabled)('keeps a client suspended between a secret rotation’s commit and its publish out of the provider, with either secret', async () => {
    const c = await activeClient('轮换竞争');
    const answers: number[] = [];
    const rotated = await racingClients({ publish: suspendThroughApi(c.clientId, answers) }).rotateSecret(as.deptAdmin, c.clientId, { grace_seconds: 600 });
    expect(answers).toEqual([200]);
    expect(await statusOf(c.clientId)).toBe('suspended');
    expect([await tokenStatus(c), await tokenStatus({ ...c, secret: rotated.clientSecret })]).toEqual([401, 401]);
    expect(await served(c.clientId)).toBeUndefined();
  });

  it.skipIf(!enabled)('keeps a client suspended between an approval’s commit and its publish out of the provider', async () => {
    const c = await activeClient('审批竞争');
    const drafted = await tree.deptAdmin.api('POST', `/clients/${c.clientId}/changes`, settings('审批竞争 2.0'));
    const submitted = await tree.deptAdmin.api('POST', `/client-changes/${drafted.body.id}/submit`);
    const answers: number[] = [];
    const done = await racingClients({ publish: suspendThroughApi(c.clientId, answers) }).approve(as.reviewer, drafted.body.id as string, { revision: submitted.body.revision });
    expect(done.change.status).toBe('approved');
    expect(answers).toEqual([200]);
    expect(await statusOf(c.clientId)).toBe('suspended');
    expect(await tokenStatus(c)).toBe(401);
    expect(await served(c.clientId)).toBeUndefined();
    // Resumed later, it comes back with the approved settings.
    expect((await tree.deptAdmin.api('POST', `/clients/${c.clientId}/resume`)).status).toBe(200);
    expect(await served(c.clientId)).toMatchObject({ client_name: '审批竞争 2.0' });
    expect(await tokenStatus(c)).toBe(200);
  });

  it.skipIf(!enabled)('keeps a client resumed between a suspension’s commit and its unpublish in the provider', async () => {
    const c = await activeClient('暂停竞争');
    const answers: number[] = [];
    const resumeThroughApi = async () => {
      answers.push((await tree.deptAdmin.api('POST', `/clients/${c.clientId}/resume`)).status);
    };
    await racingClients({ unpublish: resumeThroughApi }).suspend(as.deptAdmin, c.clientId, { reason: '检查' });
    expect(answers).toEqual([200]);
    expect(await statusOf(c.clientId)).toBe('active');
    expect(await tokenStatus(c)).toBe(200);
    expect(await served(c.clientId)).toMatchObject({ client_id: c.clientId });
  });
});
