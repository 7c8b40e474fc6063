import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Accounts } from '../accounts/index.js';
import { ConfigError } from '../config/config-error.js';
import { projectRoot } from '../config/paths.js';
import type { AuditLog } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { CitizenIdVault, Sealer } from '../identity/index.js';
import type { InteractionDeps, LoginOption } from '../interactions/index.js';
import type { Logger } from '../logger.js';
import { acrRank, requestedAcr } from '../oidc/acr-policy.js';
import type { SessionAuthentications } from '../oidc/session-authentications.js';
import type { SignOut } from '../oidc/sign-out.js';
import type { IdentityRegistry } from '../registry/index.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { createFederatedSignIn } from './federated-sign-in.js';
import { federationRouter } from './federation.routes.js';
import { CALLBACK_PATH, SIGNED_OUT_PATH } from './paths.js';
import { continueSignOut, signOutRoutes } from './sign-out.routes.js';
import { createFlowStore } from './flow-store.js';
import { createLinkedIdentities } from './linked-identities.js';
import { upstreamDefinition, type Upstream } from './upstream.js';
import { createUpstreamClients } from './upstream-clients.js';
import type { Outbound } from '../outbound/index.js';
import { upstreamFetch } from './upstream-fetch.js';
import { createUpstreamLogout } from './upstream-logout.js';
import { createUpstreamSignOut } from './upstream-sign-out.js';
import { createUpstreamStore, parseUpstreamInput } from './upstream-store.js';

export { createUpstreamStore, parseUpstreamInput, type UpstreamStore } from './upstream-store.js';
export { upstreamInput, type Upstream, type UpstreamInput } from './upstream.js';
export { mappedAcr, federatedAmr } from './assurance.js';
export type { FederatedAuthentication, Refusal } from './federated-sign-in.js';
export { backchannelLogoutPath, CALLBACK_PATH, SIGNED_OUT_PATH } from './paths.js';
export type { ContinueSignOut } from './sign-out.routes.js';
export { keepUpstreamOrigin } from './session-origin.js';

/** How long the login page trusts its list of active upstreams; `yihao idp disable` (another process) takes effect within it. */
const ACTIVE_LIST_TTL_MS = 5_000;

export interface FederationDeps {
  config: Config;
  outbound: Pick<Outbound, 'fetch'>;
  db: Database;
  sealer: Sealer;
  vault: CitizenIdVault;
  audit: AuditLog;
  registry: IdentityRegistry;
  accounts: Accounts;
  accountIndex: AccountIndex;
  authentications: SessionAuthentications;
  signOut: SignOut;
  Adapter: AdapterConstructor;
  logger: Logger;
}

