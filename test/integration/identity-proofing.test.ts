/**
 * In-person and kiosk proofing are kept as evidence (who, where, when, which document type; never
 * the number), audited at each step, and raise an account's standing proofing only as
 * docs/channels/assurance.md defines: a kiosk's chip read at once, one staff member's in-person
 * check only once a second staff member at that counter's department, or the citizen, confirms it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department } from '../../src/admin/index.js';
import { nationalTree, type SignedInOperator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { REDIRECT } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('identity proofing evidence ($name)', ({ name, enabled }) => {
  let h: Harness;
  let dept: Awaited<ReturnType<typeof nationalTree>>['dept'];
  let superN: SignedInOperator;
  let adminN: SignedInOperator;
  let reviewer: SignedInOperator;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    ({ dept, superAdmin: superN, deptAdmin: adminN, reviewer } = await nationalTree(h));
  });
  afterAll(async () => h?.close());

  /** Opens the portal's profile page, signing in with the password when sent to the login page. */
  async function openPortal(browser: ScriptedBrowser, who: { citizenId: string; password: string }): Promise<{ page: string }> {
    let { res, url } = await browser.follow(`${h.url}/account`);
    let page = await res.text();
    if (url.pathname.startsWith('/interaction/')) {
      ({ res, url } = await browser.follow(new URL(formAction(page, '/login')!, url), { form: { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password } }));
      page = await res.text();
    }
    return { page };
  }

  const evidenceRows = (accountId: string) => h.yihao.stores.db('identity_proofing_evidence').where({ account_id: accountId });
  const internalId = async (sub: string) => (await h.yihao.services.accounts.findBySub(sub))!.id;
  const events = async (sub: string, action: string) => (await h.yihao.services.audit.forAccount(sub)).filter((e) => e.action === action);

  it.skipIf(!enabled)('records a kiosk chip read as evidence (kiosk, document type, no number) and raises proofing to id_chip, on record', async () => {
    const kiosk = await simulatedKiosk(h);
    const citizen = await h.citizen();
    await kiosk.cardLogin({ citizenId: citizen.citizenId });
    const rows = await evidenceRows(await internalId(citizen.sub));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ method: 'id_chip', channel: 'kiosk', client_id: kiosk.client.client_id, actor_type: 'kiosk', actor_id: kiosk.client.client_id, document_type: 'idcard', status: 'confirmed' });
    expect(JSON.stringify(rows)).not.toContain(citizen.citizenId);
    expect((await h.yihao.services.accounts.findBySub(citizen.sub))!.assurance).toBe('id_chip');
    expect(await events(citizen.sub, 'identity.proofing_recorded')).toHaveLength(1);
    expect((await events(citizen.sub, 'identity.proofing_raised'))[0]!.details).toMatchObject({ evidence_id: rows[0]!.id, to: 'id_chip' });
  });

  it.skipIf(!enabled)('keeps one staff member’s in-person check pending until a second staff member of that counter’s department confirms it', async () => {
    const made = await adminN.api('POST', '/clients', { department_id: dept.x.id, settings: { client_name: '浙江柜台', redirect_uris: [REDIRECT], allowed_channels: ['web', 'counter'] } });
    const submitted = await adminN.api('POST', `/client-changes/${made.body.change.id}/submit`);
    expect((await reviewer.api('POST', `/client-changes/${made.body.change.id}/approve`, { revision: submitted.body.revision })).status).toBe(200);
    const counter = made.body.client.client_id as string;
    const staff = async (d: Department) => {
      const person = await h.citizen({ name: '柜员' });
      expect((await superN.api('POST', '/role-assignments', { sub: person.sub, role: 'counter-staff', department_id: d.id })).status).toBe(201);
      return { sub: person.sub, accountId: await internalId(person.sub) };
    };
    const [first, second, elsewhere] = [await staff(dept.x), await staff(dept.x), await staff(dept.y)];
    const citizen = await h.citizen();
    const account = (await h.yihao.services.accounts.findBySub(citizen.sub))!;
    const proofing = h.yihao.services.proofing;

    const { evidenceId, raised } = await proofing.record({ account, method: 'in_person', channel: 'counter', clientId: counter, actor: { type: 'staff', id: first.sub }, documentType: 'idcard' });
    expect(raised).toBe(false);
    expect((await h.yihao.services.accounts.findBySub(citizen.sub))!.assurance).toBe('self_asserted');
    expect((await evidenceRows(account.id))[0]).toMatchObject({ status: 'pending', department_id: dept.x.id, actor_type: 'staff', actor_id: first.sub });

    // The same staff member, staff of another department, and another citizen cannot confirm it.
    expect(await proofing.confirm(evidenceId, { type: 'staff', ...first })).toEqual({ ok: false, reason: 'same_staff' });
    expect(await proofing.confirm(evidenceId, { type: 'staff', ...elsewhere })).toEqual({ ok: false, reason: 'not_counter_staff' });
    const stranger = await h.citizen();
    expect(await proofing.confirm(evidenceId, { type: 'citizen', sub: stranger.sub, accountId: await internalId(stranger.sub) })).toEqual({ ok: false, reason: 'not_found' });
    expect((await h.yihao.services.accounts.findBySub(citizen.sub))!.assurance).toBe('self_asserted');

    expect(await proofing.confirm(evidenceId, { type: 'staff', ...second })).toEqual({ ok: true, raised: true });
    expect((await h.yihao.services.accounts.findBySub(citizen.sub))!.assurance).toBe('in_person');
    expect((await evidenceRows(account.id))[0]).toMatchObject({ status: 'confirmed', confirmed_by_type: 'staff', confirmed_by: second.sub });
    // Confirmed once: a second confirmation is refused.
    expect(await proofing.confirm(evidenceId, { type: 'citizen', sub: citizen.sub, accountId: account.id })).toEqual({ ok: false, reason: 'not_pending' });
    expect((await events(citizen.sub, 'identity.proofing_confirmed'))[0]).toMatchObject({ actorId: second.sub, clientId: counter, departmentId: dept.x.id });
    const refusals = (await h.yihao.services.audit.query({ action: 'identity.proofing_confirm_refused', limit: 100 })).events.map((e) => (e.details as { reason: string }).reason);
    expect(refusals).toEqual(expect.arrayContaining(['same_staff', 'not_counter_staff', 'not_found', 'not_pending']));
  });

  it.skipIf(!enabled)('lets the citizen confirm a check made about them in the portal, and nobody else', async () => {
    const citizen = await h.citizen();
    const account = (await h.yihao.services.accounts.findBySub(citizen.sub))!;
    const counter = await h.client({ name: '安装级柜台', redirectUris: [REDIRECT], allowedChannels: ['web', 'counter'] });
    const { evidenceId } = await h.yihao.services.proofing.record({ account, method: 'in_person', channel: 'counter', clientId: counter.client_id, actor: { type: 'staff', id: 'some-staff-sub' }, documentType: 'idcard' });

    // Another citizen posting the id (with their own valid form token) finds nothing.
    const other = await h.citizen();
    const otherBrowser = new ScriptedBrowser();
    const otherPage = await openPortal(otherBrowser, other);
    expect(otherPage.page).not.toContain(evidenceId);
    const foreign = await otherBrowser.request(`${h.url}/account/proofing/confirm`, { form: { csrf: formField(otherPage.page, 'csrf')!, evidence: evidenceId } });
    expect(foreign.status).toBe(404);
    expect((await h.yihao.services.accounts.findBySub(citizen.sub))!.assurance).toBe('self_asserted');

    const browser = new ScriptedBrowser();
    const { page } = await openPortal(browser, citizen);
    expect(page).toContain(`data-proofing="${evidenceId}"`);
    const confirmed = await browser.request(`${h.url}/account/proofing/confirm`, { form: { csrf: formField(page, 'csrf')!, evidence: evidenceId } });
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('location')).toContain('notice=proofing_confirmed');
    expect((await h.yihao.services.accounts.findBySub(citizen.sub))!.assurance).toBe('in_person');
    expect((await events(citizen.sub, 'identity.proofing_confirmed'))[0]).toMatchObject({ actorType: 'citizen', actorId: citizen.sub });
    expect((await openPortal(browser, citizen)).page).not.toContain(`data-proofing="${evidenceId}"`);
  });
});
