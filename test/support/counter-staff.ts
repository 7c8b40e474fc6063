import * as oidc from 'openid-client';
import type { CreatedClient } from '../../src/clients/index.js';
import { walkSignIn } from './admin-operators.js';
import type { Harness } from './harness.js';
import { REDIRECT, authorizationUrl } from './relying-party.js';
import { ScriptedBrowser } from './scripted-browser.js';

/**
 * Puts a counter system, registered through the client registry, under a department the way
 * `yihao client create --department` does: `departmentId`, or a new root department named `name`.
 * Returns the department id.
 */
export async function counterClientOf(h: Harness, client: CreatedClient, name: string, departmentId?: string): Promise<string> {
  const { bootstrap } = h.yihao.admin.services;
  const department = departmentId ? await bootstrap.departmentForClient(departmentId) : await bootstrap.createDepartment({ name, level: 'national' });
  const secret = client.metadata.client_secret;
  await bootstrap.adoptClient({ clientId: client.client_id, settings: client.settings, secretDigest: typeof secret === 'string' ? secret : undefined, department: department! });
  return department!.id;
}

/**
 * A staff member signs in to the counter system at loa:2 (password, then TOTP, set up on the first
 * sign-in); the counter system redeems the code, DPoP-bound when `dpop` is given.
 */
export async function staffSignIn(h: Harness, rp: oidc.Configuration, who: { citizenId: string; password: string; totpSecret?: string }, opts: { dpop?: oidc.DPoPHandle } = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const start = await authorizationUrl(rp, verifier, { scope: 'openid', acr_values: 'urn:yihao:loa:2', ui_locales: 'en' });
  const { url, html } = await walkSignIn(new ScriptedBrowser(), start, who, (u) => u.href.startsWith(REDIRECT));
  if (html !== undefined) throw new Error(`sign-in stopped at ${url.pathname}: ${html.slice(0, 300)}`);
  return oidc.authorizationCodeGrant(rp, url, { pkceCodeVerifier: verifier }, undefined, opts.dpop ? { DPoP: opts.dpop } : {});
}
