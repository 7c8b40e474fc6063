/**
 * A grant's link to the key that made its login (storage/account-index.ts) is what removing the key
 * finds it by. It must outlive the artifact that made it by an access token's lifetime: an access
 * token issued from a refresh token just before the refresh token expires (a FAPI 2.0 client's is
 * never rotated, so never saved again) lives that much longer, and removing the key must still end it.
 */
import { describe, expect, it } from 'vitest';
import { createAccountIndex } from '../../src/storage/account-index.js';
import { oidcAdapter } from '../../src/storage/oidc-adapter.js';
import { withRequestMemo } from '../../src/storage/request-memo.js';
import { auditStores } from '../support/audit.js';

const ACCESS_TOKEN_SECONDS = 3600;
const facts = (extra: Record<string, string>) => ({ acr: 'urn:yihao:loa:2', amr: ['swk'], auth_time: Math.floor(Date.now() / 1000), channel: 'mobile', ...extra });

describe.each(auditStores({ migrated: true }))('account index: a key\'s link to its grants ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('keeps the link an access token\'s lifetime beyond the refresh token or code that made it', async () => {
    const s = await open();
    try {
      const index = createAccountIndex(s.db, { accessTokenSeconds: ACCESS_TOKEN_SECONDS });
      const Adapter = oidcAdapter({ db: s.db, accountIndex: index });
      const refreshTokens = new Adapter('RefreshToken');
      const codes = new Adapter('AuthorizationCode');
      const before = Date.now();
      await refreshTokens.upsert('rt-1', { kind: 'RefreshToken', accountId: 'sub-1', grantId: 'grant-1', facts: facts({ device_key: 'login', device_key_id: 'dk_one' }) }, 7200);
      await codes.upsert('code-1', { kind: 'AuthorizationCode', accountId: 'sub-1', grantId: 'grant-2', facts: facts({ passkey_id: 'pk-one' }) }, 60);
      expect(await index.grantsOfKey('sub-1', 'DeviceKeyGrant', 'dk_one')).toEqual(['grant-1']);
      expect(await index.grantsOfKey('sub-1', 'PasskeyGrant', 'pk-one')).toEqual(['grant-2']);

      const until = async (model: string, id: string) => Number(((await s.db('account_index').where({ model, id }).first('expires_at')) as { expires_at: number | string }).expires_at);
      expect(await until('DeviceKeyGrant', 'dk_one:grant-1')).toBeGreaterThanOrEqual(before + (7200 + ACCESS_TOKEN_SECONDS) * 1000);
      expect(await until('PasskeyGrant', 'pk-one:grant-2')).toBeGreaterThanOrEqual(before + (60 + ACCESS_TOKEN_SECONDS) * 1000);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('keeps the link as long as rotation keeps the grant alive, past the first refresh token\'s link', async () => {
    const s = await open();
    try {
      // Short lifetimes: the first refresh token's link ends 2 s after it was saved.
      const index = createAccountIndex(s.db, { accessTokenSeconds: 1 });
      const Adapter = oidcAdapter({ db: s.db, accountIndex: index });
      const rt = (id: string) => ({ kind: 'RefreshToken', jti: id, accountId: 'sub-5', grantId: 'grant-5', facts: facts({ device_key: 'login', device_key_id: 'dk_five' }) });
      const passkeyRt = (id: string) => ({ kind: 'RefreshToken', jti: id, accountId: 'sub-5', grantId: 'grant-6', facts: facts({ passkey_id: 'pk-six' }) });
      const refreshTokens = new Adapter('RefreshToken');
      await refreshTokens.upsert('rt-5a', rt('rt-5a'), 1);
      await refreshTokens.upsert('rt-6a', passkeyRt('rt-6a'), 1);
      // A token request rotates each: the old one consumed, its successor saved (one statement on SQL).
      for (const [old, next] of [[rt('rt-5a'), rt('rt-5b')], [passkeyRt('rt-6a'), passkeyRt('rt-6b')]] as const) {
        await withRequestMemo(async () => {
          const Rotating = new Adapter('RefreshToken');
          expect(await Rotating.find(old.jti)).toBeDefined();
          await Rotating.consume(old.jti);
          await Rotating.upsert(next.jti, next, 3600);
        });
      }
      await new Promise((r) => setTimeout(r, 2_200));
      expect(await refreshTokens.find('rt-5b')).toBeDefined();
      expect(await index.grantsOfKey('sub-5', 'DeviceKeyGrant', 'dk_five')).toEqual(['grant-5']);
      expect(await index.grantsOfKey('sub-5', 'PasskeyGrant', 'pk-six')).toEqual(['grant-6']);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)("names the keys of a grant's logins, and links a credential issued on them to each key until it expires", async () => {
    const s = await open();
    try {
      const index = createAccountIndex(s.db, { accessTokenSeconds: ACCESS_TOKEN_SECONDS });
      const Adapter = oidcAdapter({ db: s.db, accountIndex: index });
      await new Adapter('AuthorizationCode').upsert('code-9', { kind: 'AuthorizationCode', accountId: 'sub-9', grantId: 'grant-9', facts: facts({ passkey_id: 'pk-nine' }) }, 60);
      await new Adapter('RefreshToken').upsert('rt-9', { kind: 'RefreshToken', accountId: 'sub-9', grantId: 'grant-19', facts: facts({ device_key: 'login', device_key_id: 'dk_nine' }) }, 60);
      expect(await index.keysOfGrant('sub-9', 'grant-9')).toEqual([{ model: 'PasskeyGrant', id: 'pk-nine' }]);
      expect(await index.keysOfGrant('sub-9', 'grant-19')).toEqual([{ model: 'DeviceKeyGrant', id: 'dk_nine' }]);
      expect(await index.keysOfGrant('sub-other', 'grant-9')).toEqual([]);

      await index.linkCredential('sub-9', { model: 'PasskeyGrant', id: 'pk-nine' }, 'cred-1', Date.now() + 86_400_000);
      expect(await index.credentialsOfKey('sub-9', 'PasskeyGrant', 'pk-nine')).toEqual(['cred-1']);
      expect(await index.credentialsOfKey('sub-9', 'DeviceKeyGrant', 'pk-nine')).toEqual([]);
      // Not a grant of the key: removing the key ends no grant by the credential's link.
      expect(await index.grantsOfKey('sub-9', 'PasskeyGrant', 'pk-nine')).toEqual(['grant-9']);
      await index.unlinkCredential('PasskeyGrant', 'pk-nine', 'cred-1');
      expect(await index.credentialsOfKey('sub-9', 'PasskeyGrant', 'pk-nine')).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
