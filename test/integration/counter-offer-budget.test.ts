/** A staff member's offer-code budget under parallel requests (a review's attack, refused). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { counterClientOf, counterOffer, staffSignIn } from '../support/counter-staff.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

describe.runIf(pgAvailable && redisAvailable)('the counter offer budget in parallel (PostgreSQL + Redis)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ backend: 'postgres+redis', overrides: (c) => ({ ...c, sms: { ...c.sms, limits: { ...c.sms.limits, offerCodes: { ...c.sms.limits.offerCodes, perStaff: { max: 2, windowSeconds: 3600 } } } } }) });
  }, 120_000);
  afterAll(async () => h?.close());

  it('gives one staff member no more than perStaff offers when they are sent together', async () => {
    const client = await h.client({ name: '柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    const departmentId = await counterClientOf(h, client, '政务服务中心');
    const mk = async (seq: number, name: string, phone?: string) => {
      const citizenId = syntheticCitizenId({ seq });
      const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
      const a = await h.yihao.accounts.create({ citizenId, name, password, ...(phone ? { phone } : {}) });
      return { citizenId, password, sub: a.sub };
    };
    const staff = await mk(20, '钟柜员');
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    const token = (await staffSignIn(h, await relyingParty(h, client), staff)).access_token;
    const citizens = await Promise.all(Array.from({ length: 8 }, (_, i) => mk(21 + i, `市民${i}`, `1390000${String(2000 + i)}`)));
    const statuses = (await Promise.all(citizens.map((c) => counterOffer(h, token, c.citizenId)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length, String(statuses)).toBeLessThanOrEqual(2);
  });
});
