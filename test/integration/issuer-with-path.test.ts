/**
 * An issuer with a path (docs/credentials.md says it is supported): oidc-provider's URLs
 * (urlsFromIssuer) are stated under the issuer, path included, as Yihao's own routers state theirs
 * (`${issuer}${path}`). They dropped the path before.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ overrides: (c) => ({ ...c, issuer: `${c.issuer}/id` }) });
});
afterAll(async () => h?.close());

it('states oidc-provider\'s endpoints under the same base as Yihao\'s own', async () => {
  const discovery = (await (await fetch(`${h.url}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  const vci = (await (await fetch(`${h.url}/.well-known/openid-credential-issuer/id`)).json()) as Record<string, string>;
  expect(discovery.issuer).toBe(h.config.issuer);
  expect(vci.credential_endpoint).toBe(`${h.config.issuer}/credentials/credential`);
  expect({ token: discovery.token_endpoint, device: discovery.device_authorization_endpoint }).toEqual({ token: `${h.config.issuer}/token`, device: `${h.config.issuer}/device/auth` });
});

it("states the mobile channel's endpoints under the issuer too, where the proxy that strips its path sends them on", async () => {
  const discovery = (await (await fetch(`${h.url}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  expect({
    challenge: discovery.device_key_challenge_endpoint,
    keys: discovery.device_keys_endpoint,
    approvals: discovery.approvals_endpoint,
  }).toEqual({
    challenge: `${h.config.issuer}/mobile/challenge`,
    keys: `${h.config.issuer}/mobile/device-keys`,
    approvals: `${h.config.issuer}/mobile/approvals`,
  });
});
