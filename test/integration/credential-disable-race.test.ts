/**
 * A credential request that passed its access-token check just before its account was disabled
 * must not leave a live credential behind. Disabling revokes every credential of the account in
 * one transaction (src/credentials/account-disabled.ts); a credential recorded after that, or while
 * it runs, would stay valid in its status list, and a verifier offline or at another department would
 * accept it until it expires. The attacker is the holder of the account being disabled (a fraud
 * found out), who keeps asking for credentials.
 */
import { describe, expect, it } from 'vitest';
import { AccountNotActive, credentialStore } from '../../src/credentials/credential-store.js';
import { auditStores } from '../support/audit.js';

const NOW = 1_796_000_000_000;
const credential = { accountId: 'acc-1', type: 'urn:test:identity', clientId: 'wallet', holderJkt: 'jkt-1', issuedAt: NOW, expiresAt: NOW + 86_400_000 };

describe.each(auditStores({ migrated: true }))('credentials of an account being disabled ($name)', ({ enabled, open }) => {
  async function withAccount() {
    const s = await open();
    await s.db('accounts').insert({ id: 'acc-1', sub: 'sub-1', status: 'active', citizen_index: 'idx-1', citizen_sealed: 'sealed', name: '测试', assurance: 'self_asserted', created_at: NOW, updated_at: NOW });
    const store = credentialStore(s.db, { statusListSize: 1024 });
    const live = async () => (await s.db('issued_credentials').where({ account_id: 'acc-1', status: 'valid' }).select('id')) as { id: string }[];
    return { s, store, live };
  }

  it.skipIf(!enabled)('records a credential for an active account', async () => {
    const { s, store, live } = await withAccount();
    try {
      await store.record(credential);
      expect(await live()).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('refuses to record one once the account was disabled after the request was let in', async () => {
    const { s, store, live } = await withAccount();
    try {
      await s.db.transaction(async (trx) => {
        await trx('accounts').where({ id: 'acc-1' }).update({ status: 'disabled', updated_at: NOW });
        await store.revokeAllOf('acc-1', NOW, trx);
      });
      await expect(store.record(credential)).rejects.toBeInstanceOf(AccountNotActive);
      expect(await live()).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('refuses to record one while the disable is in flight, after it revoked what there was', async () => {
    const { s, store, live } = await withAccount();
    try {
      let recorded: Promise<unknown> | undefined;
      await s.db.transaction(async (trx) => {
        // The disable's order (src/accounts/accounts.ts setStatus): the account row first, then its credentials.
        await trx('accounts').where({ id: 'acc-1' }).update({ status: 'disabled', updated_at: NOW });
        await store.revokeAllOf('acc-1', NOW, trx);
        recorded = store.record(credential).then(
          () => 'recorded',
          (e: unknown) => e,
        );
        // Long enough for an unguarded insert to land before this transaction commits.
        await new Promise((r) => setTimeout(r, 400));
      });
      expect(await recorded).toBeInstanceOf(AccountNotActive);
      expect(await live()).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
