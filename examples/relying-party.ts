// A small relying party for the README walkthrough: signs a citizen in through Yihao with
// openid-client (code + PKCE) and shows the ID token claims and userinfo.
//   RP_CLIENT_ID=... RP_CLIENT_SECRET=... npm run example:rp
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';

const issuer = new URL(process.env.ISSUER ?? 'http://localhost:3000');
const port = Number(process.env.RP_PORT ?? 4000);
const clientId = process.env.RP_CLIENT_ID;
const clientSecret = process.env.RP_CLIENT_SECRET;
if (!clientId) {
  console.error('example-rp: set RP_CLIENT_ID (and RP_CLIENT_SECRET) to a client created with `npx yihao client create`');
  process.exit(2);
}
const redirectUri = `http://localhost:${port}/cb`;
const insecure = issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
const config = await oidc.discovery(issuer, clientId, clientSecret, undefined, insecure).catch((e: Error) => {
  console.error(`example-rp: cannot read ${issuer.href}.well-known/openid-configuration (${e.message}); is Yihao running there? Set ISSUER if it is elsewhere.`);
  process.exit(2);
});

// One pending login per browser, keyed by a cookie; fine for a demo, not for production.
const pending = new Map<string, { verifier: string; state: string; nonce: string }>();
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', redirectUri);
  try {
    if (url.pathname === '/') {
      const key = randomBytes(16).toString('hex');
      const checks = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
      pending.set(key, checks);
      const authUrl = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile phone',
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.verifier),
        code_challenge_method: 'S256',
        state: checks.state,
        nonce: checks.nonce,
        ...(url.searchParams.get('lang') === 'en' ? { ui_locales: 'en' } : {}),
      });
      res.writeHead(303, { location: authUrl.href, 'set-cookie': `rp=${key}; HttpOnly; SameSite=Lax; Path=/` }).end();
      return;
    }
    if (url.pathname === '/cb') {
      const key = /(?:^|;\s*)rp=([a-f0-9]+)/.exec(req.headers.cookie ?? '')?.[1];
      const checks = key ? pending.get(key) : undefined;
      if (!checks) throw new Error('no login in progress; start at /');
      pending.delete(key!);
      const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: checks.verifier, expectedState: checks.state, expectedNonce: checks.nonce });
      const claims = tokens.claims()!;
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><title>Signed in</title><h1>Signed in through Yihao</h1>
<h2>ID token claims</h2><pre>${esc(JSON.stringify(claims, null, 2))}</pre>
<h2>UserInfo</h2><pre>${esc(JSON.stringify(userinfo, null, 2))}</pre><p><a href="/">Sign in again</a></p>`);
      return;
    }
    res.writeHead(404).end('not found');
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`sign-in failed: ${(e as Error).message}`);
  }
}).listen(port, () => console.log(`example relying party at http://localhost:${port}/ (redirect URI ${redirectUri})`));
