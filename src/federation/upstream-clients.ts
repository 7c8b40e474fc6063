import { importJWK } from 'jose';
import * as oidc from 'openid-client';
import type { Upstream } from './upstream.js';
import type { UpstreamStore } from './upstream-store.js';
import type { UpstreamFetch } from './upstream-fetch.js';

/** The upstream could not be reached, answered too slowly, or published unusable metadata. */
export class UpstreamUnavailableError extends Error {
  constructor(
    readonly upstream: string,
    readonly reason: 'timeout' | 'unreachable' | 'bad_metadata',
  ) {
    super(`upstream ${upstream} is unavailable (${reason})`);
    this.name = 'UpstreamUnavailableError';
  }
}

/** Why a request to an upstream failed, in the terms the login page uses. */
export function unavailableReason(e: unknown): UpstreamUnavailableError['reason'] | undefined {
  for (let err = e as { name?: string; code?: string; cause?: unknown } | undefined, depth = 0; err && depth < 5; err = err.cause as typeof err, depth++) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timeout';
    if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'ENOTFOUND' || err.code === 'EHOSTUNREACH' || err.code === 'UND_ERR_SOCKET') return 'unreachable';
    if (err.name === 'TypeError' && /fetch failed/.test(String((err as Error).message))) return 'unreachable';
  }
  return undefined;
}

const DISCOVERY_TTL_MS = 10 * 60_000;

/**
 * openid-client Configurations for the upstreams, from their discovery documents (cached for a
 * while per instance: nothing that matters lives here, a miss costs one request).
 */
export function createUpstreamClients({ store, fetch, allowInsecureHttp, timeoutMs }: { store: UpstreamStore; fetch: UpstreamFetch; allowInsecureHttp: boolean; timeoutMs: number }) {
  const cache = new Map<string, { until: number; key: string; config: oidc.Configuration }>();
  const customFetch: oidc.CustomFetch = (url, options) => fetch(url, options as RequestInit);

  async function clientAuth(upstream: Upstream): Promise<oidc.ClientAuth> {
    const credential = await store.credential(upstream.name);
    if (!credential) throw new UpstreamUnavailableError(upstream.name, 'bad_metadata');
    if (credential.kind === 'private_key') {
      const key = (await importJWK(credential.jwk, 'ES256')) as Extract<Parameters<typeof oidc.PrivateKeyJwt>[0], { key: unknown }>['key'];
      return oidc.PrivateKeyJwt({ key, kid: String(credential.jwk.kid) });
    }
    return upstream.clientAuth === 'client_secret_post' ? oidc.ClientSecretPost(credential.secret) : oidc.ClientSecretBasic(credential.secret);
  }

  return {
    async configuration(upstream: Upstream): Promise<oidc.Configuration> {
      // A changed definition (same name, new issuer or client) must not reuse the old configuration.
      const key = `${upstream.issuer} ${upstream.clientId} ${upstream.clientAuth} ${upstream.createdAt}`;
      const hit = cache.get(upstream.name);
      if (hit && hit.key === key && hit.until > Date.now()) return hit.config;
      const issuer = new URL(upstream.issuer);
      if (issuer.protocol !== 'https:' && !allowInsecureHttp) throw new UpstreamUnavailableError(upstream.name, 'bad_metadata');
      let config: oidc.Configuration;
      try {
        config = await oidc.discovery(issuer, upstream.clientId, undefined, await clientAuth(upstream), {
          [oidc.customFetch]: customFetch,
          timeout: Math.ceil(timeoutMs / 1000),
          ...(allowInsecureHttp && issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
        });
      } catch (e) {
        if (e instanceof UpstreamUnavailableError) throw e;
        throw new UpstreamUnavailableError(upstream.name, unavailableReason(e) ?? 'bad_metadata');
      }
      // The ID token's signature, against the upstream's published keys: openid-client checks it on
      // a token from the token endpoint only when asked, and an upstream's (or a path's) altered or
      // foreign-keyed ID token must not link or sign in anyone.
      oidc.enableNonRepudiationChecks(config);
      cache.set(upstream.name, { until: Date.now() + DISCOVERY_TTL_MS, key, config });
      return config;
    },
    forget(name: string): void {
      cache.delete(name);
    },
  };
}
export type UpstreamClients = ReturnType<typeof createUpstreamClients>;
