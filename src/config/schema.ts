import { createPrivateKey } from 'node:crypto';
import { translatorPrefixProblem } from '../http/translated-clients.js';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { smsConfigSchema } from '../sms/sms-config.js';
import { registryConfigSchema } from '../registry/index.js';
import { configuredUpstream } from '../federation/upstream.js';
import type { RedisConnection } from './redis-connection.js';
import './validation-messages.js';

const seconds = z.number().int().positive();
const rateLimitRule = (points: number, durationSeconds: number) =>
  z.object({ points: z.number().int().min(1).default(points), durationSeconds: seconds.default(durationSeconds) }).strict().prefault({});

/** One sealing key: `kid` goes with every ciphertext so that keys can rotate. */
export const sealKeySchema = z.object({
  kid: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'kid must be 1-32 characters of A-Z a-z 0-9 _ -'),
  key: z.string().refine((k) => Buffer.from(k, 'base64').length === 32, 'must be 32 bytes, base64-encoded'),
});

export const secretsSchema = z.object({
  cookieKeys: z.array(z.string().min(32, 'each cookie key needs at least 32 characters')).min(1),
  sealKeys: z.array(sealKeySchema).min(1),
  indexKey: z.string().refine((k) => Buffer.from(k, 'base64').length >= 32, 'must be at least 32 bytes, base64-encoded'),
  /**
   * Roots of later purpose-key versions, by version (2, 3, ...): what retires a leaked index key
   * (docs/keys.md). A version without a root of its own is derived from `indexKey`.
   */
  indexKeys: z
    .record(
      z.string().regex(/^(?:[2-9]|[1-9][0-9]{1,2})$/, 'versions of index keys are 2-999'),
      z.string().refine((k) => Buffer.from(k, 'base64').length >= 32, 'must be at least 32 bytes, base64-encoded'),
    )
    .optional(),
  /** Signs audit checkpoints (docs/audit.md); optional here because the loader fills it in outside production. */
  auditKey: z.string().refine(isEd25519PrivateKey, 'must be an Ed25519 private key: base64 of its PKCS#8 DER form').optional(),
});
/** After loading, the audit key is always there (loadSecrets supplies or refuses it). */
export type Secrets = z.infer<typeof secretsSchema> & { auditKey: string };

