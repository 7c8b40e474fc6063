import { randomBytes } from 'node:crypto';
import { totpPurpose } from '../../src/mfa/second-factors.js';
import { newTotpSecret } from '../../src/mfa/totp.js';
import type { Harness } from './harness.js';

/**
 * An authenticator app already set up for the account, stored as an enrolment stores it (the
 * secret sealed for its credential id), with three recovery codes beside it. Returns the
 * credential id and the secret the citizen's app holds.
 */
export async function addTotp(h: Harness, accountId: string): Promise<{ id: string; secret: string }> {
  const secret = newTotpSecret();
  const id = `c_${randomBytes(12).toString('base64url')}`;
  const db = h.yihao.stores.db;
  await db('credentials').insert({ id, account_id: accountId, type: 'totp', secret: h.yihao.services.sealer.seal(secret, totpPurpose(id)), created_at: Date.now(), last_used_at: null, counter: null });
  await db('recovery_codes').insert(['a', 'b', 'c'].map((c) => ({ account_id: accountId, code_hash: `${c}${id}`.slice(0, 64), created_at: Date.now(), used_at: null })));
  return { id, secret };
}

