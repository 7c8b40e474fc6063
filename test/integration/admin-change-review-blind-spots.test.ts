/**
 * What four-eyes review cannot see is not reviewed. Two changes that looked harmless to the
 * reviewer: a kiosk's key swapped under the same key id (the diff said `k1 → k1`, and the author
 * then held the kiosk's signing key: loa:3 card sign-ins as any citizen), and a FAPI 2.0 client
 * taken out of its profile by a change drafted while it was suspended (the provider's store, which
 * the check read, is empty then). The review page and the app page over HTTP as HTML, and the
 * admin API, on SQLite and on PostgreSQL + Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Department } from '../../src/admin/index.js';
import { consoleBrowser, operator, type SignedInOperator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { formField, type ScriptedBrowser } from '../support/scripted-browser.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** FAPI 2.0 needs https redirect URIs; nothing listens here. */
const FAPI_REDIRECT = 'https://rp.example.gov.cn/cb';

/** A fresh EC public key under `kid`, and its RFC 7638 thumbprint. */
async function publicKey(kid?: string): Promise<{ jwk: JWK; thumbprint: string }> {
  const { publicKey: key } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(key);
  return { jwk: { ...jwk, ...(kid ? { kid } : {}), use: 'sig', alg: 'ES256' }, thumbprint: await calculateJwkThumbprint(jwk) };
}

