/**
 * Races against one registration flow, sent in parallel by a bot that keeps the flow cookie (from a
 * review). One failed: during a registry outage, steps sent at once each asked the registry,
 * past the flow's five questions. Both backends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { startHarness, type Harness } from '../support/harness.js';
import { formField, ScriptedBrowser } from '../support/scripted-browser.js';

type Mode = 'match' | 'not_json';

async function startRegistry() {
  const state = { mode: 'match' as Mode, requests: 0, phonesInName: new Map<string, Set<string>>() };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { citizen_id?: string; phone?: string };
      if (state.mode === 'not_json') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('nope');
      const inName = body.phone !== undefined && (state.phonesInName.get(body.citizen_id ?? '')?.has(body.phone) ?? false);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: 'match', checked_at: '2026-01-02T03:04:05.000Z', ...(body.phone === undefined ? {} : { phone_result: inName ? 'match' : 'mismatch' }) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    state,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/verify`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

let n = 0;
const phoneFor = (backend: string) => `1370${backend === 'sqlite' ? '95' : '96'}${String(process.pid % 100).padStart(2, '0')}${String(++n).padStart(3, '0')}`;
let seq = 950;
const PASSWORD = 'correct horse battery staple';

for (const backend of ['sqlite', 'postgres+redis'] as const) {
  describe(`parallel requests in one registration flow (${backend})`, () => {
    let h: Harness;
    let registry: Awaited<ReturnType<typeof startRegistry>>;
    beforeAll(async () => {
      registry = await startRegistry();
      h = await startHarness({
        backend,
        overrides: (c: Config) => ({
          ...c,
          outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] },
          registry: { kind: 'http', endpoint: registry.endpoint, timeoutMs: 500, retries: 0, backoffMs: 10, phoneCheck: true },
          sms: { ...c.sms, limits: { ...c.sms.limits, perIp: { max: 100, windowSeconds: 3600 } } },
        }),
      });
    });
    afterAll(async () => {
      await h?.close();
      await registry?.close();
    });

    async function begin() {
      const who = { citizenId: syntheticCitizenId({ region: '110105', birth: '19800101', seq: seq++ }), name: '王芳', phone: phoneFor(backend) };
      registry.state.phonesInName.set(who.citizenId, new Set([`+86${who.phone}`]));
      const b = new ScriptedBrowser();
      const open = await b.request(new URL('/register?ui_locales=en', h.url));
      let csrf = formField(await open.text(), 'csrf')!;
      const sent = await b.request(new URL('/register?ui_locales=en', h.url), { form: { csrf, citizen_id: who.citizenId, name: who.name, phone: who.phone } });
      expect(sent.status).toBe(303);
      const step2 = await b.request(new URL('/register/code?ui_locales=en', h.url));
      csrf = formField(await step2.text(), 'csrf') ?? csrf;
      const code = (await latestOutboxCode(outboxPath(h.config.dataDir), who.phone, 'register'))!;
      const finish = (form: Record<string, string>) => b.request(new URL('/register/code?ui_locales=en', h.url), { form: { csrf, password: PASSWORD, password_confirm: PASSWORD, ...form } });
      return { who, code, finish };
    }

    it('a registry outage ends the flow after 5 registry questions, however many steps are sent at once', async () => {
      const { code, finish } = await begin();
      registry.state.mode = 'not_json';
      try {
        const first = await finish({ code }); // proves the phone, first outage
        expect(first.status).toBe(503);
        const before = registry.state.requests;
        // 4 more outages are allowed; a bot sends 20 at once, then 20 again.
        for (let round = 0; round < 2; round++) {
          const answers = await Promise.all(Array.from({ length: 20 }, () => finish({})));
          for (const a of answers) await a.text();
        }
        const asked = registry.state.requests - before;
        // MAX_REGISTRY_FAILURES = 5: at most 4 more registry questions for this flow.
        expect(asked, `registry asked ${asked} more times for one flow`).toBeLessThanOrEqual(4);
      } finally {
        registry.state.mode = 'match';
      }
    });

    it('20 wrong codes sent at once spend the 5 tries; the right code afterwards does not register', async () => {
      const { who, code, finish } = await begin();
      const wrong = (i: number) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0');
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => finish({ code: wrong(i) })));
      for (const a of answers) await a.text();
      const last = await finish({ code });
      expect(last.status).toBe(429);
      expect((await h.yihao.accounts.verifyPassword(who.citizenId, PASSWORD, '127.0.0.1')).ok).toBe(false);
    });

    it('the right code sent twice at once creates one account, and the loser is not told anything new', async () => {
      const { who, code, finish } = await begin();
      const answers = await Promise.all([finish({ code }), finish({ code }), finish({ code })]);
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      const count = Number((await h.yihao.stores.db('accounts').where({ phone: `+86${who.phone}` }).count({ n: '*' }).first())?.n);
      expect(count).toBe(1);
    });

    it('registers once the right phone is given, after five phones not in the name, in the same browser (a first budget refused it)', async () => {
      const citizenId = syntheticCitizenId({ region: '110105', birth: '19800101', seq: backend === 'sqlite' ? 941 : 942 });
      const right = phoneFor(backend);
      registry.state.phonesInName.set(citizenId, new Set([`+86${right}`]));
      const b = new ScriptedBrowser();
      const open = await b.request(new URL('/register?ui_locales=en', h.url));
      let csrf = formField(await open.text(), 'csrf')!;
      const attempt = async (phone: string) => {
        const sent = await b.request(new URL('/register?ui_locales=en', h.url), { form: { csrf, citizen_id: citizenId, name: '王芳', phone } });
        expect(sent.status).toBe(303);
        const step2 = await b.request(new URL('/register/code?ui_locales=en', h.url));
        csrf = formField(await step2.text(), 'csrf') ?? csrf;
        const code = (await latestOutboxCode(outboxPath(h.config.dataDir), phone, 'register'))!;
        const done = await b.request(new URL('/register/code?ui_locales=en', h.url), { form: { csrf, code, password: PASSWORD, password_confirm: PASSWORD } });
        const html = await done.text();
        csrf = formField(html, 'csrf') ?? csrf;
        return done.status;
      };
      const refusals: number[] = [];
      for (let i = 0; i < 5; i++) refusals.push(await attempt(phoneFor(backend)));
      expect(refusals).toEqual([422, 422, 422, 422, 422]);
      const finalStatus = await attempt(right);
      // The registry is up and says the phone is in the citizen's name: the account is made.
      expect(finalStatus).toBe(200);
      expect((await h.yihao.accounts.verifyPassword(citizenId, PASSWORD, '127.0.0.1')).ok).toBe(true);
    });
  });
}
