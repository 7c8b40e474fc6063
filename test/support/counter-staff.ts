import { randomInt } from 'node:crypto';
import * as oidc from 'openid-client';
import { latestOutboxCode, OFFER_CODE_PURPOSE, outboxPath } from '../../src/sms/index.js';
import type { CreatedClient } from '../../src/clients/index.js';
import { adminResource } from '../../src/admin/index.js';
import { walkSignIn } from './admin-operators.js';
import type { Harness } from './harness.js';
import { REDIRECT, authorizationUrl, relyingParty } from './relying-party.js';
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
 * A department's own system (a service client adopted into the department) and its
 * client_credentials token for the admin API with the certificates:push scope.
 */
export async function departmentSystemToken(h: Harness, departmentId: string, name: string): Promise<string> {
  const system = await h.client({ kind: 'service', name });
  await counterClientOf(h, system, name, departmentId);
  return (await oidc.clientCredentialsGrant(await relyingParty(h, system), { scope: 'certificates:push', resource: adminResource(h.issuer) })).access_token;
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

/** A citizen with a phone bound: a counter's credential offer sends its transaction code there. */
export async function citizenWithPhone(h: Harness, name: string): Promise<Awaited<ReturnType<Harness['citizen']>> & { phone: string }> {
  const phone = `139${String(randomInt(100_000_000)).padStart(8, '0')}`;
  return { ...(await h.citizen({ name, phone })), phone };
}

/** The transaction code of the latest counter offer sent by SMS to `phone` (11 digits). */
export async function offerCodeSentTo(h: Harness, phone: string): Promise<string> {
  const code = await latestOutboxCode(outboxPath(h.config.dataDir), `+86${phone}`, OFFER_CODE_PURPOSE);
  if (!code) throw new Error('no transaction code was sent to the citizen’s phone');
  return code;
}

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** A counter system registered in a department of its own, and a member of its staff signed in to it. */
export async function counterWithStaff(h: Harness, staffName: string): Promise<{ staffToken: string; departmentId: string; clientId: string; staff: Awaited<ReturnType<Harness['citizen']>> }> {
  const client = await h.client({ name: '政务服务中心柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE_GRANT as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
  const departmentId = await counterClientOf(h, client, '杭州市政务服务中心');
  const staff = await h.citizen({ name: staffName });
  await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
  const staffToken = (await staffSignIn(h, await relyingParty(h, client), staff)).access_token;
  return { staffToken, departmentId, clientId: client.client_id, staff };
}

/** `POST /credentials/offers/counter` with a staff token: an offer for the citizen with this ID number, after an in-person check. */
export const counterOffer = (h: Harness, staffToken: string, citizenId: string): Promise<Response> =>
  fetch(`${h.issuer}/credentials/offers/counter`, {
    method: 'POST',
    headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ citizen_id: citizenId, document_check: 'in_person' }),
  });
