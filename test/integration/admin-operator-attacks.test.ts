/**
 * A malicious department admin against four-eyes review: settings whose meaning the review page
 * turned around, and values that read as one thing and act as another. Each change here was filed
 * through the admin API and reviewed on the console's review page (HTML over HTTP), on SQLite and
 * on PostgreSQL + Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { adminResource, type Department } from '../../src/admin/index.js';
import { callApi, consoleBrowser, operator, type SignedInOperator } from '../support/admin-operators.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { counterClientOf } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import type { ScriptedBrowser } from '../support/scripted-browser.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a department admin against the reviewer ($name)', { timeout: 120_000 }, ({ name, enabled }) => {
  let h: Harness;
  let dept: Department;
  let author: SignedInOperator;
  let reviewer: SignedInOperator;
  /** Super-admins of the national department: one names certificate types, another approves them. */
  let national: SignedInOperator;
  let nationalReviewer: SignedInOperator;
  let reviewerBrowser: ScriptedBrowser;

  const page = async (browser: ScriptedBrowser, path: string) => {
    const res = await browser.request(`${h.issuer}${path}`);
    return { status: res.status, html: await res.text() };
  };
  /** The review page's row for one setting: [before, after] as the reviewer reads them (tags stripped). */
  const row = (html: string, field: string) => {
    const tr = new RegExp(`<tr data-field="${field}">([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? '';
    return [...tr.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, '').trim());
  };

  async function submitted(clientId: string, settings: Record<string, unknown>): Promise<{ id: string; revision: number }> {
    const drafted = await author.api('POST', `/clients/${clientId}/changes`, settings);
    expect(drafted.status).toBe(201);
    const sent = await author.api('POST', `/client-changes/${drafted.body.id}/submit`);
    expect(sent.status).toBe(200);
    return { id: drafted.body.id as string, revision: sent.body.revision as number };
  }

  async function approvedClient(settings: Record<string, unknown>): Promise<string> {
    const made = await author.api('POST', '/clients', { department_id: dept.id, settings });
    expect(made.status).toBe(201);
    const sent = await author.api('POST', `/client-changes/${made.body.change.id}/submit`);
    const approved = await reviewer.api('POST', `/client-changes/${made.body.change.id}/approve`, { revision: sent.body.revision });
    expect(approved.status).toBe(200);
    return made.body.client.client_id as string;
  }

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    author = await operator(h, [{ role: 'dept-admin', departmentId: dept.id }], '部门管理员');
    reviewer = await operator(h, [{ role: 'reviewer', departmentId: dept.id }], '审核员');
    national = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], '国家管理员');
    nationalReviewer = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], '国家复核员');
    reviewerBrowser = (await consoleBrowser(h, { ...reviewer, step: 1 }, 'en')).browser;
  }, 180_000);
  afterAll(async () => h?.close());

  it.skipIf(!enabled)('shows a change that drops the channel list and the minimum level as opening every channel and any level, not as "None"', async () => {
    const settings = { client_name: '社保查询', redirect_uris: [REDIRECT], allowed_channels: ['web'], min_acr: 'urn:yihao:loa:2' };
    const clientId = await approvedClient(settings);
    // The attack: leave both out. Unset means every channel (kiosk and counter too) and no minimum.
    const { allowed_channels: _channels, min_acr: _acr, ...opened } = settings;
    const change = await submitted(clientId, opened);

    const review = await page(reviewerBrowser, `/admin/changes/${change.id}`);
    expect(review.status).toBe(200);
    expect(row(review.html, 'allowed_channels')).toEqual(['Web', 'All channels']);
    expect(row(review.html, 'min_acr')).toEqual(['Level 2 (two factors)', 'Any']);

    const zh = await page(reviewerBrowser, `/admin/changes/${change.id}?ui_locales=zh-CN`);
    expect(row(zh.html, 'allowed_channels')).toEqual(['网页', '所有渠道']);
    expect(row(zh.html, 'min_acr')).toEqual(['二级（双因素）', '不限']);
    await page(reviewerBrowser, '/admin?ui_locales=en');

    // The approved settings on the app page say the same.
    expect((await reviewer.api('POST', `/client-changes/${change.id}/approve`, { revision: change.revision })).status).toBe(200);
    const app = await page(reviewerBrowser, `/admin/clients/${clientId}`);
    const shown = (label: string) => new RegExp(`<dt>${label}</dt><dd>([^<]*)</dd>`).exec(app.html)?.[1];
    expect(shown('Allowed sign-in channels')).toBe('All channels');
    expect(shown('Minimum assurance level')).toBe('Any');
  });

  it.skipIf(!enabled)('refuses an address that reads as another: a user name before the host, invisible or bidirectional characters, spaces', async () => {
    const clientId = await approvedClient({ client_name: '公积金', redirect_uris: [REDIRECT] });
    const bad: [string, Record<string, unknown>, string][] = [
      // Shown as https://good.gov.cn@…, it sends the codes to the host after the '@'.
      ['userinfo', { redirect_uris: ['https://good.gov.cn@evil.example/cb'] }, 'redirect_uris.0'],
      // U+202E turns what follows around on the review page: "https://evil.example@good.gov.cn" is read.
      ['right-to-left override', { redirect_uris: ['https://\u202Enc.vog.doog@elpmaxe.live/cb'] }, 'redirect_uris.0'],
      ['zero-width space', { redirect_uris: [REDIRECT, 'https://good.gov.cn/cb\u200B'] }, 'redirect_uris.1'],
      ['space', { post_logout_redirect_uris: ['https://good.gov.cn/a b'] }, 'post_logout_redirect_uris.0'],
      ['userinfo in the logout notice', { backchannel_logout_uri: 'https://sso:x@evil.example/logout' }, 'backchannel_logout_uri'],
      ['bidi isolate in jwks_uri', { jwks_uri: 'https://good.gov.cn/\u2067jwks' }, 'jwks_uri'],
    ];
    for (const [what, change, field] of bad) {
      const r = await author.api('POST', `/clients/${clientId}/changes`, { client_name: '公积金', redirect_uris: [REDIRECT], ...change });
      expect([what, r.status, r.body.error, Object.keys(r.body.fields ?? {})]).toEqual([what, 400, 'invalid_input', [field]]);
    }
    // Nor at registration.
    const made = await author.api('POST', '/clients', { department_id: dept.id, settings: { client_name: 'x', redirect_uris: ['https://a@evil.example/cb'] } });
    expect([made.status, Object.keys(made.body.fields ?? {})]).toEqual([400, ['settings.redirect_uris.0']]);
    // An internationalised host and an ordinary query stay fine.
    const fine = await author.api('POST', `/clients/${clientId}/changes`, { client_name: '公积金', redirect_uris: [REDIRECT, 'https://政务.cn/cb?from=app'] });
    expect(fine.status).toBe(201);
  });

  it.skipIf(!enabled)('refuses control and invisible characters in an app name, which citizens, reviewers and the CLI print', async () => {
    const clientId = await approvedClient({ client_name: '不动产登记', redirect_uris: [REDIRECT] });
    for (const [what, name] of [
      ['newline', '不动产\n登记'],
      // Terminal escapes: `yihao client list` would let the name rewrite the administrator's screen.
      ['escape sequence', '不动产登记\u001b[2K\u001b[1A'],
      ['right-to-left override', '\u202E记登产动不'],
      ['line separator', '不动产\u2028登记'],
      ['byte order mark', '不动产\uFEFF登记'],
    ] as const) {
      const r = await author.api('POST', `/clients/${clientId}/changes`, { client_name: name, redirect_uris: [REDIRECT] });
      expect([what, r.status, Object.keys(r.body.fields ?? {})]).toEqual([what, 400, ['client_name']]);
    }
    const made = await author.api('POST', '/clients', { department_id: dept.id, settings: { client_name: 'a\tb', redirect_uris: [REDIRECT] } });
    expect([made.status, Object.keys(made.body.fields ?? {})]).toEqual([400, ['settings.client_name']]);
  });

  it.skipIf(!enabled)('keeps citizens’ ID-number consents of an app registered before settings were recorded, whose name now counts as hidden characters', async () => {
    const clientId = await approvedClient({ client_name: '公积金提取', redirect_uris: [REDIRECT], citizen_id_release: 'masked' });
    // As the CLI registered apps before settings were recorded: none in the row, the settings only in
    // the live metadata, with a name from before control characters were refused.
    const { clients } = h.yihao.admin.services.stores;
    const record = (await clients.find(clientId))!;
    expect(await clients.update({ ...record, settings: undefined, version: record.version + 1 }, record.version)).toBe(true);
    const served = new h.yihao.services.Adapter('Client');
    await served.upsert(clientId, { ...(await served.find(clientId))!, client_name: '公积金\u0007提取' } as never);

    // A change that reveals no more of the number keeps every consent given since.
    const change = await submitted(clientId, { client_name: '公积金提取', redirect_uris: [REDIRECT], citizen_id_release: 'masked' });
    expect((await reviewer.api('POST', `/client-changes/${change.id}/approve`, { revision: change.revision })).status).toBe(200);
    expect((await clients.find(clientId))!.citizenIdConsentSince).toBe(record.citizenIdConsentSince);
  });

  it.skipIf(!enabled)('shows an operator’s free text on the audit page as written: characters that would turn the record around are escaped', async () => {
    const clientId = await approvedClient({ client_name: '医保结算', redirect_uris: [REDIRECT] });
    // Read with U+202E, the rest of the line shows reversed: the record would seem to say something else.
    const reason = '例行维护\u202E 已获批准 \u2066x\u2069 \u0085';
    expect((await author.api('POST', `/clients/${clientId}/suspend`, { reason })).status).toBe(200);
    const auditor = await operator(h, [{ role: 'auditor', departmentId: dept.id }], '审计员');
    const { browser } = await consoleBrowser(h, { ...auditor, step: 1 }, 'en');
    const log = await page(browser, `/admin/audit?action=admin.client.suspended&client_id=${clientId}`);
    expect(log.status).toBe(200);
    const details = /<td class="details"><code class="json">([^<]*)<\/code>/.exec(log.html)?.[1] ?? '';
    expect(details).toContain('例行维护');
    expect(details).not.toMatch(/[\u202E\u2066\u2069\u0085]/);
    expect(details).toContain('\\u202e');
    expect(details).toContain('\\u0085');
  });

  it.skipIf(!enabled)('ends every earlier secret with a rotation that ends the old one at once, not only the last one', async () => {
    const made = await author.api('POST', '/clients', { department_id: dept.id, settings: { kind: 'service', client_name: '数据交换' } });
    expect(made.status).toBe(201);
    const sent = await author.api('POST', `/client-changes/${made.body.change.id}/submit`);
    expect((await reviewer.api('POST', `/client-changes/${made.body.change.id}/approve`, { revision: sent.body.revision })).status).toBe(200);
    const clientId = made.body.client.client_id as string;
    const token = async (secret: string) =>
      (
        await fetch(`${h.issuer}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        })
      ).status;
    const first = made.body.client_secret as string;
    await expect.poll(() => token(first)).toBe(200);

    // An ordinary rotation: the first secret stays good for ten minutes.
    const second = (await author.api('POST', `/clients/${clientId}/secret`, { grace_seconds: 600 })).body.client_secret as string;
    await expect.poll(() => token(second)).toBe(200);
    expect(await token(first)).toBe(200);

    // Then the secret leaks (or the insider who held both leaves): rotated with no grace, "ends it at once".
    const third = (await author.api('POST', `/clients/${clientId}/secret`, { grace_seconds: 0 })).body.client_secret as string;
    await expect.poll(() => token(third)).toBe(200);
    expect(await token(second)).toBe(401);
    expect(await token(first)).toBe(401);

    // A shorter grace also shortens the earlier ones: no secret outlives the latest rotation's promise.
    const fourth = (await author.api('POST', `/clients/${clientId}/secret`, { grace_seconds: 600 })).body;
    const fifth = (await author.api('POST', `/clients/${clientId}/secret`, { grace_seconds: 60 })).body;
    const until = (await h.yihao.stores.db('client_secret_grace').where({ client_id: clientId }).select('expires_at')).map((r: { expires_at: number | string }) => Number(r.expires_at));
    expect(until).toHaveLength(2);
    for (const t of until) expect(t).toBeLessThanOrEqual(Date.parse(fifth.previous_secret_valid_until));
    expect(await token(fourth.client_secret as string)).toBe(200);
  });

  it.skipIf(!enabled)('gives a department system no silent answer to "has this ID number an account?": dates are checked first, and a miss or a key used for someone else is audited', async () => {
    // The department's system, whose secret a dept-admin holds (they registered it, or rotated it alone).
    const made = await h.client({ kind: 'service', name: '许可业务系统' });
    await counterClientOf(h, made, '许可业务系统', dept.id);
    const tokens = await oidc.clientCredentialsGrant(await relyingParty(h, made), { scope: 'certificates:push', resource: adminResource(h.issuer) });
    const push = (body: Record<string, unknown>) => callApi(h, tokens.access_token, 'POST', '/certificates', body);
    const type = await national.api('POST', '/certificate-types', {
      id: 'shop_permit', department_id: dept.id, names: { 'zh-CN': '经营许可', en: 'Shop permit' }, claims: { permit_number: { type: 'string', required: true } },
    });
    expect(type.status).toBe(201);
    expect((await nationalReviewer.api('POST', '/certificate-types/shop_permit/approve', { version: 1 })).status).toBe(200);

    const known = await h.citizen({ name: '赵六' });
    const other = await h.citizen({ name: '钱七' });
    const stranger = syntheticCitizenId({ seq: 913 });
    const base = { type: 'shop_permit', department_id: dept.id, claims: { permit_number: 'P-1' } };

    // Dates that can never be valid: the same answer whether or not the number has an account, and nothing made.
    const backwards = { ...base, valid_from: '2031-01-01T00:00:00+08:00', valid_until: '2030-01-01T00:00:00+08:00' };
    const forKnown = await push({ ...backwards, citizen_id: known.citizenId });
    const forStranger = await push({ ...backwards, citizen_id: stranger });
    expect([forKnown.status, forKnown.body]).toEqual([forStranger.status, forStranger.body]);
    expect(forKnown.status).toBe(400);

    const denials = async () =>
      (await h.yihao.services.audit.query({ actor: made.client_id, action: 'admin.denied', limit: 50 })).events.map((e) => [e.actorType, e.departmentId, e.details]);
    // A miss is a lookup of a citizen by number: on record, like an operator's, never with the number.
    const missed = await push({ ...base, citizen_id: stranger });
    expect(missed.status).toBe(404);
    expect(await denials()).toEqual([['client', dept.id, { operation: 'certificate.push', reason: 'no_account' }]]);

    // A key used for one citizen, tried for another: 409 only where the number has an account, so on record too.
    const first = await push({ ...base, citizen_id: known.citizenId, idempotency_key: 'probe-0001' });
    expect(first.status).toBe(201);
    expect((await push({ ...base, citizen_id: other.citizenId, idempotency_key: 'probe-0001' })).status).toBe(409);
    expect((await denials())[0]).toEqual(['client', dept.id, { operation: 'certificate.push', reason: 'idempotency_conflict' }]);

    const rows = JSON.stringify(await h.yihao.services.audit.query({ actor: made.client_id, limit: 50 }));
    for (const number of [stranger, known.citizenId, other.citizenId]) expect(rows).not.toContain(number);
  });
});
