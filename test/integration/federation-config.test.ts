/**
 * Upstreams defined in the configuration file: applied at start-up (added, then kept in step on
 * every restart), with the client secret read from a file, never from the configuration itself.
 * A change from the file lands with its record or not at all: a start whose record failed applied
 * the upstream all the same, and the next start, finding nothing to change, never recorded it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser } from '../support/scripted-browser.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';
import { configuredUpstream } from '../../src/federation/upstream.js';
import { loadConfig } from '../../src/config/index.js';
import { openDatabase } from '../../src/storage/database.js';
import { refuseAuditEvents } from '../support/audit.js';

describe('federation: upstreams from the configuration file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yihao-fed-config-'));
  const harnesses: Harness[] = [];
  let up: UpstreamOp | undefined;
  afterAll(async () => {
    await up?.close();
    for (const h of harnesses.reverse()) await h.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a configured upstream at start-up with its secret from a file, and keeps it in step on restart', async () => {
    const first = await startHarness();
    harnesses.push(first);
    up = await startUpstreamOp({ yihaoIssuer: first.issuer, name: 'configured' });
    await first.stop();
    const secretFile = join(dir, 'upstream-secret');
    writeFileSync(secretFile, `${up.clientSecret}\n`, { mode: 0o600 });
    const withUpstream = (displayNameEn: string, file = secretFile, signOutUpstream = false) => (c: Harness['config']) => ({
      ...c,
      outbound: { allowedNetworks: ['127.0.0.0/8'] },
      federation: {
        ...c.federation,
        upstreams: [configuredUpstream.parse({ name: 'configured', displayNameEn, issuer: up!.issuer, clientId: up!.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id', clientSecretFile: file, ...(signOutUpstream ? { signOutUpstream } : {}) })],
      },
    });

    const h = await startHarness({ reuse: first, overrides: withUpstream('Configured Province') });
    harnesses.push(h);
    const [defined] = await h.yihao.federation.upstreams.list();
    expect(defined).toMatchObject({ name: 'configured', displayNameEn: 'Configured Province', status: 'active', clientAuth: 'client_secret_basic', signOutUpstream: false });
    const stored = (await h.yihao.stores.db('federation_upstreams').first()) as { sealed_credential: string };
    expect(stored.sealed_credential).not.toContain(up.clientSecret);
    // An upstream decides who can sign in: the file's changes are audited like the CLI's, as the system.
    const upstreamEvents = async (x: Harness) =>
      ((await x.yihao.stores.db('audit_events').where('action', 'like', 'admin.upstream.%').orderBy('id').select('action', 'actor_type', 'actor_id', 'details')) as { action: string; actor_type: string; actor_id: string; details: string }[]).map(
        (e) => ({ ...e, details: JSON.parse(e.details) as Record<string, unknown> }),
      );
    expect(await upstreamEvents(h)).toEqual([
      { action: 'admin.upstream.added', actor_type: 'system', actor_id: 'config', details: expect.objectContaining({ upstream: 'configured', via: 'config', after: expect.objectContaining({ issuer: up.issuer, display_name_en: 'Configured Province' }) }) },
    ]);
    expect(JSON.stringify(await upstreamEvents(h))).not.toContain(up.clientSecret);

    up.citizens.set('c1', { claims: { citizen_id: syntheticCitizenId(), name: '冯二' } });
    const rp = await relyingParty(h, await h.client({}));
    const { step } = await federatedWalk(new ScriptedBrowser(), h, up, 'configured', 'c1', await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { ui_locales: 'en' }));
    expect(step.kind).toBe('rp');

    // A restart with the same definition records nothing; one with a changed definition updates it in place, recorded.
    await h.stop();
    const same = await startHarness({ reuse: h, overrides: withUpstream('Configured Province') });
    harnesses.push(same);
    expect(await upstreamEvents(same)).toHaveLength(1);
    await same.stop();
    const again = await startHarness({ reuse: same, overrides: withUpstream('Renamed Province', secretFile, true) });
    harnesses.push(again);
    expect((await again.yihao.federation.upstreams.list()).map((u) => [u.name, u.displayNameEn, u.signOutUpstream])).toEqual([['configured', 'Renamed Province', true]]);
    expect((await upstreamEvents(again)).slice(1)).toEqual([
      {
        action: 'admin.upstream.updated',
        actor_type: 'system',
        actor_id: 'config',
        details: expect.objectContaining({
          upstream: 'configured',
          via: 'config',
          before: expect.objectContaining({ display_name_en: 'Configured Province', sign_out_upstream: false }),
          after: expect.objectContaining({ display_name_en: 'Renamed Province', sign_out_upstream: true }),
        }),
      },
    ]);

    // A secret file that cannot be read stops the start with one line naming the setting.
    await again.stop();
    await expect(startHarness({ reuse: again, overrides: withUpstream('x', join(dir, 'missing')) })).rejects.toThrow(
      'configuration: federation.upstreams.0.clientSecretFile cannot be read (ENOENT)',
    );
  });

  it('applies no upstream from the file without its record: the start fails, and the next one applies it, recorded once', async () => {
    const first = await startHarness();
    harnesses.push(first);
    const op = await startUpstreamOp({ yihaoIssuer: first.issuer, name: 'recorded' });
    try {
      const secretFile = join(dir, 'recorded-secret');
      writeFileSync(secretFile, `${op.clientSecret}\n`, { mode: 0o600 });
      const withUpstream = (c: Harness['config']) => ({
        ...c,
        outbound: { allowedNetworks: ['127.0.0.0/8'] },
        federation: { ...c.federation, upstreams: [configuredUpstream.parse({ name: 'recorded', issuer: op.issuer, clientId: op.clientId, citizenIdClaim: 'citizen_id', clientSecretFile: secretFile })] },
      });
      // The audit store refuses the record (a trigger in the SQLite file, which outlives the stop).
      await refuseAuditEvents(first.yihao.stores.db, 'admin.upstream.added');
      await first.stop();
      await expect(startHarness({ reuse: first, overrides: withUpstream })).rejects.toThrow();
      const db = openDatabase({ dataDir: first.env.YIHAO_DATA_DIR! });
      try {
        expect(await db('federation_upstreams'), 'the upstream was applied without its record').toHaveLength(0);
        await db.raw('drop trigger refuse_audit');
      } finally {
        await db.destroy();
      }
      const h = await startHarness({ reuse: first, overrides: withUpstream });
      harnesses.push(h);
      expect((await h.yihao.federation.upstreams.list()).map((u) => u.name)).toEqual(['recorded']);
      expect(await h.yihao.stores.db('audit_events').where({ action: 'admin.upstream.added' })).toHaveLength(1);
    } finally {
      await op.close();
    }
  });

  it('refuses a bad upstream in the configuration file with one line naming the setting', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ federation: { upstreams: [{ name: 'p', issuer: 'not a url', clientId: 'c', citizenIdClaim: 'x' }] } }));
    expect(() => loadConfig({ NODE_ENV: 'test', YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file })).toThrow('configuration: federation.upstreams.0.issuer must be an absolute URL');
    writeFileSync(file, JSON.stringify({ federation: { upstreams: [{ name: 'p', issuer: 'https://a.example', clientId: 'c', citizenIdClaim: 'x', clientSecret: 'inline' }] } }));
    expect(() => loadConfig({ NODE_ENV: 'test', YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file })).toThrow(/configuration: federation.upstreams.0/);
  });
});