function isEd25519PrivateKey(text: string): boolean {
  try {
    return createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' }).asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

const keyVersion = z.number().int().min(1).max(999);
/**
 * Pairwise subjects and citizen-ID pseudonyms have no entry: they stay on version 1 for good, since
 * a new key would change every identifier that clients already hold.
 */
const purposeVersionsSchema = z
  .object({
    /** `reindexFrom`: the version rows are being moved from by `yihao keys reindex`; lookups try both meanwhile. */
    citizenIndex: z
      .object({ version: keyVersion.default(1), reindexFrom: keyVersion.optional() })
      .strict()
      .prefault({}),
    /** New and rotated secrets get `version`; a stored HMAC names its own version and is checked with it. */
    clientSecret: z.object({ version: keyVersion.default(1) }).strict().prefault({}),
    /** Codes live minutes: a switch only voids the codes in flight. */
    sms: z.object({ version: keyVersion.default(1) }).strict().prefault({}),
    /** Codes made before a switch keep working: a check tries every version up to this one. */
    recoveryCode: z.object({ version: keyVersion.default(1) }).strict().prefault({}),
    /** A switch gives Yihao's own clients new secrets (every instance derives the same ones). */
    firstPartySecret: z.object({ version: keyVersion.default(1) }).strict().prefault({}),
    /**
     * Tokens are stored under a keyed hash of their value (storage/hashed-token-ids.ts). After a miss,
     * lookups try `previousVersion` (while tokens stored under it live) and, with `unhashedLookups`,
     * the value itself for a token of the length issued before ids were hashed. Each costs a store read for an unknown token only.
     */
    tokenId: z
      .object({ version: keyVersion.default(1), previousVersion: keyVersion.optional(), unhashedLookups: z.boolean().default(true) })
      .strict()
      .prefault({}),
  })
  .strict();

export const fileConfigShape = z
  .object({
    port: z.number().int().min(0).max(65535),
    dataDir: z.string().min(1),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    trustProxy: z.boolean().default(false),
    /**
     * With trustProxy: how many proxies in front of Yihao add to X-Forwarded-For. The client's
     * address is the entry that many places from the right, as the outermost trusted proxy saw it;
     * anything further left was written by the client and is never believed.
     */
    proxyHops: z.number().int().min(1).max(10).default(1),
    /**
     * The /96 prefixes of NAT64/SIIT translators the operator runs in front of Yihao (RFC 6052, e.g.
     * `64:ff9b::/96`): a client address inside one counts as the IPv4 address it carries, for rate
     * limits, the lockout and the audit log (src/http/translated-clients.ts). Name only your own:
     * elsewhere that IPv4 address proves nothing.
     */
    nat64Prefixes: z
      .array(z.string().superRefine((v, c) => {
        const problem = translatorPrefixProblem(v);
        if (problem) c.addIssue({ code: 'custom', message: problem });
      }))
      .max(16)
      .default([]),
    ttl: z
      .object({
        sessionSeconds: seconds,
        interactionSeconds: seconds,
        authorizationCodeSeconds: seconds,
        accessTokenSeconds: seconds,
        idTokenSeconds: seconds,
        refreshTokenSeconds: seconds,
        clientCredentialsSeconds: seconds,
      })
      .strict(),
    argon2: z
      .object({
        memoryKiB: z.number().int().min(19456, 'below the OWASP minimum of 19456 KiB'),
        iterations: z.number().int().min(2),
        parallelism: z.number().int().min(1),
        // 'auto' leaves one core for everything else (token signing, I/O): argon2 would take them all.
        maxConcurrent: z
          .union([z.literal('auto'), z.number().int().min(1).max(64)])
          .transform((v) => (v === 'auto' ? Math.max(1, availableParallelism() - 1) : v)),
        // Hashes waiting for a slot before a sign-in is shed (503 + Retry-After). 'auto': about a second
        // of work at the default cost (~23 ms a hash), 50 per slot; bursts of sign-ins fit, a flood does not.
        maxQueued: z.union([z.literal('auto'), z.number().int().min(1).max(100_000)]).default('auto'),
      })
      .strict()
      .transform((a) => ({ ...a, maxQueued: a.maxQueued === 'auto' ? 50 * a.maxConcurrent : a.maxQueued })),
    // Guesses from one address at one account: answered at once up to maxFailures, then each waits
    // twice as long as the last, up to lockSeconds (src/accounts/lockout.ts).
    // The window must outlast the longest wait: failures forgotten by the time it ends would let a
    // patient guesser start afresh after every wait (675 guesses a day with both at 900 s).
    lockout: z
      .object({ maxFailures: z.number().int().min(1).max(100), windowSeconds: seconds, lockSeconds: seconds })
      .strict()
      .refine((l) => l.windowSeconds > l.lockSeconds, {
        message: "windowSeconds must be longer than lockSeconds: an address's failures would be forgotten by the time its longest wait ends",
        path: ['windowSeconds'],
      }),
    // Failures at one account from every address that lock it to addresses it never signed in from.
    distributedLockout: z
      .object({
        maxFailures: z.number().int().min(10).default(100),
        windowSeconds: seconds.default(3_600),
        familiarSeconds: seconds.default(90 * 86_400),
      })
      .strict()
      .prefault({}),
    /**
     * After a password reset by SMS, for `holdSeconds` (0 turns it off), no new passkey,
     * authenticator app, device key or wallet credential can be added (src/accounts/recovery-hold.ts):
     * whoever held the citizen's phone for a moment can reset the password, but cannot keep a way in
     * after the citizen resets it back.
     */
    passwordReset: z
      .object({ holdSeconds: z.number().int().min(0).max(7 * 86_400).default(86_400) })
      .strict()
      .prefault({}),
    // Per client address at the edge, shared across instances through Redis (src/http/edge-limits.ts).
    rateLimits: z
      .object({
        clientAuthFailures: rateLimitRule(50, 60),
        signInFailures: rateLimitRule(100, 900),
        forms: rateLimitRule(30, 60),
        mobile: rateLimitRule(120, 60),
        adminUnauthenticated: rateLimitRule(30, 60),
        /** Per counter staff member, not per address: lost phones' revocations (each signs a citizen out everywhere). */
        counterDeviceRevocations: rateLimitRule(20, 86_400),
      })
      .strict()
      .prefault({}),
    keys: z
      .object({
        refreshSeconds: z.number().positive(),
        retiredKeepSeconds: seconds,
        /**
         * How long a rotated signing key is published before it signs (the old one signs on
         * meanwhile), so every instance serves it first. Unset: 2 × refreshSeconds + 30 (an app's
         * JWKS client waits 30 s before it asks again). 0: at once (one instance only).
         */
        publishSeconds: z.number().min(0).max(86_400).optional(),
        /** Which version of its key each purpose uses (src/identity/purpose-keys.ts, docs/keys.md). */
        purposes: purposeVersionsSchema.prefault({}),
      })
      .strict()
      .refine((k) => k.publishSeconds === undefined || k.publishSeconds === 0 || k.publishSeconds >= 2 * k.refreshSeconds, {
        path: ['publishSeconds'],
        message: 'must be 0 (one instance) or at least 2 × keys.refreshSeconds: an instance that has not read the new key yet would not publish it',
      })
      .transform((k) => ({ ...k, publishSeconds: k.publishSeconds ?? 2 * k.refreshSeconds + 30 })),
    sweeper: z.object({ intervalSeconds: seconds, batchSize: z.number().int().min(1).max(10_000).default(500) }).strict(),
    /**
     * How far V8 lets its old generation grow past what the last full collection left live, in
     * percent (docs/memory.md). V8's own factor (0 here) goes up to 4×: after a load, most of the
     * resident memory is garbage not yet collected. Not a cap: a burst of live data still fits.
     */
    memory: z
      .object({ heapGrowingPercent: z.number().int().max(1000).refine((v) => v === 0 || v >= 10, { message: 'must be 0 (V8\'s own) or from 10 to 1000: below 10 V8 collects almost without pause' }).default(100) })
      .strict()
      .prefault({}),
    /** SIGTERM (docs/operations.md): report not ready for `drainSeconds` while still serving, then stop accepting and give requests in flight up to `deadlineSeconds`. */
    shutdown: z
      .object({ drainSeconds: z.number().min(0).max(120).default(0), deadlineSeconds: z.number().positive().max(300).default(10) })
      .strict()
      .prefault({}),
    limits: z.object({ formFieldMaxLength: z.number().int().min(16), bodyMaxBytes: z.number().int().min(1024) }).strict(),
    outbound: z
      .object({
        allowedNetworks: z.array(z.string()),
        // A PEM file of extra CA certificates to trust for outbound https (a government's internal PKI).
        trustedCaFile: z.string().min(1).optional(),
      })
      .strict(),
    /** How one-time codes reach phones, and their limits. */
    sms: smsConfigSchema.prefault({}),
    /** The kiosk channel: see docs/channels/kiosk.md. */
    kiosk: z
      .object({
        // A kiosk session (its tokens) ends after this long without use; each refresh starts it again.
        idleSeconds: seconds.default(120),
        // How old a card assertion's `iat` may be; a little clock skew into the future is tolerated.
        cardAssertionMaxAgeSeconds: seconds.max(600).default(60),
      })
      .strict()
      .prefault({}),
    /**
     * The mobile app channel and the web QR hand-off (docs/channels/mobile.md). Yihao does not verify
     * platform key attestation: `trustClaimedHardwareKeys` is the explicit decision to record an app's
     * claim of hardware key storage as amr `hwk` (default: every device key is `swk`).
     */
    mobile: z
      .object({
        trustClaimedHardwareKeys: z.boolean().default(false),
        challengeSeconds: seconds.max(300).default(60),
        qrHandoffSeconds: seconds.max(600).default(120),
      })
      .strict()
      .prefault({}),
    /**
     * Passkeys (WebAuthn). Yihao requests no attestation, so whether a key is bound to one device is
     * the authenticator's own word, and a scripted software authenticator can say it.
     * `trustClaimedHardwareKeys` is the explicit decision to announce such a passkey as amr `hwk`
     * (default: every passkey is `swk`), as `mobile.trustClaimedHardwareKeys` is for device keys.
     */
    passkeys: z
      .object({
        trustClaimedHardwareKeys: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** The population registry for real-name checks; a relative file path is from the checkout. */
    registry: registryConfigSchema,
    /** Upstream identity providers (src/federation); the providers themselves are defined with `yihao idp`. */
    federation: z
      .object({
        /** Per request to an upstream (discovery, token, userinfo, JWKS). */
        timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
        /** Check the name an upstream sends against the population registry before linking. */
        registryCheck: z.boolean().default(false),
        /** Upstreams defined here are (re)applied at every start; `yihao idp` adds more at run time. */
        upstreams: z
          .array(configuredUpstream)
          .default([])
          .refine((list) => new Set(list.map((u) => u.name)).size === list.length, 'names each upstream once'),
      })
      .strict()
      .prefault({}),
    /** Operators' settings (src/admin). */
    admin: z
      .object({
        /** How long a rotated-out client secret keeps working, unless the rotation says otherwise. */
        secretGraceSeconds: z.number().int().min(0).default(7 * 86_400),
        /** The longest grace period a rotation may ask for. */
        maxSecretGraceSeconds: z.number().int().min(0).default(30 * 86_400),
      })
      .strict()
      .prefault({}),
    /** The audit log's sealer and checkpoints (docs/audit.md). */
    audit: z
      .object({
        /** Whether this instance stands for election as the sealer (exactly one instance seals at a time). */
        sealer: z.boolean().default(true),
        /** Pause between sealing passes: new events are chained and signed about this long after they are written. */
        sealIntervalMs: z.number().int().min(10).max(60_000).default(1_000),
        batchSize: z.number().int().min(1).max(10_000).default(500),
        /** The sealer's lease: when its instance dies, another takes over within about this long. */
        leaseSeconds: z.number().positive().max(600).default(10),
        /** A quiet log still gets a signed checkpoint this often, so the end of the log stays dated. */
        idleCheckpointSeconds: seconds.default(60),
        /** Public keys (base64 SPKI DER) of retired audit keys, still trusted to verify old checkpoints. */
        retiredPublicKeys: z.array(z.string().min(1)).default([]),
        /** The outside copy of every checkpoint, as JSON lines. */
        export: z
          .object({
            file: z.string().min(1).optional(),
            /** Reached through the outbound guard (outbound.allowedNetworks for internal hosts). */
            webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .refine((a) => a.leaseSeconds * 1000 > a.sealIntervalMs * 2, 'leaseSeconds must outlast two sealing passes')
      .prefault({}),
    /** Verifiable credentials (docs/credentials.md). */
    credentials: z
      .object({
        /** How long an issued identity credential is valid. */
        validitySeconds: seconds.max(5 * 366 * 86_400).default(365 * 86_400),
        /** Status lists' `ttl` and Cache-Control max-age: a revocation reaches verifiers within it. */
        statusListTtlSeconds: seconds.max(86_400).default(300),
        /** Entries per status list; indices are drawn at random, and a list is closed half full. */
        statusListSize: z.number().int().min(1024).max(1_048_576).default(131_072),
        /** How long a credential offer (its QR code, pre-authorized code and transaction code) can be redeemed. */
        offerSeconds: seconds.max(3600).default(600),
        /** How long a presentation request (a counter's or kiosk's QR code) can be answered, and its result read. */
        presentationSeconds: seconds.max(1800).default(300),
        /**
         * Where a counter's offer sends its transaction code: `sms`, to the phone bound to the
         * citizen's account, so that the staff member who makes the offer cannot redeem it; or
         * `counter_screen`, in the answer to the counter system, for a deployment whose citizens
         * have no phone bound (the staff member then holds both halves of the offer).
         */
        counterTxCode: z.enum(['sms', 'counter_screen']).default('sms'),
      })
      .strict()
      .prefault({}),
    resourceServers: z.record(
      z.url(),
      z.object({
        scope: z.string().min(1),
        accessTokenFormat: z.enum(['opaque', 'jwt']).default('jwt'),
        audience: z.string().optional(),
        /**
         * The apps (client ids) that may obtain tokens for this resource, or `["*"]` for every app.
         * Required: an API's tokens are not for whichever app asks (client_credentials included).
         */
        clients: z
          .array(z.string().min(1).max(200))
          .min(1)
          .refine((ids) => !ids.includes('*') || ids.length === 1, { message: '"*" (every app) stands alone' }),
      }),
    ),
  })
  .strict();

/** The file's settings with the rules that tie one section to another (`fileConfigShape` has the sections alone). */
export const fileConfigSchema = fileConfigShape.superRefine((c, ctx) => {
    // A retired key leaves the JWKS after retiredKeepSeconds: a token it signed just before the
    // rotation (or an instance that has not polled yet signs after it) must still verify till it expires.
    const longest = Math.max(c.ttl.idTokenSeconds, c.ttl.accessTokenSeconds, c.ttl.clientCredentialsSeconds);
    const needed = Math.ceil(c.keys.refreshSeconds) + longest;
    if (c.keys.retiredKeepSeconds < needed) {
      ctx.addIssue({
        code: 'custom',
        path: ['keys', 'retiredKeepSeconds'],
        message: `must be at least keys.refreshSeconds plus the longest signed token's lifetime (ttl: ID, access and client-credentials tokens), ${needed} s here: a retired key would leave the JWKS while tokens it signed are still valid`,
      });
    }
  });
export type FileConfig = z.infer<typeof fileConfigSchema>;

export interface Config extends FileConfig {
  readonly env: 'development' | 'production' | 'test';
  readonly issuer: string;
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  /** How to reach Redis (standalone REDIS_URL, Sentinel or Cluster); undefined: no Redis. */
  readonly redis: RedisConnection | undefined;
  /** Key prefix for everything Yihao writes to Redis; lets tests and tenants share one server. */
  readonly redisPrefix: string;
  readonly secrets: Secrets;
  /** Where secrets came from, for the start-up line (never the secrets themselves). */
  readonly secretsSource: 'environment' | 'file' | 'generated';
  /** The bearer token `/metrics` asks for (YIHAO_METRICS_TOKEN); undefined: `/metrics` is off (404). See docs/metrics.md. */
  readonly metricsToken: string | undefined;
}
