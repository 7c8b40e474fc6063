/**
 * Child process for the benchmark's baseline: a bare oidc-provider with an in-memory store (its own
 * memory adapter without the walk of every grant member on each save: bare-adapter.ts), one static
 * client, client_credentials with the same resource indicator (JWT access tokens signed ES256), an
 * ES256 key, behind a plain node:http server on 127.0.0.1. For userinfo it mints one opaque access
 * token for one account at start-up (a grant and a token saved in that store, with oidc-provider's
 * default findAccount), so the floor of oidc-provider's own userinfo is measured without any
 * storage round trip. Likewise a pool of refresh tokens of that grant, rotated on every use as
 * Yihao rotates them. And a sign-in with the smallest login page an app could have
 * (bare-interactions.ts), for oidc-provider's own floor of a complete sign-in.
 */
import { createServer } from 'node:http';
import Provider, { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { BareAdapter } from './bare-adapter.js';
import { handleInteraction, interactionUrl, loadOrMakeGrant } from './bare-interactions.js';

export type ToBare = { type: 'mint' } | { type: 'close' };
/** `minted`: a grant's userinfo token and refresh tokens, made when asked (see mint below). */
export type FromBare = { type: 'ready' } | { type: 'minted'; userinfoToken: string; refreshTokens: string[] } | { type: 'error'; message: string };

const send = (msg: FromBare) => process.send?.(msg);

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

async function main(): Promise<void> {
  const port = Number(env('BENCH_PORT'));
  const resource = env('BENCH_RESOURCE');
  const scope = env('BENCH_SCOPE');
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

  const provider = new Provider(`http://127.0.0.1:${port}`, {
    adapter: BareAdapter,
    clients: [
      {
        client_id: env('BENCH_CLIENT_ID'),
        client_secret: env('BENCH_CLIENT_SECRET'),
        grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
        redirect_uris: [env('BENCH_REDIRECT')],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256', // the only key is ES256 (Yihao's clientDefaults say the same)
      },
    ],
    jwks: { keys: [jwk] },
    // Signed, as any production deployment's (and Yihao's) cookies are.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], profile: ['name'], phone: ['phone_number'] },
    interactions: { url: interactionUrl },
    loadExistingGrant: loadOrMakeGrant,
    // Every code exchange gets a refresh token, as Yihao's bench client does.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined as unknown as string,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx: KoaContextWithOIDC, indicator: string): ResourceServer {
          if (indicator !== resource) throw new errors.InvalidTarget('unknown resource indicator');
          return { scope, audience: indicator, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
    ttl: { ClientCredentials: 600 },
    rotateRefreshToken: true,
  });

  const client = await provider.Client.find(env('BENCH_CLIENT_ID'));
  if (!client) throw new Error('the static client is missing');
  // Made just before each use, as when the store was oidc-provider's LRU of 1,000 records.
  const mint = async () => {
    const grant = new provider.Grant({ accountId: 'bench-citizen', clientId: client.clientId });
    grant.addOIDCScope('openid profile offline_access');
    const grantId = await grant.save();
    const userinfoToken = await new provider.AccessToken({ accountId: 'bench-citizen', client, grantId, gty: 'authorization_code', scope: 'openid profile' }).save();
    const refreshTokens = await Promise.all(
      Array.from({ length: 40 }, () =>
        new provider.RefreshToken({ accountId: 'bench-citizen', client, grantId, gty: 'authorization_code', scope: 'openid profile offline_access', authTime: Math.floor(Date.now() / 1000) }).save(),
      ),
    );
    return { userinfoToken, refreshTokens };
  };

  const callback = provider.callback();
  const server = createServer((req, res) => {
    if (!handleInteraction(provider, req, res)) void callback(req, res);
  });
  server.keepAliveTimeout = 65_000; // as Yihao's listen() does
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  const close = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('disconnect', close);
  process.on('message', (msg: ToBare) => {
    if (msg.type === 'close') close();
    else if (msg.type === 'mint') void mint().then((tokens) => send({ type: 'minted', ...tokens }), (e: unknown) => send({ type: 'error', message: String(e) }));
  });
  send({ type: 'ready' });
}

main().catch((e: unknown) => {
  send({ type: 'error', message: (e as Error).stack ?? String(e) });
  process.exit(1);
});
