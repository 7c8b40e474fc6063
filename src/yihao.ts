import type Router from '@koa/router';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type Koa from 'koa';
import type { Config } from './config/index.js';
import { createAccounts, createLockout, createPasswordHasher, type Accounts } from './accounts/index.js';
import { createCitizenIdVault, createPurposeKeys, createSealer } from './identity/index.js';
import { createSigningKeys, type SigningKeys } from './keys/index.js';
import { createHttpApp } from './http/app.js';
import { createRateLimits } from './http/rate-limits.js';
import { edgeLimits } from './http/edge-limits.js';
import { healthRouter } from './http/health.js';
import { createSmsSignIn, interactionRouter } from './interactions/index.js';
import { csrfTokens } from './http/csrf.js';
import { passwordReset } from './password-reset/index.js';
import { ProviderHolder, sessionAuthentications } from './oidc/index.js';
import { migrate, openDatabase, type Database } from './storage/database.js';
import { oidcAdapter } from './storage/oidc-adapter.js';
import { expectRedis, openRedis, type RedisClient } from './storage/redis.js';
import { DependencyUnavailable, isDependencyFailure } from './storage/dependency-failure.js';
import { withoutPassword } from './config/index.js';
import { startSweeper, type Sweeper } from './storage/sweeper.js';
import { sweepGuesses } from './accounts/lockout-sql.js';
import { createClientCache } from './storage/client-cache.js';
import { registryFromConfig } from './registry/index.js';
import { MAX_REGISTRY_FAILURES, PENDING_REGISTRATION_SECONDS, registration } from './registration/index.js';
import { createOtpService, createOtpStore, createSmsSender } from './sms/index.js';
import { createAccountIndex } from './storage/account-index.js';
import { createSignOut, type SignOut } from './oidc/sign-out.js';
import { grantSessionIds } from './oidc/grant-session-ids.js';
import { accessTokenVerifier } from './oidc/access-token-verifier.js';
import { createPortal } from './portal/index.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics/metrics.js';
import { metricsRouter } from './metrics/metrics.routes.js';
import type { AuditEventInput } from './audit/index.js';
import { redisAuditAnchor } from './audit/audit-anchor.js';
import { checkpointExporter, createAuditLog, createAuditSealer, parseAuditKey, parseAuditPublicKey, verifyKeys, type AuditSealer, type AuditSigningKey } from './audit/index.js';
import { createOutbound } from './outbound/index.js';
import { createSecondFactors } from './mfa/index.js';
import { createPasskeys } from './passkeys/index.js';
import { identityProofing, kioskSessionRouter } from './channels/kiosk/index.js';
import { proofReplay } from './http/request-proofs.js';
import { channelSessions } from './oidc/grant-tokens.js';
import { allowedBefore } from './oidc/remembered-consent.js';
import { counterDeviceKeysRouter, counterStaffList, proofingConfirmRouter } from './channels/counter/index.js';
import { clientSecrets as createClientSecrets, createClientRegistry, secretGrace as createSecretGrace, type ClientRegistry } from './clients/index.js';
import { counterStaffAt, createAdmin, isDepartmentSystemIn, type Admin } from './admin/index.js';
import { createChannels, type Channels } from './channels/index.js';
import { createFederation, keepUpstreamOrigin, type Federation } from './federation/index.js';
import { certificateScopes, citizenCertificates, createCredentialOffers, createCredentials, type Credentials } from './credentials/index.js';

export interface Stores {
  db: Database;
  redis: RedisClient | undefined;
}

/**
 * How long a serving instance waits for PostgreSQL to send anything back on a query before it cuts
 * that connection (src/storage/database.ts, cutWhenUnanswered). Every statement a request or the
 * background work runs takes milliseconds; Redis commands get 5 s (src/storage/redis.ts).
 */
export const SERVING_STALL_MS = 15_000;

/**
 * How long a server's statement waits for another process's write lock on the embedded SQLite file
 * (a CLI command's transaction) before it is answered 503 with Retry-After. better-sqlite3 waits
 * synchronously, so every request of the process waits with it: 5 s froze the whole server.
 */
export const SERVING_SQLITE_BUSY_MS = 250;

/**
 * Opens the SQL store (migrated) and, if configured, Redis. `serving`: for the server, whose
 * PostgreSQL connections are cut when they stall; the CLI's may run long statements.
 */
