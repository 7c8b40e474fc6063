/**
 * Revoking through the admin API (`POST /admin/api/v1/credentials/{id}/revoke`), and
 * `yihao credential ...` against a running server's store (docs/credentials.md): an operator lists
 * an account's credentials, revokes one (its status list entry turns invalid at the server's next
 * serving of the list, audited), and rotates the credential issuer key (published beside the
 * current one once the server reloads its keys; signing at once only with --now). Bad input exits 2 and echoes nothing it was given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getListFromStatusListJWT } from '@sd-jwt/jwt-status-list';
import type { JWK } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';
import { buildCli, hostedYihao } from '../support/yihao-cli.js';
import { operator } from '../support/admin-operators.js';

describe('yihao credential', () => {
  let h: Harness;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let issued: { id: string; statusListId: string; statusIndex: number };

  beforeAll(async () => {
    buildCli();
    h = await startHarness({ overrides: (c) => ({ ...c, keys: { ...c.keys, refreshSeconds: 0.2 } }) });
    citizen = await h.citizen();
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    // A credential as the credential endpoint records it (the issuance itself is credentials-issuance.test.ts).
    issued = await h.yihao.credentials.store.record({ accountId: account!.id, type: 'urn:yihao:vct:identity:1', clientId: 'yh_app', holderJkt: 'jkt', issuedAt: Date.now(), expiresAt: Date.now() + 86_400_000 });
  });
  afterAll(async () => h?.close());

  const yihao = (args: string[]) => hostedYihao(args, h.env);
  const listStatus = async () => getListFromStatusListJWT(await (await fetch(`${h.issuer}/credentials/status/${issued.statusListId}`)).text()).getStatus(issued.statusIndex);

  it("lists an account's credentials", async () => {
    const run = await yihao(['credential', 'list', '--sub', citizen.sub, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ credentials: [expect.objectContaining({ id: issued.id, status: 'valid', type: 'urn:yihao:vct:identity:1' })] });
  });

  it('revokes a credential: the served status list shows it, and the audit trail names who and why', async () => {
    expect(await listStatus()).toBe(0);
    const run = await yihao(['credential', 'revoke', issued.id, '--reason', 'card reported stolen', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ id: issued.id, status: 'revoked', revoked_at: expect.any(String) });
    expect(await listStatus()).toBe(1);
    const event = await h.yihao.stores.db('audit_events').where({ action: 'vc.revoked' }).first();
    expect(event).toMatchObject({ actor_type: 'system', actor_id: 'cli', account_id: citizen.sub });
    expect(JSON.parse(event.details as string)).toMatchObject({ credential_id: issued.id, reason: 'card reported stolen' });
  });

  it('refuses bad input with exit code 2: a malformed id, an unknown one, one already revoked', async () => {
    const malformed = await yihao(['credential', 'revoke', '11010519491231002X']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/credential id is 22 characters/);
    expect(malformed.stderr).not.toContain('11010519491231002X');
    const unknown = await yihao(['credential', 'revoke', 'A'.repeat(22)]);
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringMatching(/no such credential/)]);
    // One id in 64 begins with a dash (base64url): it is an id, not an option.
    const dashed = await yihao(['credential', 'revoke', `-${'A'.repeat(21)}`]);
    expect([dashed.code, dashed.stderr]).toEqual([2, expect.stringMatching(/no such credential/)]);
    const again = await yihao(['credential', 'revoke', issued.id]);
    expect([again.code, again.stderr]).toEqual([2, expect.stringMatching(/already revoked/)]);
    const noSub = await yihao(['credential', 'list']);
    expect([noSub.code, noSub.stderr]).toEqual([2, expect.stringMatching(/--sub is required/)]);
  });

  const issuerKeys = async () => ((await (await fetch(`${h.issuer}/.well-known/jwt-vc-issuer`)).json()) as { jwks: { keys: JWK[] } }).jwks.keys;
  const statusListKid = async () => {
    const list = await (await fetch(`${h.issuer}/credentials/status/${issued.statusListId}`)).text();
    return (JSON.parse(Buffer.from(list.split('.')[0]!, 'base64url').toString()) as { kid: string; typ: string }).kid;
  };

  it('rotates the credential issuer key: staged, the running server publishes the new key beside the current one, which signs on; --now switches at once', async () => {
    const before = await issuerKeys();
    expect(before).toHaveLength(1);
    expect(before[0]).not.toHaveProperty('d');
    const run = await yihao(['credential', 'rotate-key', '--json']);
    expect(run.code).toBe(0);
    const { activated, signs_from } = JSON.parse(run.stdout) as { activated: string[]; signs_from: string };
    expect(activated).toEqual([expect.stringMatching(/^vc-es256-/)]);
    // The CLI reads the default keys.publishSeconds (2 × refreshSeconds + 30 s): the new key waits.
    expect(Date.parse(signs_from)).toBeGreaterThan(Date.now());
    // The server reads its keys again after keys.refreshSeconds (0.2 s here).
    await new Promise((r) => setTimeout(r, 500));
    expect((await issuerKeys()).map((k) => k.kid)).toEqual([before[0]!.kid, activated[0]]);
    expect(await statusListKid()).toBe(before[0]!.kid);

    // At once: the newest key signs, and every other one is retired but still published.
    const now = await yihao(['credential', 'rotate-key', '--now', '--json']);
    expect(now.code).toBe(0);
    const immediate = JSON.parse(now.stdout) as { activated: string[]; signs_from: string | null };
    expect(immediate.signs_from).toBeNull();
    await new Promise((r) => setTimeout(r, 500));
    expect((await issuerKeys()).map((k) => k.kid)).toEqual([immediate.activated[0], activated[0], before[0]!.kid]);
    expect(await statusListKid()).toBe(immediate.activated[0]);
    const events = await h.yihao.stores.db('audit_events').where({ action: 'vc.issuer_key_rotated' }).orderBy('id');
    expect(events.map((e: { details: string }) => (JSON.parse(e.details) as { immediate?: boolean }).immediate)).toEqual([undefined, true]);
    // The token signing keys are untouched.
    const tokenKeys = (await (await fetch(`${h.issuer}/jwks`)).json()) as { keys: JWK[] };
    expect(tokenKeys.keys.some((k) => [activated[0], immediate.activated[0]].includes(k.kid))).toBe(false);
  });

  it('rotates the verifier key with --verifier: published beside the old one, the issuer keys untouched, audited', async () => {
    const published = async () => ((await (await fetch(`${h.issuer}/presentations/verifier`)).json()) as { jwks: { keys: JWK[] } }).jwks.keys.map((k) => k.kid);
    const issuerKeys = async () => ((await (await fetch(`${h.issuer}/.well-known/jwt-vc-issuer`)).json()) as { jwks: { keys: JWK[] } }).jwks.keys.map((k) => k.kid);
    const before = await published();
    const issuerBefore = await issuerKeys();
    expect(before).toHaveLength(1);
    const listed = await yihao(['credential', 'keys', '--verifier', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { keys: { kid: string; status: string }[] }).keys).toEqual([expect.objectContaining({ kid: before[0], status: 'active' })]);

    const run = await yihao(['credential', 'rotate-key', '--verifier', '--json']);
    expect(run.code).toBe(0);
    const { activated } = JSON.parse(run.stdout) as { activated: string[] };
    expect(activated).toEqual([expect.stringMatching(/^vp-es256-/)]);
    await new Promise((r) => setTimeout(r, 500));
    // Staged: the current key signs first, the new one is published beside it.
    expect(await published()).toEqual([before[0], activated[0]]);
    expect(await issuerKeys()).toEqual(issuerBefore);
    const events = await h.yihao.stores.db('audit_events').where({ action: 'vc.verifier_key_rotated' });
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0].details as string)).toMatchObject({ via: 'cli', before: { active: before }, after: { active: activated } });
  });

  it('revokes through the admin API: a super-admin at a root department may, one at a province may not', async () => {
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    const fresh = await h.yihao.credentials.store.record({ accountId: account!.id, type: 'urn:yihao:vct:identity:1', clientId: 'yh_app', holderJkt: 'jkt2', issuedAt: Date.now(), expiresAt: Date.now() + 86_400_000 });
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    const province = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    const provincial = await operator(h, [{ role: 'super-admin', departmentId: province.id }], '省管理员');
    const national = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], '总管理员');

    expect((await provincial.api('POST', `/credentials/${fresh.id}/revoke`, {})).status).toBe(403);
    expect((await national.api('POST', `/credentials/${fresh.id}/revoke`, { reason: '' })).status).toBe(400);
    expect((await national.api('POST', `/credentials/${'B'.repeat(22)}/revoke`, {})).status).toBe(404);
    const ok = await national.api('POST', `/credentials/${fresh.id}/revoke`, { reason: 'identity fraud' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ id: fresh.id, status: 'revoked', revoked_at: expect.any(String) });
    expect((await national.api('POST', `/credentials/${fresh.id}/revoke`, {})).status).toBe(409);
    const status = getListFromStatusListJWT(await (await fetch(`${h.issuer}/credentials/status/${fresh.statusListId}`)).text()).getStatus(fresh.statusIndex);
    expect(status).toBe(1);
    const event = await h.yihao.stores.db('audit_events').where({ action: 'vc.revoked', actor_id: national.sub }).first();
    expect(event).toMatchObject({ actor_type: 'operator', account_id: citizen.sub });
  });
});
