import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS, rowHash } from '../../src/audit/audit-chain.js';

const row = { at: 1764460800000, action: 'login.succeeded', actor_type: 'citizen', actor_id: 's1', account_id: 's1', client_id: 'c1', channel: 'web', ip: '127.0.0.1', request_id: 'r1', details: '{"acr":"urn:yihao:loa:1"}', department_id: null };

describe('audit chain encoding', () => {
  it('hashes rows without a department exactly as before the column existed, so older rows still verify', () => {
    const before = createHash('sha256')
      .update(GENESIS)
      .update(JSON.stringify([row.at, row.action, row.actor_type, row.actor_id, row.account_id, row.client_id, row.channel, row.ip, row.request_id, row.details]))
      .digest('hex');
    expect(rowHash(GENESIS, row)).toBe(before);
  });

  it('covers the department when there is one, and chains to the previous hash', () => {
    const withDept = rowHash(GENESIS, { ...row, department_id: 'dp_1' });
    expect(withDept).not.toBe(rowHash(GENESIS, row));
    expect(rowHash(withDept, row)).not.toBe(rowHash(GENESIS, row));
    // BIGINT columns may come back as strings from some drivers: the encoding does not change.
    expect(rowHash(GENESIS, { ...row, at: String(row.at) as unknown as number })).toBe(rowHash(GENESIS, row));
  });
});
