/**
 * A lost phone revoked at the counter (`POST /counter/device-keys/revoke`) takes its wallet with it:
 * the identity credential the phone's wallet got (here from a counter offer, on no device-key login)
 * no longer signs anyone in by presentation at a kiosk, and a counter offer made before it and not
 * yet redeemed is gone. Yihao cannot tell which wallet was on the lost phone, so every credential of
 * the account is revoked, audited as `vc.revoked_with_account` with reason `lost_phone`; the citizen
 * asks for them again on the new phone. A review found the credential still signing in at loa:2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { offerCodeSentTo } from '../support/counter-staff.js';
import type { Backend } from '../support/harness.js';
import { present, startAsKiosk, verifierSetup, type Started, type VerifierSetup } from '../support/presentations.js';
import { oauthError } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet } from '../support/wallet.js';

const PRESENTATION_GRANT = 'urn:yihao:grant-type:presentation';
const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a lost phone revoked at the counter: its wallet ($name)', ({ name, enabled }) => {
  let s: VerifierSetup;
  beforeAll(async () => {
    if (enabled) s = await verifierSetup(name);
  }, 120_000);
  afterAll(async () => s?.h.close());

  it.runIf(enabled)('revokes the wallet’s credentials and pending offers, so the phone no longer signs the citizen in by presentation', async () => {
    const counterCall = (path: string, body: unknown) =>
      fetch(`${s.h.issuer}${path}`, { method: 'POST', headers: { authorization: `Bearer ${s.staffToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // An offer made before the phone was reported lost, not yet redeemed (its code went to the phone).
    const pending = (await (await counterCall('/credentials/offers/counter', { citizen_id: s.citizen.citizenId, document_check: 'in_person' })).json()) as { credential_offer: string };
    const pendingCode = await offerCodeSentTo(s.h, s.citizen.phone);

    const res = await counterCall('/counter/device-keys/revoke', { citizen_id: s.citizen.citizenId, document_check: 'in_person' });
    expect(await res.json()).toMatchObject({ signed_out_everywhere: true });

    // Whoever holds the phone walks up to a kiosk and presents the wallet's identity credential.
    const req = (await (await startAsKiosk(s.h, s.kiosk, { type: 'identity', claims: ['acr'] })).json()) as Started;
    await present(s.presenter, req.request_link, s.held);
    const signIn = oidc.genericGrantRequest(s.kiosk.rp, PRESENTATION_GRANT, { presentation_request: req.request_id, scope: 'openid profile' });
    expect(await oauthError(signIn)).toMatchObject({ error: 'invalid_grant' });
    // The offer made before is gone too.
    await expect((await Wallet.create(s.wallet.clientId)).redeemOffer(pending.credential_offer, pendingCode)).rejects.toThrow();
    const events = await s.h.yihao.services.audit.forAccount(s.citizen.sub);
    expect(events.find((e) => e.action === 'vc.revoked_with_account')).toMatchObject({ actorType: 'operator', actorId: s.staffSub, details: { reason: 'lost_phone', offers: 1 } });
  });
});
