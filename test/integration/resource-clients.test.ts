/**
 * Each resource server (an API, config `resourceServers`) names the apps its tokens are for. Another
 * app, however it asks (client_credentials, or a citizen's sign-in with a `resource`), gets no token
 * for it, and the configuration cannot leave the question open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { fileConfigShape } from '../../src/config/schema.js';

const RECORDS = 'https://records.example.gov.cn/api';
const PUBLIC_API = 'https://open.example.gov.cn/api';

describe('resources name their apps', () => {
  let h: Harness;
  /** The records API's list of apps, as the running provider reads it. */
  let recordsClients: string[];

  beforeAll(async () => {
    h = await startHarness({
      overrides: (c) => ({
        ...c,
        resourceServers: {
          [RECORDS]: { scope: 'records:read', accessTokenFormat: 'jwt', clients: ['not-yet-registered'] },
          [PUBLIC_API]: { scope: 'open:read', accessTokenFormat: 'jwt', clients: ['*'] },
        },
      }),
    });
    recordsClients = h.config.resourceServers[RECORDS]!.clients;
  });
  afterAll(async () => h?.close());

  const clientCredentials = (client: { client_id: string; client_secret?: string }, resource: string, scope: string) =>
    fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }).toString(),
    });

  it('gives client_credentials tokens for an API only to the apps it names', async () => {
    const named = await h.client({ grantTypes: ['client_credentials'], redirectUris: [] });
    const other = await h.client({ grantTypes: ['client_credentials'], redirectUris: [] });
    // Client ids are made at registration: the running provider reads its configuration's list.
    recordsClients.push(named.client_id);
    expect((await clientCredentials(named, RECORDS, 'records:read')).status).toBe(200);
    const refused = await clientCredentials(other, RECORDS, 'records:read');
    expect({ status: refused.status, body: await refused.json() }).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    // An API open to every app says so.
    expect((await clientCredentials(other, PUBLIC_API, 'open:read')).status).toBe(200);
  });

  it('gives no token for an API to an app it does not name through a citizen\'s sign-in either', async () => {
    const citizen = await h.citizen();
    const client = await h.client({ redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid profile records:read', resource: RECORDS });
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password }).catch((e: unknown) => e);
    if (callback instanceof URL) {
      const err = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, { resource: RECORDS }).catch((e: unknown) => e);
      expect(err).toMatchObject({ error: 'invalid_target' });
    } else {
      expect(String(callback)).toContain('invalid_target');
    }
  });

  it('refuses a refresh for a resource the app may not have before anything is spent: its refresh token still works', async () => {
    const citizen = await h.citizen();
    const client = await h.client({ redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    // An API that does not name this app, one that does not exist, and one the grant never held.
    for (const resource of [RECORDS, 'https://unknown.example.gov.cn/api', PUBLIC_API]) {
      const err = await oidc.refreshTokenGrant(rp, tokens.refresh_token!, { resource }).catch((e: unknown) => e);
      expect(err, resource).toMatchObject({ error: 'invalid_target' });
    }
    const next = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(next.access_token).toBeTruthy();
  });

  it('refuses a configuration that leaves an API\'s apps unnamed, or mixes "*" with names', () => {
    const base = { port: 0, dataDir: '.', logLevel: 'info' } as const;
    const problems = (servers: unknown) => {
      const parsed = fileConfigShape.partial().safeParse({ ...base, resourceServers: servers });
      return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'));
    };
    expect(problems({ [RECORDS]: { scope: 'records:read' } })).toEqual([`resourceServers.${RECORDS}.clients`]);
    expect(problems({ [RECORDS]: { scope: 'records:read', clients: [] } })).toEqual([`resourceServers.${RECORDS}.clients`]);
    expect(problems({ [RECORDS]: { scope: 'records:read', clients: ['*', 'app'] } })).toEqual([`resourceServers.${RECORDS}.clients`]);
    expect(problems({ [RECORDS]: { scope: 'records:read', clients: ['app'] } })).toEqual([]);
  });
});
