/**
 * The OID4VP verifier against a wallet that discloses more than the request asked for (found by a
 * review: the starter read the full ID number and the name, while the audit record named only the
 * masked one), a credential that is not valid yet, and a presentation made for another request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueDirect, present, readResult, startAsKiosk, verifierSetup, type Started, type VerifierSetup } from '../support/presentations.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const enabled = pgAvailable && redisAvailable;

describe('the verifier against over-disclosure and borrowed presentations (PostgreSQL + Redis)', () => {
  let s: VerifierSetup;
  beforeAll(async () => {
    if (enabled) s = await verifierSetup('postgres+redis');
  }, 60_000);
  afterAll(async () => s?.h.close());

  const kioskRequest = async (claims: string[]) => {
    const res = await startAsKiosk(s.h, s.kiosk, { type: 'identity', claims });
    expect(res.status).toBe(201);
    return (await res.json()) as Started;
  };

  it.runIf(enabled)('a kiosk that asked only for the masked ID never reads the full ID number', async () => {
    const req = await kioskRequest(['citizen_id_masked']);
    // The wallet (or a tricked citizen) discloses the full number too, beyond the request's DCQL query.
    const res = await present(s.presenter, req.request_link, s.held, { frame: { citizen_id_masked: true, citizen_id: true, name: true } });
    const { body } = await readResult(s.h, req.request_id, req.result_token);
    // Whatever the verdict, the kiosk must not get claims it did not ask for.
    expect(JSON.stringify(body)).not.toContain(s.citizen.citizenId);
    expect(Object.keys((body.claims as object) ?? {}).sort()).toEqual(res.status === 200 ? ['citizen_id_masked'] : []);
  });

  it.runIf(enabled)('the audit record of a verified presentation names every claim the starter was shown', async () => {
    const req = await kioskRequest(['citizen_id_masked']);
    expect((await present(s.presenter, req.request_link, s.held, { frame: { citizen_id_masked: true, citizen_id: true } })).status).toBe(200);
    const shown = Object.keys((await readResult(s.h, req.request_id, req.result_token)).body.claims as object).sort();
    const events = (await s.h.yihao.services.audit.query({ action: 'vc.presentation_verified', limit: 200 })).events.filter((e) => (e.details as { request_id?: string }).request_id === req.request_id);
    expect(events).toHaveLength(1);
    expect([...((events[0]!.details as { claims: string[] }).claims)].sort()).toEqual(shown);
  });

  it.runIf(enabled)('refuses a credential whose validity starts in the future', async () => {
    const future = Date.now() + 10 * 60_000;
    const { held } = await issueDirect(s.h, s.citizen.sub, s.wallet, { issuedAt: future, expiresAt: future + 86_400_000 });
    const req = await kioskRequest(['name']);
    const res = await present(s.presenter, req.request_link, held);
    expect(res.status).toBe(400);
    expect((await readResult(s.h, req.request_id, req.result_token)).body).toMatchObject({ status: 'refused', reason: 'not_yet_valid' });
  });

  it.runIf(enabled)('a request answered with a presentation for another request (its nonce) is refused, and that other request stays answerable', async () => {
    const a = await kioskRequest(['name']);
    const b = await kioskRequest(['name']);
    const bNonce = ((await s.presenter.resolve(b.request_link)).authorizationRequestPayload as { nonce: string }).nonce;
    const res = await present(s.presenter, a.request_link, s.held, { nonce: bNonce });
    expect(res.status).toBe(400);
    expect((await readResult(s.h, a.request_id, a.result_token)).body).toMatchObject({ status: 'refused', reason: 'wrong_nonce' });
    expect((await present(s.presenter, b.request_link, s.held)).status).toBe(200);
  });
});