describe.each(backends)('what a reviewer is shown ($name)', { timeout: 120_000 }, ({ name, enabled }) => {
  let h: Harness;
  let dept: Department;
  let author: SignedInOperator;
  let reviewer: SignedInOperator;
  let reviewerBrowser: ScriptedBrowser;
  let authorBrowser: ScriptedBrowser;

  const page = async (browser: ScriptedBrowser, path: string) => {
    const res = await browser.request(`${h.issuer}${path}`);
    return { status: res.status, html: await res.text() };
  };

  /** Drafts and submits a change as the author; the change id and the revision the reviewer sees. */
  async function submitted(clientId: string, settings: Record<string, unknown>): Promise<{ id: string; revision: number }> {
    const drafted = await author.api('POST', `/clients/${clientId}/changes`, settings);
    expect(drafted.status).toBe(201);
    const sent = await author.api('POST', `/client-changes/${drafted.body.id}/submit`);
    expect(sent.status).toBe(200);
    return { id: drafted.body.id as string, revision: sent.body.revision as number };
  }

  /** A client registered by the author and approved by the reviewer: active, with these settings. */
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
    reviewerBrowser = (await consoleBrowser(h, { ...reviewer, step: 1 }, 'en')).browser;
    authorBrowser = (await consoleBrowser(h, { ...author, step: 1 }, 'en')).browser;
  }, 180_000);
  afterAll(async () => h?.close());

  it.skipIf(!enabled)('shows each key’s thumbprint, and marks a key swapped under the same key id as replaced, on the review page and the app page', async () => {
    const kiosk = await publicKey('k1');
    const settings = { kind: 'kiosk', client_name: '政务自助终端', scope: 'openid profile', jwks: { keys: [kiosk.jwk] } };
    const clientId = await approvedClient(settings);

    // The attack: same kid, the author's own x and y.
    const attacker = await publicKey();
    const swapped = { ...kiosk.jwk, x: attacker.jwk.x, y: attacker.jwk.y };
    expect(await calculateJwkThumbprint(swapped)).toBe(attacker.thumbprint);
    const change = await submitted(clientId, { ...settings, jwks: { keys: [swapped] } });

    const review = await page(reviewerBrowser, `/admin/changes/${change.id}`);
    expect(review.status).toBe(200);
    const row = /<tr data-field="jwks">[\s\S]*?<\/tr>/.exec(review.html)?.[0] ?? '';
    expect(row).toContain(kiosk.thumbprint);
    expect(row).toContain(attacker.thumbprint);
    expect(row).toMatch(/data-key-replaced[^>]*>[^<]*Key replaced/);
    // The approve form is still there: the reviewer decides, now seeing what they decide on.
    expect(review.html).toContain(`name="revision" value="${change.revision}"`);

    const app = await page(reviewerBrowser, `/admin/clients/${clientId}`);
    expect(app.status).toBe(200);
    const pendingRow = /<tr data-field="jwks">[\s\S]*?<\/tr>/.exec(app.html)?.[0] ?? '';
    expect(pendingRow).toContain(attacker.thumbprint);
    expect(pendingRow).toContain('data-key-replaced');
    // The approved settings name the key that is live now by its thumbprint too.
    const live = /<dl>(?:(?!<\/dl>)[\s\S])*?<dt>The app’s public keys[^<]*<\/dt><dd>([\s\S]*?)<\/dd>/.exec(app.html)?.[1] ?? '';
    expect(live).toContain('k1');
    expect(live).toContain(kiosk.thumbprint);
    expect(live).not.toContain(attacker.thumbprint);

    // In Chinese as well.
    const zh = await page(reviewerBrowser, `/admin/changes/${change.id}?ui_locales=zh-CN`);
    expect(zh.html).toMatch(/data-key-replaced[^>]*>[^<]*密钥已更换/);
    await page(reviewerBrowser, '/admin?ui_locales=en');

    const rejected = await reviewer.api('POST', `/client-changes/${change.id}/reject`, { revision: change.revision });
    expect(rejected.status).toBe(200);

    // An ordinary rotation (a new key under a new kid, the old one kept) is not flagged.
    const next = await publicKey('k2');
    const rotation = await submitted(clientId, { ...settings, jwks: { keys: [kiosk.jwk, next.jwk] } });
    const rotated = await page(reviewerBrowser, `/admin/changes/${rotation.id}`);
    const rotatedRow = /<tr data-field="jwks">[\s\S]*?<\/tr>/.exec(rotated.html)?.[0] ?? '';
    expect(rotatedRow).toContain(next.thumbprint);
    expect(rotatedRow).not.toContain('data-key-replaced');
    await reviewer.api('POST', `/client-changes/${rotation.id}/reject`, { revision: rotation.revision });
  });

  it.skipIf(!enabled)('keeps a suspended FAPI 2.0 client in its profile: the API refuses a change without it, the console carries it, and it resumes under the profile', async () => {
    const key = await publicKey('fapi-1');
    const made = await h.client({ profile: 'fapi2', redirectUris: [FAPI_REDIRECT], jwks: { keys: [key.jwk] }, scope: 'openid profile', grantTypes: ['authorization_code', 'refresh_token'] });
    // What `yihao client create --department` does: the console shows and edits it from then on.
    await h.yihao.admin.services.bootstrap.adoptClient({ clientId: made.client_id, settings: made.settings, secretDigest: undefined, department: dept });
    const clientId = made.client_id;
    const Client = new h.yihao.services.Adapter('Client');

    // One operator alone may suspend; the provider's store is then empty for this client.
    expect((await author.api('POST', `/clients/${clientId}/suspend`, { reason: '系统维护' })).status).toBe(200);
    expect(await Client.find(clientId)).toBeUndefined();

    // The attack through the API: the same settings, without the profile.
    const { security_profile: _profile, ...outside } = made.settings;
    const dropped = await author.api('POST', `/clients/${clientId}/changes`, outside);
    expect(dropped.status).toBe(400);
    expect(dropped.body.message).toMatch(/security_profile is set at creation only/);
    expect(await h.yihao.admin.services.stores.clients.openChangeFor(clientId)).toBeUndefined();

    // An ordinary edit in the console (the form has no profile field) keeps the profile.
    const form = await page(authorBrowser, `/admin/clients/${clientId}/change`);
    expect(form.status).toBe(200);
    const posted = await authorBrowser.request(`${h.issuer}/admin/clients/${clientId}/change`, {
      form: {
        csrf: formField(form.html, 'csrf')!,
        client_name: '开放银行 2.0',
        redirect_uris: FAPI_REDIRECT,
        scope: 'openid profile',
        grant_authorization_code: 'on',
        grant_refresh_token: 'on',
        citizen_id_release: 'none',
        jwks: JSON.stringify(made.settings.jwks),
        dpop_bound_access_tokens: 'on',
      },
    });
    expect(posted.status).toBe(303);
    const change = (await h.yihao.admin.services.stores.clients.openChangeFor(clientId))!;
    expect(change.proposed).toMatchObject({ client_name: '开放银行 2.0', security_profile: 'fapi2' });

    const sent = await author.api('POST', `/client-changes/${change.id}/submit`);
    expect((await reviewer.api('POST', `/client-changes/${change.id}/approve`, { revision: sent.body.revision })).status).toBe(200);
    expect((await author.api('POST', `/clients/${clientId}/resume`)).status).toBe(200);
    expect(await Client.find(clientId)).toMatchObject({ client_name: '开放银行 2.0', security_profile: 'fapi2', token_endpoint_auth_method: 'private_key_jwt', require_pushed_authorization_requests: true, dpop_bound_access_tokens: true });
  });

  it.skipIf(!enabled)('refuses a change that puts a client under a security profile it was not registered with', async () => {
    const key = await publicKey('rp-1');
    const settings = { client_name: '电子证照查询', redirect_uris: [FAPI_REDIRECT], scope: 'openid profile', grant_types: ['authorization_code', 'refresh_token'], jwks: { keys: [key.jwk] }, dpop_bound_access_tokens: true };
    const clientId = await approvedClient(settings);
    const added = await author.api('POST', `/clients/${clientId}/changes`, { ...settings, security_profile: 'fapi2' });
    expect(added.status).toBe(400);
    expect(added.body.message).toMatch(/security_profile is set at creation only/);
  });
});