export async function openStores(config: Config, opts: { schema?: string; logger?: Logger; serving?: boolean } = {}): Promise<Stores> {
  const log = opts.logger && { warn: (m: string) => opts.logger!.warn({ component: 'knex' }, m), error: (m: string) => opts.logger!.error({ component: 'knex' }, m) };
  const options = { url: config.databaseUrl, dataDir: config.dataDir, ...(opts.schema ? { schema: opts.schema } : {}), ...(log ? { log } : {}) };
  const guarded = Boolean(opts.serving && config.databaseUrl);
  // A migration may build an index for minutes without a byte on the wire: never under the guard.
  const migrator = openDatabase(options);
  await migrate(migrator).catch(async (err: unknown) => {
    if (!config.databaseUrl || !isDependencyFailure(err)) throw err;
    await migrator.destroy();
    throw new DependencyUnavailable(`PostgreSQL at ${withoutPassword(config.databaseUrl)} is not reachable`);
  });
  // A server on the embedded SQLite file waits a moment, not seconds, for the CLI's write lock: the
  // wait holds its event loop. Migrations (above) wait the usual 5 s.
  const sqliteServing = Boolean(opts.serving && !config.databaseUrl);
  if (guarded || sqliteServing) await migrator.destroy();
  const db = guarded ? openDatabase({ ...options, stallMs: SERVING_STALL_MS }) : sqliteServing ? openDatabase({ ...options, busyTimeoutMs: SERVING_SQLITE_BUSY_MS }) : migrator;
  if (!config.redis) return { db, redis: undefined };
  const redis = openRedis(config.redis, (err) => opts.logger?.warn({ component: 'redis', error: err.message }, 'redis connection problem'));
  await expectRedis(redis, config.redis).catch(async (err: unknown) => {
    redis.disconnect();
    await db.destroy();
    throw err;
  });
  return { db, redis };
}

/** The domain services, shared by the server and the CLI. */
/** What the metrics hear from the services: every audit append, and how every text message went. */
export interface ServiceObservers {
  audit?: (e: AuditEventInput) => void;
  smsSend?: (purpose: string, sent: boolean) => void;
}

