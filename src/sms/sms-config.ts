import { z } from 'zod';

/** At most `max` codes in any rolling window of `windowSeconds`. */
const rollingLimit = (max: number, windowSeconds = 3600) =>
  z
    .object({
      max: z.number().int().min(1).max(1000).default(max),
      windowSeconds: z.number().int().min(1).max(86_400).default(windowSeconds),
    })
    .strict();

export const smsLimitsSchema = z
  .object({
    /** How long a code lives. Whole minutes, because the SMS text states them. */
    codeTtlSeconds: z.number().int().min(60).max(1800).multipleOf(60, 'must be whole minutes: the SMS text states them').default(300),
    /** Verification attempts per code, right or wrong; after the last the code is dead. */
    maxAttempts: z.number().int().min(1).max(10).default(5),
    /** At most one code per number and purpose in this interval; 0 turns it off. */
    resendIntervalSeconds: z.number().int().min(0).max(3600).default(60),
    /** Per mobile number, all purposes together: the most texts one phone receives. */
    perNumber: rollingLimit(5).prefault({}),
    /**
     * Per mobile number and purpose: codes someone else can ask for (a password reset names the
     * account by its ID number alone) never use up all of the citizen's sign-in codes. Only a cap
     * below `perNumber` does that; one at or above it changes nothing.
     */
    perNumberAndPurpose: rollingLimit(3).prefault({}),
    /**
     * Per mobile number, the codes asked for by someone who proved nothing about the account
     * (registration, and sign-in or reset from an address it never signed in from): anyone who
     * knows the number can ask for those, so they get only part of `perNumber`, and the rest stays
     * for the citizen at a familiar address or signed in. Only a cap below `perNumber` does that.
     */
    perNumberUnproven: rollingLimit(3).prefault({}),
    /**
     * Per mobile number in a day, apart for the citizen's own codes and those anyone could ask for:
     * what bounds guessing over days (each code takes `maxAttempts` tries), where the hourly caps
     * renew every hour. Kept apart so that a stranger's requests never use up the citizen's day.
     */
    perNumberDaily: rollingLimit(12, 86_400).prefault({}),
    perNumberUnprovenDaily: rollingLimit(6, 86_400).prefault({}),
    /** Per client IP address (IPv6 by /64). */
    perIp: rollingLimit(20).prefault({}),
    /**
     * A credential offer's transaction code, sent by counter staff to the citizen's phone: counted
     * apart from every code the citizen asks for (and from `perNumber`), so that offers never use up
     * the citizen's own texts; per number in an hour and in a day, and per staff member in an hour.
     */
    offerCodes: z
      .object({
        perNumber: rollingLimit(3).prefault({}),
        perNumberDaily: rollingLimit(6, 86_400).prefault({}),
        perStaff: rollingLimit(60).prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type SmsLimits = z.infer<typeof smsLimitsSchema>;

export const outboxSenderSchema = z.object({ kind: z.literal('outbox') }).strict();

export const webhookSenderSchema = z
  .object({
    kind: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    /** Bearer token for the gateway; a secret, so keep it out of committed files. */
    token: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(100).max(30_000).default(5000),
    retries: z.number().int().min(0).max(5).default(2),
    backoffMs: z.number().int().min(0).max(10_000).default(200),
  })
  .strict();

/** The `sms` section of the configuration: which sender, and the code and throttle limits. */
export const smsConfigSchema = z
  .object({
    sender: z.discriminatedUnion('kind', [outboxSenderSchema, webhookSenderSchema]).default({ kind: 'outbox' }),
    limits: smsLimitsSchema.prefault({}),
  })
  .strict();
export type SmsConfig = z.infer<typeof smsConfigSchema>;
export type SmsSenderConfig = SmsConfig['sender'];

/** 5-minute codes, 5 attempts, one per minute and 3 per hour per number and purpose, 3 per hour per number unproven, 5 per hour per number, 20 per hour per IP. */
export const DEFAULT_SMS_LIMITS: SmsLimits = (() => {
  const limits = smsLimitsSchema.parse({});
  return Object.freeze({
    ...limits,
    perNumberAndPurpose: Object.freeze(limits.perNumberAndPurpose),
    perNumber: Object.freeze(limits.perNumber),
    perIp: Object.freeze(limits.perIp),
    perNumberDaily: Object.freeze(limits.perNumberDaily),
    perNumberUnprovenDaily: Object.freeze(limits.perNumberUnprovenDaily),
    offerCodes: Object.freeze({
      perNumber: Object.freeze(limits.offerCodes.perNumber),
      perNumberDaily: Object.freeze(limits.offerCodes.perNumberDaily),
      perStaff: Object.freeze(limits.offerCodes.perStaff),
    }),
  });
})();
