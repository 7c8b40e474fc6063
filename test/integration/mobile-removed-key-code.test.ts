/**
 * A removed key and the code its login was issued (channels/mobile/removed-key-logins.ts), found by
 * a second review: the check at code redemption read the key from `issuedFacts(token)`, i.e.
 * `token.extra`, which an AuthorizationCode never has (oidc-provider keeps `extra` on access tokens
 * only), so it never looked. A removal landing just after the resume's look
 * (before the session and the code are written, so nothing is there for it to end) then leaves a
 * code that redeems to live tokens. The interleaving is forced by wrapping deviceKeys.find.
 * Synthetic IDs, seq 780-799.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { relyingParty } from '../support/relying-party.js';
import { formAction, formField, go } from '../support/scripted-browser.js';
import { phoneWithDeviceKey, registerMobileApp, startQrSignIn } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

let seq = 780;

describe.each(backends)('a removed key and the code its login was issued ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string };
  let rp: oidc.Configuration;

  const citizen = async () => {
    const citizenId = syntheticCitizenId({ seq: seq++ });
    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const account = await h.yihao.accounts.create({ citizenId, name: '张三', password });
    return { citizenId, password, sub: account.sub, name: '张三' };
  };

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    app = await registerMobileApp(h);
    rp = await relyingParty(h, await h.client({ name: '公积金查询', firstParty: true }));
  });
  afterAll(async () => h?.close());

  it.skipIf(!enabled)('gives no live tokens when the key is removed right after the resume looked at it', async () => {
    const { phone } = await phoneWithDeviceKey(h, app, await citizen());
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    expect(scanned.status).toBe(200);
    expect((await phone.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    const res = await qr.browser.request(new URL(formAction(qr.qr.html, '/qr/complete')!, qr.origin), { form: { csrf: formField(qr.qr.html, 'csrf')! } });
    expect(res.status).toBe(303);

    // The removal lands just after the resume's look at the key: the look answers "still there".
    const dk = h.yihao.channels.deviceKeys as unknown as { find: (id: string) => Promise<unknown> };
    const find = dk.find;
    let removedAt: number | undefined;
    let lookups = 0;
    dk.find = async (id: string) => {
      const found = await find.call(dk, id);
      if (id === phone.deviceKeyId && removedAt === undefined && found) {
        removedAt = Date.now();
        dk.find = find;
        expect((await phone.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)).status).toBe(204);
      }
      lookups++;
      return found;
    };
    let done;
    try {
      done = await go(qr.browser, new URL(res.headers.get('location')!, qr.origin), qr.origin);
    } finally {
      dk.find = find;
    }
    expect(removedAt).toBeDefined();
    expect(await find.call(dk, phone.deviceKeyId!)).toBeUndefined();
    let active = false;
    if (done.kind === 'rp') {
      try {
        const tokens = await qr.tokens(done.url);
        active = (await oidc.tokenIntrospection(rp, tokens.access_token)).active;
      } catch {
        active = false;
      }
    }
    expect({ lookups, active }).toMatchObject({ active: false });
  });
});
