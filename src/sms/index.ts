export type { SmsMessage, SmsSender } from './sms-sender.js';
export { SmsDeliveryError } from './sms-sender.js';
export { createOutboxSender, outboxPath, readOutbox, latestOutboxCode, type OutboxMessage, type OutboxSender } from './outbox-sender.js';
export { createWebhookSender, type WebhookSenderOptions } from './webhook-sender.js';
export { createSmsSender } from './create-sms-sender.js';
export {
  smsConfigSchema,
  smsLimitsSchema,
  DEFAULT_SMS_LIMITS,
  type SmsConfig,
  type SmsLimits,
  type SmsSenderConfig,
} from './sms-config.js';
export { SMS_PURPOSES, OFFER_CODE_PURPOSE, isSmsPurpose, offerCodeText, smsCodeText, type SmsPurpose } from './sms-text.js';
export type { AttemptClaim, OtpStore, RollingLimit, StoredCode, ThrottleTake } from './otp-store.js';
export { createOtpStore, type OtpStoreOptions } from './create-otp-store.js';
export { createSqlOtpStore } from './sql-otp-store.js';
export { createRedisOtpStore, type RedisOtpStoreOptions } from './redis-otp-store.js';
export { createOtpService, type IssueResult, type OtpService, type OtpServiceOptions, type Refusal, type VerifyResult } from './otp-service.js';
export { ipBucket } from '../http/ip-bucket.js';
