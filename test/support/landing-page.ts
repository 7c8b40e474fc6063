import http from 'node:http';
import type net from 'node:net';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/**
 * A relying party's redirect URI that a real browser can land on: a page titled "Back at the
 * relying party". It keeps every request's path and query, so tests can see what arrived.
 */
export interface LandingPage {
  redirectUri: string;
  hits: string[];
  close(): Promise<void>;
}

export async function startLandingPage(): Promise<LandingPage> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html lang="en"><head><title>Relying party</title></head><body><h1>Back at the relying party</h1></body></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    redirectUri: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/cb`,
    hits,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An authorization request with code + S256 PKCE, state and nonce, as openid-client builds it; `extra` adds or overrides parameters. */
export async function authorizationRequest(rp: oidc.Configuration, redirectUri: string, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

/**
 * Opens an authorization request (see `authorizationRequest`) in a
 * real browser page. `land(click)` performs the click that ends at the landing page and redeems the
 * code there; `redeem()` does the second half alone, for a page that has already landed.
 */
export async function authorizeInBrowser(page: Page, rp: oidc.Configuration, redirectUri: string, extra: Record<string, string> = {}) {
  const { url, verifier, state, nonce } = await authorizationRequest(rp, redirectUri, extra);
  expect((await page.goto(url.href))?.status()).toBe(200);
  const redeem = async () => {
    const landed = new URL(page.url());
    expect(landed.origin + landed.pathname).toBe(redirectUri);
    expect(await page.getByRole('heading', { name: 'Back at the relying party' }).isVisible()).toBe(true);
    const tokens = await oidc.authorizationCodeGrant(rp, landed, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return tokens.claims()!;
  };
  return {
    redeem,
    async land(click: () => Promise<void>) {
      await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), click()]);
      return redeem();
    },
  };
}
