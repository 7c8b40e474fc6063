/**
 * Attempts to make a secret, a citizen ID number or a full mobile number reach a log line, an error
 * body, a URL, an audit record or a CLI message. Each test asserts that nothing leaks. A mobile
 * number, a percent-encoded ID number and a QR hand-off's code in a request path reached the request
 * log, and an ID number typed with no space after its option reached the CLI's error, before
 * `loggedPath` and the CLI's option message (found by a review, with the rest of this file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { logCapture } from '../support/log-capture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, formAction, formField } from '../support/scripted-browser.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { runYihao } from '../support/yihao-cli.js';

const settle = () => new Promise((r) => setTimeout(r, 200));
const decoded = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

describe('leaks into logs and answers', () => {
  let h: Harness;
  const logs = logCapture();
  const logged = logs.text;

  beforeAll(async () => {
    h = await startHarness({ logger: logs.logger });
  }, 60_000);
  afterAll(async () => h?.close());

  it('keeps a full mobile number in a request path out of the request log', async () => {
    const phone = '13987650123';
    await fetch(`${h.url}/no-such-page/${phone}`);
    await fetch(`${h.url}/m/qr/${phone}`);
    await settle();
    expect(logged()).toContain('/no-such-page/');
    expect(logged()).not.toContain(phone);
  });

  it('keeps a percent-encoded citizen ID in a request path out of the request log', async () => {
    const citizenId = syntheticCitizenId();
    // Every character percent-encoded: the same path to the server, another spelling in the log.
    const encoded = [...citizenId].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');
    const partly = `${citizenId.slice(0, 9)}%${citizenId.charCodeAt(9).toString(16)}${citizenId.slice(10)}`;
    await fetch(`${h.url}/no-such-page/${encoded}`);
    await fetch(`${h.url}/no-such-page/${partly}`);
    await settle();
    const out = logged();
    expect(out).toContain('/no-such-page/');
    expect(out).not.toContain(citizenId);
    expect(decoded(out)).not.toContain(citizenId);
    // The birth-date middle part, unmasked, is as personal as the whole number.
    expect(decoded(out)).not.toContain(citizenId.slice(6, 14) + citizenId.slice(14, 17));
  });

  it('keeps an ID number in a query string, or grouped with separators in a path, out of the request log', async () => {
    const id = syntheticCitizenId();
    await fetch(`${h.url}/no-such-q?x=${id.slice(0, 9)}-${id.slice(9)}`);
    await fetch(`${h.url}/no-such-page/${id.slice(0, 6)}%20${id.slice(6, 14)}%20${id.slice(14)}`);
    await fetch(`${h.url}/no-such-page/${id.slice(0, 6)}.${id.slice(6, 14)}.${id.slice(14)}`);
    await settle();
    expect(logged()).toContain('/no-such-q');
    expect(logged().replace(/[-. ]|%20/g, '')).not.toContain(id.slice(0, 17));
  });

  it('keeps a QR hand-off code (/m/qr/<code>) out of the request log', async () => {
    const ref = randomBytes(24).toString('base64url');
    const res = await fetch(`${h.url}/m/qr/${ref}`);
    expect(res.status).toBe(200);
    await settle();
    expect(logged()).toContain('"path":"/m/qr/');
    expect(logged()).not.toContain(ref);
  });

  it('keeps the typed identifier out of the failed-login page, the audit details and the logs', async () => {
    const rp = await relyingParty(h, await h.client({ name: '社保查询' }));
    const citizen = await h.citizen({ phone: '13912345678' });
    const browser = new ScriptedBrowser();
    const { res, url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { login_hint: citizen.citizenId }));
    const html = await res.text();
    const action = new URL(formAction(html, '/login')!, url);
    const csrf = formField(html, 'csrf')!;
    const bodies: string[] = [html];
    // Wrong password, the ID in an unexpected field, a phone as identifier, a too-long field.
    const forms: Record<string, string>[] = [
      { csrf, identifier: citizen.citizenId, password: 'wrong-password-1' },
      { csrf, identifier: '13912345678', password: 'wrong-password-2' },
      { csrf, identifier: citizen.citizenId, password: 'x'.repeat(5000), citizen_id: citizen.citizenId },
      { csrf, identifier: '', password: citizen.citizenId },
      { csrf: 'bad', identifier: citizen.citizenId, password: citizen.password },
    ];
    for (const form of forms) {
      const r = await browser.request(action, { form });
      bodies.push(await r.text(), r.headers.get('location') ?? '');
    }
    await settle();
    const audit = JSON.stringify(await h.yihao.stores.db('audit_events').select());
    const all = [bodies.join('\n'), audit, logged()].join('\n');
    for (const secret of [citizen.citizenId, citizen.password, '13912345678', 'wrong-password-1', 'wrong-password-2', citizen.citizenId.slice(6, 14)]) {
      expect(all).not.toContain(secret);
    }
  });

  it('keeps ID numbers out of authorization error redirects (claims, scope, acr_values, prompt, ui_locales)', async () => {
    const client = await h.client({ name: 'Err RP', scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const id = syntheticCitizenId();
    const locations: string[] = [];
    const bodies: string[] = [];
    const tries: Record<string, string>[] = [
      { claims: `{"id_token":{"${id}":{"value":"${id}"}}}` },
      { claims: `not json ${id}` },
      { scope: `openid ${id}` },
      { prompt: id },
      { acr_values: id },
      { max_age: id },
      { id_token_hint: id },
      { request: id },
      { response_mode: id },
      { code_challenge_method: id },
      { resource: id },
      { authorization_details: `[{"type":"${id}"}]` },
      { login_hint: id, prompt: 'none' },
    ];
    for (const params of tries) {
      const url = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), params);
      const res = await fetch(url, { redirect: 'manual' });
      locations.push(decoded(res.headers.get('location') ?? ''));
      bodies.push(await res.text());
    }
    await settle();
    const all = [...locations, ...bodies, decoded(logged())].join('\n');
    expect(all).not.toContain(id);
    expect(all).not.toContain(id.slice(6, 14));
  });

  it('keeps an ID number or phone number out of every log line, however the path groups its digits (Unicode hyphens, ideographic full stops, tildes)', async () => {
    const id = syntheticCitizenId();
    const [a, b, c] = [id.slice(0, 6), id.slice(6, 14), id.slice(14)];
    const variants = [`${a}\u2010${b}\u2010${c}`, `${a}\u2014${b}\u2014${c}`, `${a}\u3002${b}\u3002${c}`, `${a}~${b}~${c}`, `${a}|${b}|${c}`, '138~1234~5678', '138\u20101234\u20105678'];
    for (const v of variants) await fetch(`${h.url}/nothing-here/${encodeURIComponent(v)}`);
    await new Promise((r) => setTimeout(r, 50));
    const digitsOnly = (s: string) => s.replace(/[^0-9Xx]/g, '');
    const leaked = logs.entries().filter((l) => {
      const p = (l.path as string | undefined) ?? '';
      return p.startsWith('/nothing-here/') && (digitsOnly(p).includes(id.slice(0, 17)) || digitsOnly(p).includes('13812345678'));
    });
    expect(leaked.map((l) => l.path)).toEqual([]);
  });

  it('keeps an ID number out of protocol-error log lines (grant.error, authorization.error) whose messages quote parameters', async () => {
    const id = syntheticCitizenId();
    const web = await h.client({ name: '日志网站', scope: 'openid profile' });
    const rp = await relyingParty(h, web);
    const attempts: Promise<unknown>[] = [
      oidc.refreshTokenGrant(rp, id).catch(() => undefined),
      oidc.genericGrantRequest(rp, 'authorization_code', { code: id, redirect_uri: REDIRECT }).catch(() => undefined),
      oidc.genericGrantRequest(rp, 'urn:x:' + id, {}).catch(() => undefined),
      oidc.genericGrantRequest(rp, 'client_credentials', { scope: id, resource: `urn:x:${id}` }).catch(() => undefined),
      fetch(`${h.url}/auth?client_id=${web.client_id}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}&resource=${id}&acr_values=${id}`, { redirect: 'manual' }),
      fetch(`${h.url}/auth?client_id=${web.client_id}&response_type=${id}&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}`, { redirect: 'manual' }),
      fetch(`${h.url}/auth?client_id=${web.client_id}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}&claims=${encodeURIComponent(JSON.stringify({ userinfo: { [id]: null } }))}&prompt=${id}`, { redirect: 'manual' }),
    ];
    await Promise.all(attempts);
    await new Promise((r) => setTimeout(r, 50));
    expect(logs.lines.filter((l) => l.replace(/[^0-9Xx]/g, '').includes(id.slice(0, 17)))).toEqual([]);
  });
});

describe('CLI input echoed in messages', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'yihao-review-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('does not print a citizen ID typed without a space after --citizen-id', async () => {
    const id = syntheticCitizenId();
    const run = await runYihao(['account', 'create', `--citizen-id${id}`, '--name', 'Li Wei', '--password-stdin'], { YIHAO_DATA_DIR: dir }, 'pw-Secret-123\n');
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).not.toContain(id);
  }, 150_000);

  it('does not print an invalid citizen ID or a phone number it refuses', async () => {
    const id = syntheticCitizenId();
    const bad = `${id.slice(0, 17)}${id[17] === '0' ? '1' : '0'}`;
    const runs = [
      await runYihao(['account', 'create', '--citizen-id', bad, '--name', 'Li Wei', '--password-stdin'], { YIHAO_DATA_DIR: dir }, 'pw-Secret-123\n'),
      await runYihao(['account', 'create', '--citizen-id', id, '--name', 'Li Wei', '--phone', '1391234567x', '--password-stdin'], { YIHAO_DATA_DIR: dir }, 'pw-Secret-123\n'),
      await runYihao(['account', 'create', '--citizen-id', id, '--name', 'Li Wei', '--password-stdin', 'pw-Secret-123'], { YIHAO_DATA_DIR: dir }, 'pw-Secret-123\n'),
    ];
    const out = runs.map((r) => r.stdout + r.stderr).join('\n');
    expect(out).not.toContain(bad);
    expect(out).not.toContain(id);
    expect(out).not.toContain('1391234567x');
    expect(out).not.toContain('pw-Secret-123');
  }, 300_000);
});
