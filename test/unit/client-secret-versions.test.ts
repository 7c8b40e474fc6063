import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { clientSecrets } from '../../src/clients/client-secrets.js';
import { createPurposeKeys } from '../../src/identity/index.js';

describe('client secret HMAC versions', () => {
  const keys = createPurposeKeys({ indexKey: randomBytes(32).toString('base64') });

  it('checks each stored HMAC under the version it names, and stores new secrets under the current one', () => {
    const before = clientSecrets(keys, { clientSecret: 1, firstPartySecret: 1 });
    const after = clientSecrets(keys, { clientSecret: 2, firstPartySecret: 1 });
    const old = before.generate();
    expect(old.stored.startsWith('hmac1$')).toBe(true);
    expect(after.matches(old.stored, old.secret)).toBe(true);
    const fresh = after.generate();
    expect(fresh.stored.startsWith('hmac2$')).toBe(true);
    expect(after.matches(fresh.stored, fresh.secret)).toBe(true);
    expect(after.matches(fresh.stored, old.secret)).toBe(false);
    // A version label edited in the store does not make another version's HMAC pass.
    expect(after.matches(old.stored.replace('hmac1$', 'hmac2$'), old.secret)).toBe(false);
    expect(after.matches('plain', 'plain')).toBe(false);
  });

  it('gives first-party clients a new secret when their version moves', () => {
    const v1 = clientSecrets(keys, { clientSecret: 1, firstPartySecret: 1 });
    const v2 = clientSecrets(keys, { clientSecret: 1, firstPartySecret: 2 });
    expect(v1.firstPartySecret('portal', 'https://id.example')).not.toBe(v2.firstPartySecret('portal', 'https://id.example'));
    expect(v1.firstPartySecret('portal', 'https://id.example')).toBe(clientSecrets(keys).firstPartySecret('portal', 'https://id.example'));
  });
});