export function createServices(config: Config, stores: Stores, logger: Logger, observe: ServiceObservers = {}) {
  // The one outbound client: every request to another server goes through its guard.
  const outbound = createOutbound(config.outbound, { logger });
  const sealer = createSealer(config.secrets.sealKeys);
  const vault = createCitizenIdVault(config.secrets, config.keys.purposes.citizenIndex);
  // One key per purpose (docs/keys.md); pairwise subjects and pseudonyms stay on version 1 for good.
  const purposeKeys = createPurposeKeys(config.secrets);
  const versions = config.keys.purposes;
  const hasher = createPasswordHasher(config.argon2);
  // Nothing was ever stored under version 1 of this purpose, so it starts on a derived key; its
  // records live one throttle window, so a switch needs no migration.
  const lockoutSubjects = purposeKeys.keyed('lockout_subject', 2);
  const lockout = createLockout({ db: stores.db, redis: stores.redis, redisPrefix: config.redisPrefix, policy: config.lockout, distributed: config.distributedLockout });
  const accounts = createAccounts({ db: stores.db, vault, hasher, lockout, keyed: lockoutSubjects });
  const signingKeys = createSigningKeys(stores.db, sealer, config.keys);
  const clientCache = createClientCache({
    ttlMs: 5_000,
    maxEntries: 10_000,
    redis: stores.redis,
    channel: `${config.redisPrefix}client-changed`,
    onError: (err) => logger.warn({ component: 'redis', error: err.message }, 'redis connection problem'),
  });
  const accountIndex = createAccountIndex(stores.db, { accessTokenSeconds: config.ttl.accessTokenSeconds });
  const Adapter = oidcAdapter({ db: stores.db, redis: stores.redis, redisPrefix: config.redisPrefix, clientCache, accountIndex });
  const secretGrace = createSecretGrace(stores.db);
  const clientSecrets = createClientSecrets(purposeKeys, { clientSecret: versions.clientSecret.version, firstPartySecret: versions.firstPartySecret.version }, { grace: secretGrace });
  const auditKey = auditSigningKey(config);
  // With Redis, the newest checkpoint is also kept there: outside the database's reach (docs/audit.md).
  const auditAnchor = stores.redis ? redisAuditAnchor(stores.redis, config.redisPrefix) : undefined;
  const audit = createAuditLog(stores.db, {
    verifyKeys: verifyKeys(auditKey, config.audit.retiredPublicKeys.map(retiredAuditKey)),
    exportFile: config.audit.export.file,
    observe: observe.audit,
    anchor: auditAnchor,
  });
  const registry = registryFromConfig(config.registry, { logger, outbound });
  const otpStore = createOtpStore({ db: stores.db, redis: stores.redis, redisPrefix: config.redisPrefix });
  const otp = createOtpService({
    store: otpStore,
    sender: createSmsSender(config.sms.sender, { dataDir: config.dataDir, fetch: outbound.fetch, observe: observe.smsSend && ((m, sent) => observe.smsSend!(m.purpose, sent)) }),
    keyed: purposeKeys.keyed('sms', versions.sms.version),
    limits: config.sms.limits,
    // SMS sign-in and reset codes go out after the answer (otp-service.ts `background`): a failure is seen here.
    onBackgroundFailure: (e, to) => logger.warn({ component: 'sms', to, error: e instanceof Error ? e.message : String(e) }, 'an SMS code could not be sent'),
  });
  const counterStaff = counterStaffList(stores.db);
  const proofing = identityProofing({ db: stores.db, accounts, audit, isCounterStaffAt: counterStaffAt(stores.db, counterStaff.isCounterStaff) });
  const secondFactors = createSecondFactors({ db: stores.db, sealer, recoveryKeys: { version: versions.recoveryCode.version, keyed: (v) => purposeKeys.keyed('recovery_code', v) }, lockout, Adapter, issuerName: 'Yihao' });
  const issuer = new URL(config.issuer);
  // The passkey relying party is the issuer's host: passkeys made here work on every instance behind it.
  const passkeys = createPasskeys({ db: stores.db, Adapter, accounts, origin: issuer.origin, rpId: issuer.hostname, rpName: 'Yihao', timeoutSeconds: 300, trustClaimedHardwareKeys: config.passkeys.trustClaimedHardwareKeys });
  return { outbound, sealer, vault, purposeKeys, hasher, accounts, signingKeys, Adapter, clientSecrets, secretGrace, audit, auditKey, auditAnchor, clientCache, accountIndex, registry, otpStore, otp, secondFactors, passkeys, counterStaff, proofing };
}
export type Services = ReturnType<typeof createServices>;

function auditSigningKey(config: Config): AuditSigningKey {
  const key = parseAuditKey(config.secrets.auditKey);
  // The config loader checked it already.
  if (!key) throw new Error('the audit key is not an Ed25519 private key');
  return key;
}

function retiredAuditKey(text: string) {
  const key = parseAuditPublicKey(text);
  if (!key) throw new Error('audit.retiredPublicKeys: an entry is not an Ed25519 public key (base64 SPKI DER)');
  return key;
}

export interface Yihao {
  app: Koa;
  /** Our own routers, in the order they run (tests walk their routes). */
  routers: Router[];
  holder: ProviderHolder;
  accounts: Accounts;
  clients: ClientRegistry;
  /** Operators' services (departments, roles, client lifecycle, audit), each call checked by role and department. */
  admin: Admin;
  /** Sign an account out everywhere, or disable it. */
  signOut: SignOut;
  signingKeys: SigningKeys;
  /** Mobile app, QR hand-off and counter (CIBA) channels. */
  channels: Channels;
  /** Upstream identity providers: their definitions and linked identities. */
  federation: Federation;
  /** Verifiable credentials: the issuer's keys, issued credentials and their revocation. */
  credentials: Credentials;
  /** Chains and signs audit events behind the hot path; runs (if elected) once `listen` is called. */
  auditSealer: AuditSealer;
  stores: Stores;
  services: Services;
  /** Deletes expired SQL rows on its schedule; `sweepOnce` runs it now. */
  sweeper: Sweeper;
  logger: Logger;
  listen(port?: number, host?: string): Promise<Server>;
  close(): Promise<void>;
}

