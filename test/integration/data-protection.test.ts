/**
 * What someone who reads the stores (a Redis dump, a database backup) but holds no key learns of a
 * citizen: never an ID number or a mobile number in clear, whatever a relying party puts in its
 * requests. Run on both backends: the embedded one keeps short-lived records in SQL, the scaled-out
 * one in Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser } from '../support/scripted-browser.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { pgAvailable, redisAvailable, REDIS_URL } from '../support/services.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];

/** Everything the short-lived store holds, as text: the SQL table of oidc-provider's records, and every Redis key of this instance. */
async function shortLivedRecords(h: Harness): Promise<string> {
  const rows = (await h.yihao.stores.db('oidc_models').select('model', 'id', 'payload')) as { model: string; id: string; payload: string }[];
  const out = rows.map((r) => `${r.model} ${r.id} ${r.payload}`);
  if (h.env.REDIS_URL) {
    const redis = new Redis(REDIS_URL);
    try {
      for (const key of await redis.keys(`${h.env.YIHAO_REDIS_PREFIX}*`)) {
        const type = await redis.type(key);
        if (type === 'hash') out.push(`${key} ${JSON.stringify(await redis.hgetall(key))}`);
        else if (type === 'string') out.push(`${key} ${await redis.get(key)}`);
      }
    } finally {
      redis.disconnect();
    }
  }
  return out.join('\n');
}

describe.each(backends)('data at rest (%s)', (backend) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ backend });
  }, 60_000);
  afterAll(async () => h?.close());

  it('keeps an ID number or mobile number that an app sends as login_hint out of the stored interaction', async () => {
    const rp = await relyingParty(h, await h.client({ name: '社保查询' }));
    const citizenId = syntheticCitizenId();
    const phone = '13987650123';
    const seen: string[] = [];
    for (const hint of [citizenId, phone]) {
      const browser = new ScriptedBrowser();
      const { res, url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { login_hint: hint }));
      // The login page is shown: the interaction is stored and waits for the citizen.
      expect(res.status).toBe(200);
      expect(url.pathname).toMatch(/^\/interaction\//);
      seen.push(url.pathname.split('/')[2]!);
    }
    const stored = await shortLivedRecords(h);
    for (const uid of seen) expect(stored).toContain(uid);
    expect(stored).not.toContain(citizenId);
    expect(stored).not.toContain(phone);
  });
});
