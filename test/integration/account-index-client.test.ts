/**
 * A grant's index row carries its app (migration 20261208_060), so that what a citizen allowed an
 * app before is one index probe (src/oidc/remembered-consent.ts): new grants get it as they are
 * saved, grants indexed before the migration are still found by their own record, and the lookup
 * finds the newest live grant for that app among many of the citizen's grants for other apps.
 */
import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { createAccountIndex } from '../../src/storage/account-index.js';
import { migrate } from '../../src/storage/database.js';
import { oidcAdapter } from '../../src/storage/oidc-adapter.js';
import { allowedBefore } from '../../src/oidc/remembered-consent.js';
import { auditStores } from '../support/audit.js';

const DAY = 86_400_000;
const grantPayload = (accountId: string, clientId: string, scope: string) => ({ kind: 'Grant', accountId, clientId, openid: { scope }, jti: 'x' });

describe.each(auditStores({ migrated: false }))('account index: grants by app ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('finds a grant indexed before the migration (no app on its row) by its record, and prefers one indexed with its app', async () => {
    const s = await open();
    try {
      const at = migrations.findIndex(([n]) => n === '20261208_060_account_index_client');
      for (const [, m] of migrations.slice(0, at)) await m.up(s.db);
      const later = Date.now() + DAY;
      const legacy = async (id: string, clientId: string, scope: string) => {
        await s.db('oidc_models').insert({ model: 'Grant', id, payload: JSON.stringify(grantPayload('sub-1', clientId, scope)), expires_at: later });
        await s.db('account_index').insert({ model: 'Grant', id, account_id: 'sub-1', expires_at: later });
      };
      for (let i = 0; i < 30; i++) await legacy(`old-b-${i}`, 'app-b', 'openid phone');
      await legacy('old-a', 'app-a', 'openid');
      await s.db('account_index').insert({ model: 'Session', id: 'uid-1', account_id: 'sub-1', expires_at: later });

      await migrations[at]![1].up(s.db);
      const rows = (await s.db('account_index').select('client_id')) as { client_id: string | null }[];
      expect(rows.every((r) => r.client_id === null)).toBe(true);

      const lookup = allowedBefore(s.db);
      expect(await lookup.find('sub-1', 'app-a')).toEqual({ scope: 'openid', claims: [], resources: {} });
      expect(await lookup.find('sub-1', 'app-b')).toMatchObject({ scope: 'openid phone' });
      expect(await lookup.find('sub-1', 'app-c')).toBeUndefined();
      expect(await lookup.find('sub-2', 'app-a')).toBeUndefined();

      // A grant saved from now on carries its app on its row, and is the one found.
      const grants = new (oidcAdapter({ db: s.db, accountIndex: createAccountIndex(s.db) }))('Grant');
      await grants.upsert('new-a', grantPayload('sub-1', 'app-a', 'openid profile'), 60);
      expect(((await s.db('account_index').where({ model: 'Grant', id: 'new-a' }).first()) as { client_id: string }).client_id).toBe('app-a');
      expect(await lookup.find('sub-1', 'app-a')).toMatchObject({ scope: 'openid profile' });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('indexes new grants with their app, and finds the newest live one for that app among many', async () => {
    const s = await open();
    try {
      await migrate(s.db);
      const index = createAccountIndex(s.db);
      const Adapter = oidcAdapter({ db: s.db, accountIndex: index });
      const grants = new Adapter('Grant');
      const lookup = allowedBefore(s.db);
      // Many grants of this citizen for another app, saved after the ones for this app.
      await grants.upsert('mine-old', grantPayload('sub-1', 'app-a', 'openid'), 3600);
      await grants.upsert('mine-new', grantPayload('sub-1', 'app-a', 'openid profile'), 7200);
      for (let i = 0; i < 40; i++) await grants.upsert(`other-${i}`, grantPayload('sub-1', 'app-b', 'openid phone'), 9000);
      await grants.upsert('someone-else', grantPayload('sub-2', 'app-a', 'openid profile phone'), 9000);

      const row = (await s.db('account_index').where({ model: 'Grant', id: 'mine-new' }).first()) as { client_id: string };
      expect(row.client_id).toBe('app-a');
      expect(await lookup.find('sub-1', 'app-a')).toEqual({ scope: 'openid profile', claims: [], resources: {} });
      expect(await lookup.find('sub-1', 'app-b')).toMatchObject({ scope: 'openid phone' });
      expect(await lookup.find('sub-1', 'app-c')).toBeUndefined();

      // The newest expired: the older one is what is left.
      await s.db('account_index').where({ model: 'Grant', id: 'mine-new' }).update({ expires_at: Date.now() - 1 });
      expect(await lookup.find('sub-1', 'app-a')).toMatchObject({ scope: 'openid' });
      // An index row that names another app than its grant says is not believed.
      await s.db('account_index').where({ model: 'Grant', id: 'other-0' }).update({ client_id: 'app-c', expires_at: Date.now() + DAY });
      expect(await lookup.find('sub-1', 'app-c')).toBeUndefined();
    } finally {
      await s.close();
    }
  });
});
