import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import type { ClientInput } from '../../src/clients/index.js';
import { hasOpenssl, makeCertificates } from '../support/certificates.js';
import { claimsInVerifiedClaims, verifiedClaims } from '../../src/oidc/verified-claims.js';
import { messages } from '../../src/interactions/i18n.js';
import type { CitizenIdRelease } from '../../src/identity/index.js';
import type { Department, Operator } from '../../src/admin/index.js';

describe('claim release', () => {
  let h: Harness;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    // sector_identifier_uri documents may be fetched from loopback, so it is an allowed network here.
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    citizen = await h.citizen();
  });
  afterAll(async () => h?.close());

  /** Signs in through a client and returns its ID token claims and userinfo. */
  async function signInThrough(
    input: Partial<ClientInput>,
    scope: string,
    redirectUri = REDIRECT,
  ): Promise<{ sub: string; userinfo: oidc.UserInfoResponse; client: { client_id: string; client_secret?: string } }> {
    const client = await h.client({ redirectUris: [redirectUri], scope, ...input });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier, { scope, redirect_uri: redirectUri });
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    const sub = tokens.claims()!.sub;
    return { sub, userinfo: await oidc.fetchUserInfo(rp, tokens.access_token, sub), client };
  }

  const expectations: ['none' | 'masked' | 'full', (id: string) => string | undefined][] = [
    ['none', () => undefined],
    ['masked', (id) => `${id.slice(0, 6)}********${id.slice(14)}`],
    ['full', (id) => id],
  ];
  it.each(expectations)('releases citizen_id under the %s policy exactly as allowed', async (policy, expected) => {
    const { userinfo } = await signInThrough({ citizenIdRelease: policy }, 'openid citizen_id');
    expect(userinfo.citizen_id).toBe(expected(citizen.citizenId));
  });

  it('gives each client its own stable pseudonym, never the number', async () => {
    const a = await signInThrough({ citizenIdRelease: 'pseudonym' }, 'openid citizen_id');
    const b = await signInThrough({ citizenIdRelease: 'pseudonym' }, 'openid citizen_id');
    const pa = a.userinfo.citizen_id as string;
    expect(pa).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pa).not.toContain(citizen.citizenId.slice(6, 14));
    expect(b.userinfo.citizen_id).not.toBe(pa);
    // Stable for one client: a second sign-in through client A yields the same pseudonym.
    const rp = await relyingParty(h, a.client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: 'openid citizen_id' }), {
      identifier: citizen.citizenId,
      password: citizen.password,
    });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    expect((await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).citizen_id).toBe(pa);
  });

  it("states each citizen's own birth date and gender, also when asked again, whatever the client's ID policy", async () => {
    const citizens = [citizen, await h.citizen(), await h.citizen()];
    for (const citizenIdRelease of ['none', 'masked'] as const) {
      const client = await h.client({ redirectUris: [REDIRECT], scope: 'openid profile citizen_id', citizenIdRelease });
      const rp = await relyingParty(h, client);
      for (const who of citizens) {
        const verifier = oidc.randomPKCECodeVerifier();
        const url = await authorizationUrl(rp, verifier, { scope: 'openid profile citizen_id' });
        const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: who.citizenId, password: who.password });
        const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
        const id = who.citizenId;
        const expected = { birthdate: `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`, gender: Number(id[16]) % 2 === 1 ? 'male' : 'female' };
        // The second answer comes from what the first one derived; it must still be this citizen's.
        for (let i = 0; i < 2; i++) {
          const info = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
          expect(info).toMatchObject(expected);
          expect(info.citizen_id).toBe(citizenIdRelease === 'masked' ? `${id.slice(0, 6)}********${id.slice(14)}` : undefined);
        }
      }
    }
  });

  it('says on the consent page in plain words what the policy shares', async () => {
    const texts: Record<string, string> = {};
    for (const policy of ['none', 'masked', 'pseudonym', 'full'] as const) {
      const client = await h.client({ scope: 'openid citizen_id', citizenIdRelease: policy });
      const rp = await relyingParty(h, client);
      const browser = new ScriptedBrowser();
      const login = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid citizen_id', ui_locales: 'en' }));
      const html = await login.res.text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
      const consent = await browser.follow(new URL(`${login.url.pathname}/login`, login.url), {
        form: { csrf, identifier: citizen.citizenId, password: citizen.password },
      });
      texts[policy] = await consent.res.text();
    }
    expect(texts.none).not.toMatch(/partly hidden|derived from your ID number|your full ID number/);
    expect(texts.masked).toContain('your ID number, partly hidden');
    expect(texts.pseudonym).toContain('a code for this app derived from your ID number');
    expect(texts.full).toContain('your full ID number');
    for (const page of Object.values(texts)) expect(page).not.toContain(citizen.citizenId);
  });

  describe('when operators change the policy after the citizen consented', () => {
    const SCOPE = 'openid citizen_id';
    const masked = (id: string) => `${id.slice(0, 6)}********${id.slice(14)}`;
    let nation: Department;
    let author: Operator;
    let reviewer: Operator;

    beforeAll(async () => {
      const boot = h.yihao.admin.services.bootstrap;
      nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
      // Two national super-admins: one files the change, the other approves it (a full release needs one).
      const operatorAt = async () => {
        const who = await h.citizen({ name: '李审核' });
        await boot.grantRole({ identifier: who.sub, role: 'super-admin', departmentId: nation.id });
        return boot.operatorFor(who.sub);
      };
      author = await operatorAt();
      reviewer = await operatorAt();
    });

    /** A client registered as `yihao client create --department` does: live, and managed in the console. */
    async function managedClient(policy: CitizenIdRelease) {
      const created = await h.client({ scope: SCOPE, citizenIdRelease: policy });
      const digest = created.metadata.client_secret;
      await h.yihao.admin.services.bootstrap.adoptClient({
        clientId: created.client_id,
        settings: created.settings,
        secretDigest: typeof digest === 'string' ? digest : undefined,
        department: nation,
      });
      return created;
    }

    /** As operators change it: `yihao client update` files and submits the change, another operator approves it. */
    async function changePolicy(clientId: string, policy: CitizenIdRelease): Promise<void> {
      const clients = h.yihao.admin.services.clients;
      const current = await clients.system.currentSettings(await clients.system.find(clientId));
      const drafted = await clients.propose(author, clientId, { ...current, citizen_id_release: policy });
      const submitted = await clients.submit(author, drafted.id);
      await clients.approve(reviewer, drafted.id, { revision: submitted.revision });
    }

    /** What a browser posts back of a form: its hidden fields (the consent page's are the CSRF token and the policy it stated). */
    const hiddenFields = (page: string) => Object.fromEntries([...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));

    /** Signs in through the app in `browser`, allowing what the consent page asks; the consent pages seen, and the tokens. */
    async function signIn(rp: oidc.Configuration, browser: ScriptedBrowser, who: { citizenId: string; password: string }) {
      const verifier = oidc.randomPKCECodeVerifier();
      let { res, url } = await browser.follow(await authorizationUrl(rp, verifier, { scope: SCOPE }), {}, h.issuer);
      const consentPages: string[] = [];
      for (let step = 0; step < 5 && url.origin === h.issuer; step++) {
        const page = await res.text();
        const login = formAction(page, '/login');
        const confirm = formAction(page, '/confirm');
        if (confirm) consentPages.push(page);
        expect(login ?? confirm, `a login or consent form at ${url.pathname}: ${page.slice(0, 300)}`).toBeTruthy();
        const form = login ? { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password } : hiddenFields(page);
        ({ res, url } = await browser.follow(new URL((login ?? confirm)!, url), { form }, h.issuer));
      }
      expect(url.origin).not.toBe(h.issuer);
      const tokens = await oidc.authorizationCodeGrant(rp, url, { pkceCodeVerifier: verifier });
      return { consentPages, tokens };
    }

    const userinfo = async (rp: oidc.Configuration, tokens: { access_token: string; claims(): { sub: string } | undefined }) =>
      (await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).citizen_id;

    it.each([
      ['masked', 'full'],
      ['masked', 'pseudonym'],
      ['none', 'masked'],
    ] as const)(
      'never widens a consent given under %s when the policy becomes %s: tokens held and refreshes withhold the number, and the same session is asked again',
      async (before, after) => {
        const who = await h.citizen();
        const client = await managedClient(before);
        const rp = await relyingParty(h, client);
        const browser = new ScriptedBrowser();
        const first = await signIn(rp, browser, who);
        expect(first.consentPages).toHaveLength(1);
        expect(await userinfo(rp, first.tokens)).toBe(before === 'masked' ? masked(who.citizenId) : undefined);
        expect(first.tokens.refresh_token).toBeDefined();

        await changePolicy(client.client_id, after);

        // (a) The app's access token, and a refresh of the consent it holds: the citizen allowed less than this.
        expect(await userinfo(rp, first.tokens)).toBeUndefined();
        const refreshed = await oidc.refreshTokenGrant(rp, first.tokens.refresh_token!);
        expect(refreshed.claims()?.citizen_id).toBeUndefined();
        expect(await userinfo(rp, refreshed)).toBeUndefined();

        // (b) A new sign-in in the same browser session: its grant holds citizen_id, yet the consent page comes, saying what the app sees now.
        const again = await signIn(rp, browser, who);
        expect(again.consentPages).toHaveLength(1);
        expect(again.consentPages[0]).toContain(messages('zh-CN').citizenIdText[after]);
        const now = await userinfo(rp, again.tokens);
        if (after === 'pseudonym') expect(now).toMatch(/^[A-Za-z0-9_-]{43}$/);
        else expect(now).toBe(after === 'full' ? who.citizenId : masked(who.citizenId));
        // Allowed once, it is not asked again in this session.
        expect((await signIn(rp, browser, who)).consentPages).toEqual([]);
      },
    );

    it('keeps a raise in force through a suspension: the resumed client still gets nothing from older consents', async () => {
      const who = await h.citizen();
      const client = await managedClient('masked');
      const rp = await relyingParty(h, client);
      const first = await signIn(rp, new ScriptedBrowser(), who);
      await changePolicy(client.client_id, 'full');
      const clients = h.yihao.admin.services.clients;
      await clients.system.suspend(client.client_id, { reason: '核查' });
      await clients.system.resume(client.client_id);
      expect(await userinfo(rp, first.tokens)).toBeUndefined();
      expect(await userinfo(rp, await oidc.refreshTokenGrant(rp, first.tokens.refresh_token!))).toBeUndefined();
    });

    it('shows the consent page again, as it is now, when the policy changed while it was open', async () => {
      const who = await h.citizen();
      const client = await managedClient('masked');
      const rp = await relyingParty(h, client);
      const browser = new ScriptedBrowser();
      const verifier = oidc.randomPKCECodeVerifier();
      const login = await browser.follow(await authorizationUrl(rp, verifier, { scope: SCOPE }), {}, h.issuer);
      const loginPage = await login.res.text();
      const shown = await browser.follow(
        new URL(formAction(loginPage, '/login')!, login.url),
        { form: { csrf: formField(loginPage, 'csrf')!, identifier: who.citizenId, password: who.password } },
        h.issuer,
      );
      const stale = await shown.res.text();
      expect(stale).toContain(messages('zh-CN').citizenIdText.masked);

      await changePolicy(client.client_id, 'full');
      // Allow, on the page that said "partly hidden": the page comes back, saying what the app gets now.
      const again = await browser.follow(new URL(formAction(stale, '/confirm')!, shown.url), { form: hiddenFields(stale) }, h.issuer);
      expect(again.url.origin).toBe(h.issuer);
      const fresh = await again.res.text();
      expect(fresh).toContain(messages('zh-CN').citizenIdText.full);
      const done = await browser.follow(new URL(formAction(fresh, '/confirm')!, again.url), { form: hiddenFields(fresh) }, h.issuer);
      expect(done.url.origin).not.toBe(h.issuer);
      const tokens = await oidc.authorizationCodeGrant(rp, done.url, { pkceCodeVerifier: verifier });
      expect(await userinfo(rp, tokens)).toBe(who.citizenId);
    });

    it('applies a lowered policy at once to tokens already issued, without asking', async () => {
      const who = await h.citizen();
      const client = await managedClient('full');
      const rp = await relyingParty(h, client);
      const browser = new ScriptedBrowser();
      const first = await signIn(rp, browser, who);
      expect(await userinfo(rp, first.tokens)).toBe(who.citizenId);

      await changePolicy(client.client_id, 'masked');
      expect(await userinfo(rp, first.tokens)).toBe(masked(who.citizenId));
      const refreshed = await oidc.refreshTokenGrant(rp, first.tokens.refresh_token!);
      expect(await userinfo(rp, refreshed)).toBe(masked(who.citizenId));
      expect((await signIn(rp, browser, who)).consentPages).toEqual([]);

      await changePolicy(client.client_id, 'none');
      expect(await userinfo(rp, refreshed)).toBeUndefined();
      expect(await userinfo(rp, await oidc.refreshTokenGrant(rp, refreshed.refresh_token!))).toBeUndefined();
    });
  });

  it('gives pairwise clients of different sectors different subjects, and public ones the public sub', async () => {
    const a = await signInThrough({ subjectType: 'pairwise' }, 'openid');
    const b = await signInThrough({ subjectType: 'pairwise' }, 'openid', 'http://localhost:9/cb');
    const pub = await signInThrough({}, 'openid');
    expect(pub.sub).toBe(citizen.sub);
    expect(a.sub).not.toBe(citizen.sub);
    expect(b.sub).not.toBe(citizen.sub);
    expect(a.sub).not.toBe(b.sub);
    // Same sector, same pairwise sub.
    expect((await signInThrough({ subjectType: 'pairwise' }, 'openid')).sub).toBe(a.sub);
  });

  it('validates sector_identifier_uri when a pairwise client registers', async () => {
    // oidc-provider fetches the document and checks it lists every redirect URI; it must be https,
    // so a plain-http document is refused before any fetch, with a clear message.
    await expect(h.client({ subjectType: 'pairwise', sectorIdentifierUri: 'http://127.0.0.1:9/sector.json' })).rejects.toMatchObject({
      code: 'invalid_input',
      message: 'sector_identifier_uri must be a https uri',
    });
    // An unreachable https document is refused too, rather than registering an unchecked sector.
    await expect(h.client({ subjectType: 'pairwise', sectorIdentifierUri: 'https://127.0.0.1:1/sector' })).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('releases verified_claims only to clients allowed it, and only for verified identities', async () => {
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    const at = Date.UTC(2026, 10, 1, 8, 0, 0);
    await h.yihao.accounts.setAssurance(account!.id, 'registry', at);
    const allowed = await signInThrough({ verifiedClaimsAllowed: true }, 'openid identity_assurance');
    expect(allowed.userinfo.verified_claims).toEqual({
      verification: {
        trust_framework: 'cn_resident_identity',
        time: new Date(at).toISOString(),
        evidence: [{ type: 'electronic_record', check_details: [{ check_method: 'data' }], time: new Date(at).toISOString(), record: { type: 'population_register' } }],
      },
      claims: { name: citizen.name, birthdate: `${citizen.citizenId.slice(6, 10)}-${citizen.citizenId.slice(10, 12)}-${citizen.citizenId.slice(12, 14)}` },
    });
  });

  it('publishes in discovery the Identity Assurance metadata that matches the verified_claims it returns', async () => {
    const discovery = (await (await fetch(new URL('/.well-known/openid-configuration', h.issuer))).json()) as Record<string, unknown>;
    const returned = (['registry', 'id_chip', 'in_person'] as const).map(
      (assurance) => verifiedClaims({ assurance, assuranceAt: Date.UTC(2026, 0, 1) }, { name: citizen.name, birthdate: '1990-01-01' })!,
    );
    type Evidence = { type: string; check_details: { check_method: string }[]; document_details?: { type: string }; record?: { type: string } };
    const evidence = returned.flatMap((v) => (v.verification as { evidence: Evidence[] }).evidence);
    const sorted = (values: Iterable<string>) => [...new Set(values)].sort();
    expect(discovery.verified_claims_supported).toBe(true);
    expect(discovery.trust_frameworks_supported).toEqual(sorted(returned.map((v) => (v.verification as { trust_framework: string }).trust_framework)));
    expect(sorted(discovery.evidence_supported as string[])).toEqual(sorted(evidence.map((e) => e.type)));
    expect(sorted(discovery.documents_supported as string[])).toEqual(sorted(evidence.flatMap((e) => (e.document_details ? [e.document_details.type] : []))));
    expect(sorted(discovery.electronic_records_supported as string[])).toEqual(sorted(evidence.flatMap((e) => (e.record ? [e.record.type] : []))));
    expect(sorted(discovery.documents_check_methods_supported as string[])).toEqual(
      sorted(evidence.flatMap((e) => (e.document_details ? e.check_details.map((c) => c.check_method) : []))),
    );
    // What a signed-in client really gets under verified_claims.claims.
    expect(sorted(discovery.claims_in_verified_claims_supported as string[])).toEqual(sorted(Object.keys(claimsInVerifiedClaims(citizen.name, '1990-01-01'))));
  });

  it('refuses to register a client for identity_assurance unless it may receive verified_claims', async () => {
    await expect(h.client({ scope: 'openid identity_assurance', verifiedClaimsAllowed: false })).rejects.toMatchObject({
      code: 'invalid_input',
      message: 'scope identity_assurance needs verified_claims_allowed',
    });
  });

  it('never tells the citizen a client gets verified_claims that it would not get (a client stored before the rule)', async () => {
    // A client saved before registration refused this: its scope lists identity_assurance, its policy does not allow it.
    const { client_id, client_secret, metadata } = await h.yihao.clients.create({ name: 'Old RP', redirectUris: [REDIRECT], scope: 'openid profile', verifiedClaimsAllowed: false });
    await new h.yihao.services.Adapter('Client').upsert(client_id, { ...metadata, scope: 'openid profile identity_assurance' } as never);
    const rp = await relyingParty(h, { client_id, ...(client_secret ? { client_secret } : {}) });
    const browser = new ScriptedBrowser();
    const answer = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid profile identity_assurance', ui_locales: 'en' }));
    // Refused at the request, before any page could describe it.
    expect(answer.url.searchParams.get('error')).toBe('invalid_scope');
    expect(await answer.res.text()).not.toContain('how and when your identity was verified');
    // The same client still signs in for what it may have.
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: 'openid profile' }), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    expect(tokens.scope?.split(' ')).not.toContain('identity_assurance');
  });
});

