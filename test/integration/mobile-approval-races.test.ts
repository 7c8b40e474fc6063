/**
 * A counter (CIBA) approval racing the removal of the phone key that signs it (found by a review):
 * the approvals API checked the key when the call came in, the removal ended the key's logins
 * before the counter's existed, and on PostgreSQL + Redis the counter then got live tokens from a
 * removed key. Synthetic IDs, seq 850-899.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const CIBA = 'urn:openid:params:grant-type:ciba';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

let seq = 850;

describe.each(backends)('a phone approval racing the removal of its key ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string };
  let counter: oidc.Configuration;

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
    const keys = await generateKeyPair('ES256', { extractable: true });
    const { client_id: clientId } = await h.yihao.clients.create({
      kind: 'ciba',
      name: '政务服务中心 3 号窗口',
      jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'counter-1', use: 'sig', alg: 'ES256' }] },
      scope: 'openid profile',
    });
    counter = await oidc.discovery(new URL(h.issuer), clientId, undefined, oidc.PrivateKeyJwt({ key: keys.privateKey, kid: 'counter-1' }), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(async () => h?.close());

  it.skipIf(!enabled)("a counter approval racing the removal of the key that signs it leaves no live counter login", async () => {
    let leaked = 0;
    for (let i = 0; i < 6; i++) {
      const { citizen: who, phone } = await phoneWithDeviceKey(h, app, await citizen());
      const started = await oidc.initiateBackchannelAuthentication(counter, { scope: 'openid profile', login_hint: who.citizenId, binding_message: '窗口3-A7' });
      const entry = ((await phone.approvals()).json.requests as Record<string, unknown>[]).find((r) => r.kind === 'ciba')!;
      // Second proofs for the removal made up front, so that both requests leave together.
      const [approved, removed] = await Promise.all([
        phone.decide(entry.id as string, 'approve'),
        new Promise((r) => setTimeout(r, i * 3)).then(() => phone.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)),
      ]);
      expect(removed.status).toBe(204);
      if (approved.status !== 200) continue;
      try {
        const tokens = await oidc.genericGrantRequest(counter, CIBA, { auth_req_id: started.auth_req_id });
        if ((await oidc.tokenIntrospection(counter, tokens.access_token)).active) leaked++;
      } catch {
        /* refused: fine */
      }
    }
    expect(leaked).toBe(0);
  });
});
