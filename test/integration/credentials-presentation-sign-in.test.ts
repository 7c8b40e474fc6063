/**
 * Sign-in by presentation (docs/credentials.md, docs/channels/assurance.md): a verified presentation
 * of the identity credential at a kiosk (the presentation grant) or a counter (token exchange with
 * the presentation request as subject) signs the citizen in with the `sub` this client gets on every
 * channel, `amr: ["vc"]`, `acr: urn:yihao:loa:2` and the channel; userinfo answers. A request signs
 * in once, only for its starter; a refused or since revoked credential, or a disabled account,
 * signs no one in. The wallet is the independent one of test/support/wallet.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import type { Backend } from '../support/harness.js';
import { issueDirect, present, startAsKiosk, startAsStaff, verifierSetup, type Started, type VerifierSetup } from '../support/presentations.js';
import { oauthError } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';
import { walletKey } from '../support/wallet.js';

const PRESENTATION_GRANT = 'urn:yihao:grant-type:presentation';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const PRESENTATION_REQUEST = 'urn:yihao:token-type:presentation-request';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const LOA2 = 'urn:yihao:loa:2';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('sign-in by presentation at kiosks and counters ($name)', ({ name, enabled }) => {
  let s: VerifierSetup;

  beforeAll(async () => {
    if (enabled) s = await verifierSetup(name);
  }, 60_000);
  afterAll(async () => s?.h.close());

  const kioskRequest = async (kiosk = s.kiosk): Promise<Started> => (await (await startAsKiosk(s.h, kiosk, { type: 'identity', claims: ['acr'] })).json()) as Started;
  const kioskSignIn = (req: Started, kiosk = s.kiosk) => oidc.genericGrantRequest(kiosk.rp, PRESENTATION_GRANT, { presentation_request: req.request_id, scope: 'openid profile' });

  it.runIf(enabled)('a kiosk signs the citizen in with the sub of every channel, amr vc, loa:2, and userinfo answers', async () => {
    const req = await kioskRequest();
    // The citizen discloses only the level: the account is found from the credential, not from a claim.
    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    const tokens = await kioskSignIn(req);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ acr: LOA2, amr: ['vc'], channel: 'kiosk' });
    expect(tokens.refresh_token).toBeDefined();
    // The same sub this kiosk gets for the person through the ID-card grant.
    const card = await s.kiosk.cardLogin({ citizenId: s.citizen.citizenId });
    expect(claims.sub).toBe(card.claims()!.sub);
    const info = await oidc.fetchUserInfo(s.kiosk.rp, tokens.access_token, claims.sub);
    expect(info.name).toBe('孙七');

    const audited = (await s.h.yihao.stores.db('audit_events').where({ action: 'login.succeeded', account_id: s.citizen.sub, client_id: s.kiosk.client.client_id }).select('channel', 'details')) as { channel: string; details: unknown }[];
    const details = audited.map((a) => ({ channel: a.channel, ...(typeof a.details === 'string' ? JSON.parse(a.details) : a.details) })) as { channel: string; method: string }[];
    expect(details.filter((d) => d.method === 'vc_presentation')).toEqual([expect.objectContaining({ channel: 'kiosk', amr: ['vc'], acr: LOA2 })]);

    // Once: the same request signs no one in again.
    expect(await oauthError(kioskSignIn(req))).toMatchObject({ error: 'invalid_grant' });
  });

  it.runIf(enabled)('signs in only for the starter: not another kiosk, not counter staff', async () => {
    const req = await kioskRequest();
    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    const other = await simulatedKiosk(s.h);
    expect(await oauthError(kioskSignIn(req, other))).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(oidc.genericGrantRequest(s.counter, TOKEN_EXCHANGE, { subject_token: req.request_id, subject_token_type: PRESENTATION_REQUEST, actor_token: s.staffToken, actor_token_type: ACCESS_TOKEN, scope: 'openid' }))).toMatchObject({ error: 'invalid_grant' });
    // Still good for the kiosk that started it: the refusals above spent nothing.
    expect((await kioskSignIn(req)).claims()).toMatchObject({ amr: ['vc'] });
  });

  it.runIf(enabled)('signs no one in for a refused presentation, a credential revoked since it was presented, or a disabled account', async () => {
    const refused = await kioskRequest();
    expect((await present(s.presenter, refused.request_link, { credential: s.held.credential, key: await walletKey() })).status).toBe(400);
    expect(await oauthError(kioskSignIn(refused))).toMatchObject({ error: 'invalid_grant' });

    const victim = await issueDirect(s.h, s.citizen.sub, s.wallet);
    const revokedLater = await kioskRequest();
    expect((await present(s.presenter, revokedLater.request_link, victim.held)).status).toBe(200);
    await s.h.yihao.credentials.revocation.revoke(victim.id, { type: 'system', id: 'cli' }, 'phone reported stolen');
    expect(await oauthError(kioskSignIn(revokedLater))).toMatchObject({ error: 'invalid_grant', error_description: 'the credential presented is no longer valid' });

    const leaver = await s.h.citizen({ name: '钱九' });
    const leaverHeld = await issueDirect(s.h, leaver.sub, s.wallet);
    const disabledLater = await kioskRequest();
    expect((await present(s.presenter, disabledLater.request_link, leaverHeld.held)).status).toBe(200);
    await s.h.yihao.accounts.setStatus((await s.h.yihao.accounts.findBySub(leaver.sub))!.id, 'disabled');
    expect(await oauthError(kioskSignIn(disabledLater))).toMatchObject({ error: 'invalid_grant', error_description: 'there is no active account for this credential' });

    const failed = (await s.h.yihao.stores.db('audit_events').where({ action: 'login.failed', actor_id: s.kiosk.client.client_id }).select('details')) as { details: unknown }[];
    const reasons = failed.map((f) => (typeof f.details === 'string' ? JSON.parse(f.details) : f.details) as { method: string; reason: string }).filter((d) => d.method === 'vc_presentation');
    expect(reasons.map((r) => r.reason)).toEqual(expect.arrayContaining(['unknown_request', 'credential_invalid', 'no_active_account']));
  });

  it.runIf(enabled)('refuses a kiosk whose tokens must be DPoP-bound a sign-in without a DPoP proof, spending nothing; with a proof its tokens are bound to that key', async () => {
    const bound = await simulatedKiosk(s.h, { dpopRequired: true });
    const req = await kioskRequest(bound);
    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    // RFC 9449 §5.2: as oidc-provider's own grants answer such a client.
    expect(await oauthError(kioskSignIn(req, bound))).toEqual({ error: 'invalid_grant', error_description: 'DPoP proof JWT not provided' });

    // The refusal did not spend the request: with a proof, the same request signs the citizen in.
    const key = await oidc.randomDPoPKeyPair('ES256');
    const tokens = await oidc.genericGrantRequest(bound.rp, PRESENTATION_GRANT, { presentation_request: req.request_id, scope: 'openid profile' }, { DPoP: oidc.getDPoPHandle(bound.rp, key) });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(await oidc.tokenIntrospection(bound.rp, tokens.access_token)).toMatchObject({ active: true, amr: ['vc'], cnf: { jkt: await calculateJwkThumbprint(await exportJWK(key.publicKey)) } });
  });

  it.runIf(enabled)('refuses staff signing themselves in with their own credential at their counter, on record as counter.assist_refused', async () => {
    const own = await issueDirect(s.h, s.staffSub, s.wallet);
    const req = (await (await startAsStaff(s.h, s.staffToken, { type: 'identity', claims: ['acr'] })).json()) as Started;
    expect((await present(s.presenter, req.request_link, own.held)).status).toBe(200);
    const exchange = () => oidc.genericGrantRequest(s.counter, TOKEN_EXCHANGE, { subject_token: req.request_id, subject_token_type: PRESENTATION_REQUEST, actor_token: s.staffToken, actor_token_type: ACCESS_TOKEN, scope: 'openid' });
    expect(await oauthError(exchange())).toEqual({ error: 'invalid_grant', error_description: 'staff cannot sign themselves in at their own counter' });
    // The refusal spent the request: it cannot be tried again.
    expect(await oauthError(exchange())).toMatchObject({ error: 'invalid_grant', error_description: 'the presentation request is unknown, not verified, started elsewhere, or used already' });

    const refused = (await s.h.yihao.stores.db('audit_events').where({ action: 'counter.assist_refused', actor_id: s.staffSub }).select('actor_type', 'account_id', 'client_id', 'channel', 'details')) as { details: unknown }[];
    const events = refused.map((r) => ({ ...r, details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details }));
    expect(events).toEqual([{ actor_type: 'operator', account_id: s.staffSub, client_id: s.counterClientId, channel: 'counter', details: { reason: 'own_identity' } }]);
    expect(await s.h.yihao.stores.db('audit_events').where({ action: 'login.succeeded', account_id: s.staffSub, channel: 'counter' })).toEqual([]);
  });

  it.runIf(enabled)('a counter signs the citizen in by token exchange, with the staff member as act', async () => {
    const req = (await (await startAsStaff(s.h, s.staffToken, { type: 'identity', claims: ['name'] })).json()) as Started;
    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    const exchange = () =>
      oidc.genericGrantRequest(s.counter, TOKEN_EXCHANGE, { subject_token: req.request_id, subject_token_type: PRESENTATION_REQUEST, actor_token: s.staffToken, actor_token_type: ACCESS_TOKEN, scope: 'openid profile' });
    const tokens = await exchange();
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ acr: LOA2, amr: ['vc'], channel: 'counter', act: { sub: expect.any(String) } });
    expect(claims.act).not.toMatchObject({ sub: claims.sub });
    expect((await oidc.fetchUserInfo(s.counter, tokens.access_token, claims.sub)).name).toBe('孙七');
    expect(await oauthError(exchange())).toMatchObject({ error: 'invalid_grant' });
  });
});
