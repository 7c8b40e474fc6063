import * as oidc from 'openid-client';
import { isPostgres, type Database } from '../../src/storage/database.js';
import { authorizationUrl } from './relying-party.js';
import { formField, scriptedSignIn, type ScriptedBrowser } from './scripted-browser.js';

/** Signs `citizen` in to `rp` in `browser`, asked for consent, and redeems the code. */
export async function consentedSignIn(browser: ScriptedBrowser, rp: oidc.Configuration, citizen: { citizenId: string; password: string }, scope: string) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = await authorizationUrl(rp, verifier, { state, scope, prompt: 'consent' });
  const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
  return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
}

/** Whether a grant's row is stored. */
export const grantStored = async (db: Database, grantId: string) => (await db('oidc_models').where({ model: 'Grant', id: grantId }).first()) !== undefined;

/**
 * A trigger that makes the store refuse one kind of statement on `table` rows matching the
 * condition (as a failing store would); returns the undo.
 */
export async function refuseRows(db: Database, on: { table: string; op: 'insert' | 'delete'; pgWhen: string; sqliteWhen: string }): Promise<() => Promise<void>> {
  const name = `refuse_${on.op}`;
  if (isPostgres(db)) {
    await db.raw(`create function ${name}() returns trigger language plpgsql as $$ begin raise exception 'store refused'; end $$`);
    await db.raw(`create trigger ${name} before ${on.op} on ${on.table} for each row when (${on.pgWhen}) execute function ${name}()`);
  } else {
    await db.raw(`create trigger ${name} before ${on.op} on ${on.table} when ${on.sqliteWhen} begin select raise(abort, 'store refused'); end`);
  }
  return async () => {
    await db.raw(`drop trigger ${name}` + (isPostgres(db) ? ` on ${on.table}` : ''));
    if (isPostgres(db)) await db.raw(`drop function ${name}()`);
  };
}

/**
 * An app's logout (RP-initiated) in `browser`, signing out of Yihao too (`logout=yes` on the
 * confirmation form); the confirmation's status. Throws when there is no confirmation form.
 */
export async function logOutThroughApp(issuer: string, browser: ScriptedBrowser, rp: oidc.Configuration, idToken: string): Promise<number> {
  const end = new URL(rp.serverMetadata().end_session_endpoint!);
  end.searchParams.set('id_token_hint', idToken);
  end.searchParams.set('client_id', rp.clientMetadata().client_id);
  const { res, url } = await browser.follow(end, {}, issuer);
  const html = await res.text();
  const action = /action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`no logout form (${res.status})`);
  const done = await browser.request(new URL(action, url), { form: { xsrf: formField(html, 'xsrf')!, logout: 'yes' } });
  await done.arrayBuffer();
  return done.status;
}