describe.skipIf(!hasOpenssl)('pairwise subjects with a sector_identifier_uri (https, the operator trusts its CA)', () => {
  let dir: string;
  let sector: https.Server;
  let sectorOrigin: string;
  let h: Harness;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  const OTHER_REDIRECT = 'http://localhost:9/cb';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yihao-sector-'));
    const pems = makeCertificates(dir);
    writeFileSync(join(dir, 'trusted-ca.pem'), pems.ca);
    // The sector's document lists the redirect URIs of every app in it; /partial leaves one out.
    sector = https.createServer({ key: pems.serverKey, cert: pems.serverCert }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/partial.json' ? [REDIRECT] : [REDIRECT, OTHER_REDIRECT]));
    });
    await new Promise<void>((resolve) => sector.listen(0, '127.0.0.1', resolve));
    sectorOrigin = `https://127.0.0.1:${(sector.address() as AddressInfo).port}`;
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'], trustedCaFile: join(dir, 'trusted-ca.pem') } }) });
    citizen = await h.citizen();
  });
  afterAll(async () => {
    await h?.close();
    sector?.closeAllConnections();
    await new Promise<void>((resolve) => (sector ? sector.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function subThrough(input: Partial<ClientInput>, redirectUri: string): Promise<string> {
    const client = await h.client({ redirectUris: [redirectUri], scope: 'openid', ...input });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid', redirect_uri: redirectUri });
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
    return (await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier })).claims()!.sub;
  }

  it('gives apps of one sector the same pairwise sub whatever their redirect hosts, and apps outside it another', async () => {
    const sectorUri = `${sectorOrigin}/sector.json`;
    const a = await subThrough({ subjectType: 'pairwise', sectorIdentifierUri: sectorUri }, REDIRECT);
    const b = await subThrough({ subjectType: 'pairwise', sectorIdentifierUri: sectorUri }, OTHER_REDIRECT);
    const outside = await subThrough({ subjectType: 'pairwise' }, OTHER_REDIRECT);
    expect(a).toBe(b);
    expect(a).not.toBe(citizen.sub);
    expect(outside).not.toBe(a);
  });

  it('refuses an app whose redirect URI the sector document does not list', async () => {
    await expect(
      h.client({ redirectUris: [OTHER_REDIRECT], subjectType: 'pairwise', sectorIdentifierUri: `${sectorOrigin}/partial.json` }),
    ).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('sector_identifier_uri') });
  });

  it('refuses the same document from a provider that does not trust the CA', async () => {
    const untrusting = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    try {
      await expect(
        untrusting.client({ redirectUris: [REDIRECT], subjectType: 'pairwise', sectorIdentifierUri: `${sectorOrigin}/sector.json` }),
      ).rejects.toMatchObject({ code: 'invalid_input' });
    } finally {
      await untrusting.close();
    }
  });
});