/** Upstream identity providers as sign-in methods: definitions, sign-in, linking and logout. */
export function createFederation(deps: FederationDeps) {
  const { config, db } = deps;
  const timeoutMs = config.federation.timeoutMs;
  let active: { until: number; list: Promise<Upstream[]> } | undefined;
  // A change made through this instance shows on its login page at once; other instances' within the TTL.
  const upstreams = createUpstreamStore(db, deps.sealer, () => (active = undefined));
  const fetch = upstreamFetch(deps.outbound, timeoutMs);
  const clients = createUpstreamClients({ store: upstreams, fetch, allowInsecureHttp: config.env !== 'production', timeoutMs });
  const flows = createFlowStore(db);
  const links = createLinkedIdentities(db, deps.vault);
  const signIn = createFederatedSignIn({
    upstreams,
    clients,
    flows,
    links,
    audit: deps.audit,
    registry: deps.registry,
    sealer: deps.sealer,
    notBeforeOf: async (sub) => (await deps.accounts.findBySub(sub))?.notBefore,
    registryCheck: config.federation.registryCheck,
    callbackUrl: `${config.issuer}${CALLBACK_PATH}`,
    sessionTtlSeconds: config.ttl.sessionSeconds,
    logger: deps.logger,
  });
  const logout = createUpstreamLogout({ ...deps, upstreams, clients, flows, links, fetch, timeoutMs });
  const signOut = createUpstreamSignOut({ ...deps, upstreams, clients, flows, signedOutUrl: `${config.issuer}${SIGNED_OUT_PATH}` });
  const secureCookies = config.issuer.startsWith('https:');
  const afterSignOut = continueSignOut(signOut, secureCookies);

  const activeUpstreams = () => {
    if (!active || active.until < Date.now()) {
      const list = upstreams.active();
      active = { until: Date.now() + ACTIVE_LIST_TTL_MS, list };
      list.catch(() => (active = undefined));
    }
    return active.list;
  };

  return {
    upstreams,
    links,

    /** The upstreams offered on the web login page: active, allowed on the web, and able to reach the requested level. */
    async loginOptions(params: Record<string, unknown>): Promise<LoginOption[]> {
      const wanted = acrRank(requestedAcr(params));
      return (await activeUpstreams())
        .filter((u) => u.channels.includes('web') && acrRank(u.maxAcr) >= wanted)
        .map((u) => ({ path: `federation/${u.name}`, label: { 'zh-CN': u.displayName, en: u.displayNameEn } }));
    },

    /**
     * After a Yihao session ended in a browser (the portal's sign-out): where to send the browser,
     * through the upstream's sign-out where that session came from one set to be signed out.
     */
    afterSignOut,

    router(interactionDeps: InteractionDeps) {
      const router = federationRouter({ ...interactionDeps, upstreams, signIn, logout, Adapter: deps.Adapter, secureCookies });
      return signOutRoutes(router, { provider: interactionDeps.provider, signOut, continueSignOut: afterSignOut, holdLogout: () => deps.signOut.holdAppLogout() });
    },

    sweep: (now: number, batchSize?: number) => flows.sweep(now, batchSize),

    /** Applies the upstreams of the configuration file (at start-up): added, or updated to match. */
    async applyConfigured(): Promise<void> {
      for (const [i, { clientSecretFile, ...input }] of config.federation.upstreams.entries()) {
        let secret: string | undefined;
        if (clientSecretFile) {
          try {
            secret = readFileSync(resolve(projectRoot, clientSecretFile), 'utf8').replace(/\r?\n$/, '');
          } catch (e) {
            throw new ConfigError(`federation.upstreams.${i}.clientSecretFile`, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
          }
        }
        if (input.clientAuth !== 'private_key_jwt' && !secret) throw new ConfigError(`federation.upstreams.${i}.clientSecretFile`, `is required for ${input.clientAuth}`);
        // An upstream decides who can sign in: a change from the file is recorded like the CLI's, in
        // the change's transaction (else a failed record would never be written: the next start finds
        // nothing to change), and every instance's restart with the same file records nothing.
        const apply = () => db.transaction(async (trx) => {
          const store = createUpstreamStore(trx, deps.sealer);
          const before = await store.find(parseUpstreamInput(input).name);
          const after = await store.put(input, input.clientAuth === 'private_key_jwt' ? undefined : secret);
          const [was, now] = [before && upstreamDefinition(before), upstreamDefinition(after)];
          const record = (action: 'admin.upstream.added' | 'admin.upstream.updated', details: Record<string, unknown>) =>
            deps.audit.append({ action, actorType: 'system', actorId: 'config', details: { upstream: after.name, via: 'config', ...details } }, { trx });
          if (!was) await record('admin.upstream.added', { after: now });
          else if (!isDeepStrictEqual(was, now)) await record('admin.upstream.updated', { before: was, after: now });
        });
        // Another instance starting at the same moment may add it first; then this one's insert
        // failed its transaction (PostgreSQL aborts it), and a second pass finds that row to update.
        await apply().catch(() => apply());
        active = undefined;
        clients.forget(input.name);
      }
    },
  };
}
export type Federation = ReturnType<typeof createFederation>;