/** Builds a whole provider: stores, services, the live oidc-provider and the outer HTTP app. */
export async function createYihao(config: Config, opts: { logger?: Logger; schema?: string; stores?: Stores; fastPaths?: boolean } = {}): Promise<Yihao> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const stores = opts.stores ?? (await openStores(config, { logger, serving: true, ...(opts.schema ? { schema: opts.schema } : {}) }));
  const metrics = createMetrics();
  const services = createServices(config, stores, logger, { audit: metrics.auditEvent, smsSend: metrics.smsSend });
  metrics.watch({ hashingLoad: services.accounts.hashingLoad, db: stores.db, redis: stores.redis });
  await services.signingKeys.ensure();
  if (!services.passkeys.available) {
    logger.warn({ issuer: config.issuer }, 'passkeys are off: WebAuthn needs the issuer to have a host name, not an IP address (set ISSUER to a name, e.g. http://localhost:PORT)');
  }

  // A session an upstream sign-in created stays that upstream's (for its back-channel logout).
  const authentications = keepUpstreamOrigin(sessionAuthentications(services.Adapter, Math.max(config.ttl.sessionSeconds, config.ttl.refreshTokenSeconds)));
  const csrf = csrfTokens(config.secrets.cookieKeys, 'interaction');
  // The channels reach the provider only at request time, once the holder below exists.
  // eslint-disable-next-line prefer-const
  let holder: ProviderHolder;
  const channels = createChannels({
    db: stores.db,
    Adapter: services.Adapter,
    accounts: services.accounts,
    accountIndex: services.accountIndex,
    audit: services.audit,
    authentications,
    issuer: config.issuer,
    // Built below; called only once requests run.
    signOut: () => signOut,
    settings: { trustClaimedHardwareKeys: config.mobile.trustClaimedHardwareKeys, challengeSeconds: config.mobile.challengeSeconds, challengeKey: config.secrets.cookieKeys[0]!, handoffSeconds: config.mobile.qrHandoffSeconds, recoveryHoldSeconds: config.passwordReset.holdSeconds },
    interactions: {
      provider: () => holder.current,
      accounts: services.accounts,
      audit: services.audit,
      logger,
      csrf,
      formFieldMaxLength: config.limits.formFieldMaxLength,
      bodyMaxBytes: config.limits.bodyMaxBytes,
    },
  });
  // The credential issuer's pre-authorized code flow: its grant is registered with the provider.
  const credentialOffers = createCredentialOffers({ ...services, config, db: stores.db, authentications, isCounterStaff: counterStaffAt(stores.db, services.counterStaff.isCounterStaff), provider: () => holder.current });
  holder = await ProviderHolder.create(
    { config, adapter: services.Adapter, accounts: services.accounts, authentications, logger, outbound: services.outbound, clientSecrets: services.clientSecrets, audit: services.audit, channels: channels.provider, isCounterStaff: counterStaffAt(stores.db, services.counterStaff.isCounterStaff), proofing: services.proofing, presentationSignIn: () => credentials.verifier.signIn, onGrant: metrics.grant, extraGrants: [credentialOffers.grant], credentialScopes: certificateScopes(stores.db), isDepartmentSystem: isDepartmentSystemIn(stores.db), allowedBefore: allowedBefore(stores.db), fastPaths: opts.fastPaths },
    services.signingKeys,
  );
  holder.startPolling(config.keys.refreshSeconds);
  const sweeper = startSweeper(stores.db, {
    intervalSeconds: config.sweeper.intervalSeconds,
    batchSize: config.sweeper.batchSize,
    logger,
    extra: {
      signInGuesses: (now, batch) => sweepGuesses(stores.db, now, batch),
      smsCodes: (now, batch) => services.otpStore.sweep(now, batch),
      channelApprovals: (now, batch) => channels.sweep(now, batch),
      federation: (now, batch) => federation.sweep(now, batch),
      clientSecretGrace: (now, batch) => services.secretGrace.sweep(now, batch),
    },
  });

  const interactionDeps = {
    provider: () => holder.current,
    accounts: services.accounts,
    secondFactors: services.secondFactors,
    passkeys: services.passkeys,
    otp: services.otp,
    audit: services.audit,
    logger,
    csrf,
    formFieldMaxLength: config.limits.formFieldMaxLength,
    bodyMaxBytes: config.limits.bodyMaxBytes,
    smsSignIn: createSmsSignIn({ ...services, codeTtlSeconds: config.sms.limits.codeTtlSeconds }),
    codeMinutes: Math.max(1, Math.round(config.sms.limits.codeTtlSeconds / 60)),
    recoveryHoldSeconds: config.passwordReset.holdSeconds,
    // Upstream sign-in buttons; `federation` is built below, once sign-out exists.
    loginOptions: (params: Record<string, unknown>) => federation.loginOptions(params),
  };
  const interactions = interactionRouter(interactionDeps);
  const rateLimits = createRateLimits({
    redis: stores.redis,
    prefix: config.redisPrefix,
    logger,
    onRefusalStart: ({ limit, ip, windowSeconds, points }) => services.audit.append({ action: 'ratelimit.refused', actorType: 'system', ip, details: { limit, points, windowSeconds } }),
  });
  const signUp = registration({
    ...services,
    phoneCheck: config.registry.phoneCheck,
    csrfKeys: config.secrets.cookieKeys,
    formFieldMaxLength: config.limits.formFieldMaxLength,
    bodyMaxBytes: config.limits.bodyMaxBytes,
    codeTtlSeconds: config.sms.limits.codeTtlSeconds,
    // Shared by every instance: parallel steps of one flow cannot each take a question.
    registryQuestions: rateLimits.perKey('registry-questions', { points: MAX_REGISTRY_FAILURES, durationSeconds: PENDING_REGISTRATION_SECONDS }),
    logger,
  });
  const sessions = channelSessions(services.Adapter, Math.max(config.ttl.sessionSeconds, config.ttl.refreshTokenSeconds));
  const signOut = createSignOut({
    db: stores.db,
    holder,
    channelSessions: sessions,
    accountIndex: services.accountIndex,
    accounts: services.accounts,
    authentications,
    audit: services.audit,
    logger,
    // Built below; called only once requests run.
    onAccountDisabled: (account, by) => credentials.accountDisabled(account, by),
    onKeyRemoved: (accountSub, key) => credentials.keyRemoved(accountSub, key),
    grantSessionId: grantSessionIds(stores.db),
  });
  const federation = createFederation({ ...services, config, db: stores.db, authentications, signOut, logger });
  await federation.applyConfigured();
  const resetRouter = passwordReset({
    ...services,
    signOut,
    logger,
    csrfKeys: config.secrets.cookieKeys,
    formFieldMaxLength: config.limits.formFieldMaxLength,
    bodyMaxBytes: config.limits.bodyMaxBytes,
    codeTtlSeconds: config.sms.limits.codeTtlSeconds,
  });
  const portal = createPortal({
    ...services,
    config,
    provider: () => holder.current,
    db: stores.db,
    authentications,
    signOut,
    logger,
    afterSignOut: federation.afterSignOut,
    devices: channels.deviceKeys,
    walletOffers: credentialOffers.portal,
    certificates: { ...citizenCertificates(stores.db, services.sealer), walletOffer: (who) => credentialOffers.certificates.offerCertificate(who) },
    // Built below; called only once requests run.
    walletCredentials: { list: (accountId) => credentials.citizen.list(accountId), revoke: (accountId, id, by) => credentials.citizen.revoke(accountId, id, by) },
  });
  await portal.ensureClient();
  const kiosk = kioskSessionRouter({
    provider: () => holder.current,
    accounts: services.accounts,
    signOut,
    sessions,
    audit: services.audit,
    replay: proofReplay(services.Adapter),
    base: config.issuer.replace(/\/+$/, ''),
  });
  const counterProofing = proofingConfirmRouter({
    provider: () => holder.current,
    accounts: services.accounts,
    proofing: services.proofing,
    replay: proofReplay(services.Adapter),
    base: config.issuer.replace(/\/+$/, ''),
  });
  const counterDeviceKeys = counterDeviceKeysRouter({
    issuer: config.issuer,
    accounts: services.accounts,
    verifyAccessToken: accessTokenVerifier({ provider: () => holder.current, accounts: services.accounts }),
    isCounterStaff: counterStaffAt(stores.db, services.counterStaff.isCounterStaff),
    replay: proofReplay(services.Adapter),
    audit: services.audit,
    deviceKeys: channels.deviceKeys,
    signOut: () => signOut,
    credentials: () => credentials,
    bodyMaxBytes: config.limits.bodyMaxBytes,
    perStaff: rateLimits.perKey('counter-device-revocations', config.rateLimits.counterDeviceRevocations),
  });
  const credentials = createCredentials({ ...services, config, db: stores.db, authentications, provider: () => holder.current, offers: credentialOffers.offers, isCounterStaff: counterStaffAt(stores.db, services.counterStaff.isCounterStaff) });
  await credentials.ensureKeys();
  const admin = createAdmin({ ...services, config, db: stores.db, provider: () => holder.current, authentications, logger, signOut, credentialRevocation: credentials.revocation, certificates: credentials.certificates });
  await admin.ensureClient();
  const routers = [healthRouter({ ...stores, draining: () => draining }), interactions, ...channels.routers, kiosk, counterProofing, counterDeviceKeys, federation.router(interactionDeps), signUp.router, resetRouter, portal.router, ...admin.routers, credentials.router(), credentialOffers.router(), credentialOffers.counterRouter(), ...(config.metricsToken ? [metricsRouter(metrics, config.metricsToken)] : [])];
  const app = createHttpApp({
    config,
    holder,
    edge: edgeLimits(rateLimits, config.rateLimits),
    routers,
    logger,
    metrics,
  });

  // Started with the server, not for CLI commands: an instance that serves is one that may seal.
  const auditSealer = createAuditSealer({
    db: stores.db,
    key: services.auditKey,
    intervalMs: config.audit.sealIntervalMs,
    batchSize: config.audit.batchSize,
    leaseMs: config.audit.leaseSeconds * 1000,
    idleCheckpointMs: config.audit.idleCheckpointSeconds * 1000,
    exporter: checkpointExporter(config.audit.export, services.outbound.fetch),
    anchor: services.auditAnchor,
    retiredPublicKeys: config.audit.retiredPublicKeys.map(retiredAuditKey),
    log: logger,
  });

  let server: Server | undefined;
  // Set on close: /readyz answers 503 and every response says `Connection: close`, so that a load
  // balancer moves new requests elsewhere while this instance finishes the ones it has.
  let draining = false;
  const handler = app.callback();
  return {
    app,
    routers,
    holder,
    accounts: services.accounts,
    signOut,
    admin,
    clients: createClientRegistry({ Adapter: services.Adapter, provider: () => holder.current, secrets: services.clientSecrets }),
    signingKeys: services.signingKeys,
    channels,
    federation,
    credentials,
    auditSealer,
    stores,
    services,
    sweeper,
    logger,
    listen(port = config.port, host) {
      return new Promise((resolve, reject) => {
        // Every request here is small (limits.bodyMaxBytes): one whose headers or body trickle in
        // for longer than this (a slowloris) loses its socket, instead of holding it for Node's 300 s.
        server = createServer({ requestTimeout: 30_000, headersTimeout: 20_000 }, (req, res) => {
          if (draining) res.setHeader('connection', 'close');
          return handler(req, res);
        });
        // Keep-alive must outlast a load balancer's idle timeout, or it sees resets.
        server.keepAliveTimeout = 65_000;
        server.once('error', reject);
        server.listen(port, host, () => {
          if (config.audit.sealer) auditSealer.start();
          resolve(server!);
        });
      });
    },
    async close() {
      draining = true;
      if (server?.listening && config.shutdown.drainSeconds > 0) await new Promise((r) => setTimeout(r, config.shutdown.drainSeconds * 1000));
      holder.stop();
      sweeper.stop();
      if (server) {
        // Stop accepting, drop idle keep-alive sockets now, and give requests in flight until the deadline.
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeIdleConnections();
        const deadline = setTimeout(() => server!.closeAllConnections(), config.shutdown.deadlineSeconds * 1000);
        await closed;
        clearTimeout(deadline);
      }
      // After the requests in flight: they may still need the client cache and the registry.
      await services.clientCache.close();
      await services.registry.close?.();
      // After the requests in flight, so that their events are sealed by whoever seals next; before
      // the stores close. Frees the lease, so another instance takes over at once.
      await auditSealer.stop();
      if (!opts.stores) {
        await stores.db.destroy();
        // Redis may be down as the instance stops: what is still queued for it is dropped, not waited on.
        await stores.redis?.quit().catch(() => stores.redis?.disconnect());
      }
    },
  };
}

