import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { legacySeal } from '../support/legacy-seal.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];

const SCOPE = 'openid profile citizen_id';
const birthdateOf = (id: string) => `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`;

describe.each(backends)('a sealed citizen ID stays with its account (%s)', (backend) => {
  let h: Harness;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    h = await startHarness({ backend });
    rp = await relyingParty(h, await h.client({ scope: SCOPE, citizenIdRelease: 'full' }));
  });
  afterAll(async () => h?.close());

  const db = () => h.yihao.stores.db;
  const row = (sub: string) => db()('accounts').where({ sub }).first() as Promise<{ id: string; citizen_index: string; citizen_sealed: string }>;

  async function signIn(identifier: string, password: string) {
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: SCOPE }), { identifier, password });
    return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
  }

  /** What userinfo says for a token: its claims, or that it refused. */
  async function userinfo(tokens: oidc.TokenEndpointResponse): Promise<Record<string, unknown> | 'refused'> {
    const res = await fetch(new URL('/me', h.issuer), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : 'refused';
  }

  it("refuses a sealed ID copied from another account's row, after the owner's ID was already read", async () => {
    const victim = await h.citizen();
    const attacker = await h.citizen();
    const tokens = await signIn(attacker.citizenId, attacker.password);
    // The attacker's own number, read once: whatever caches it must not answer for the copied value.
    expect(await userinfo(tokens)).toMatchObject({ citizen_id: attacker.citizenId });
    const victimRow = await row(victim.sub);
    await db()('accounts').where({ sub: attacker.sub }).update({ citizen_sealed: victimRow.citizen_sealed });

    const after = await userinfo(tokens);
    expect(JSON.stringify(after)).not.toContain(victim.citizenId);
    expect(JSON.stringify(after)).not.toContain(birthdateOf(victim.citizenId));
    expect(after).toBe('refused');
    await expect(async () => (await h.yihao.accounts.findBySub(attacker.sub))!.citizenId()).rejects.toThrow(/does not belong|failed authentication/);
  });

  it("refuses a row that took both another citizen's index and sealed ID: signing in with the victim's number gets nothing", async () => {
    const victim = await h.citizen();
    const attacker = await h.citizen();
    const victimRow = await row(victim.sub);
    // The victim's row moves its index aside (unique), and the attacker's row takes its identity.
    await db()('accounts').where({ sub: victim.sub }).update({ citizen_index: `moved-${randomBytes(8).toString('hex')}` });
    await db()('accounts').where({ sub: attacker.sub }).update({ citizen_index: victimRow.citizen_index, citizen_sealed: victimRow.citizen_sealed });

    let outcome: string;
    try {
      const tokens = await signIn(victim.citizenId, attacker.password);
      outcome = JSON.stringify([tokens.claims(), await userinfo(tokens)]);
    } catch (e) {
      outcome = `refused: ${(e as Error).message}`;
    }
    expect(outcome).not.toContain(victim.citizenId);
    expect(outcome).not.toContain(birthdateOf(victim.citizenId));
    expect(outcome).toMatch(/^refused/);
  });

  it('still opens a row sealed before the aad named the account, and refuses that value in another row', async () => {
    const legacyHolder = await h.citizen();
    const other = await h.citizen();
    const legacy = legacySeal(h.config.secrets.sealKeys[0]!, legacyHolder.citizenId);
    await db()('accounts').where({ sub: legacyHolder.sub }).update({ citizen_sealed: legacy });
    const tokens = await signIn(legacyHolder.citizenId, legacyHolder.password);
    expect(await userinfo(tokens)).toMatchObject({ citizen_id: legacyHolder.citizenId, birthdate: birthdateOf(legacyHolder.citizenId) });
    expect(h.yihao.services.vault.needsReseal(legacy)).toBe(true);

    // The old envelope names no account, but the row's own blind index still ties it to its row.
    await db()('accounts').where({ sub: other.sub }).update({ citizen_sealed: legacy });
    await expect(async () => (await h.yihao.accounts.findBySub(other.sub))!.citizenId()).rejects.toThrow(/does not belong/);
  });
});
