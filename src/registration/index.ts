import type Router from '@koa/router';
import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Sealer } from '../identity/index.js';
import type { IdentityRegistry } from '../registry/index.js';
import type { OtpService } from '../sms/index.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import type { Logger } from 'pino';
import { createPendingRegistrations } from './pending-registrations.js';
import { registrationFlow } from './registration-flow.js';
import { registrationRouter } from './registration.routes.js';
import { createRegistrationService } from './registration-service.js';

export { createPendingRegistrations, type PendingRegistration, type PendingRegistrations } from './pending-registrations.js';
export { createRegistrationService, MAX_REGISTRY_FAILURES, type CompleteResult, type RegistrationService, type SendCodeResult } from './registration-service.js';
export { parseReturnTo } from './return-to.js';

/** A pending registration (between the SMS code and the account) lives this long. */
export const PENDING_REGISTRATION_SECONDS = 600;
/** The flow cookie outlives the pending record, so an expired step says "expired", not "forbidden". */
const FLOW_COOKIE_SECONDS = 3600;

export interface RegistrationOptions {
  accounts: Accounts;
  registry: IdentityRegistry;
  /** Whether the registry is asked if the phone is registered in the citizen's name. */
  phoneCheck: boolean;
  otp: OtpService;
  audit: AuditLog;
  Adapter: AdapterConstructor;
  sealer: Sealer;
  /** Signs the CSRF tokens (the first cookie key). */
  /** The cookie keys, newest first (src/http/csrf.ts). */
  csrfKeys: readonly string[];
  formFieldMaxLength: number;
  bodyMaxBytes: number;
  codeTtlSeconds: number;
  /** Spends one of a flow's registry questions (by flow id); the seconds to wait when none is left. */
  registryQuestions: (flowId: string) => Promise<number | undefined>;
  logger?: Pick<Logger, 'warn' | 'error'>;
}

/** Self-registration: the service and its pages under `/register`. */
export function registration(opts: RegistrationOptions): { service: ReturnType<typeof createRegistrationService>; router: Router } {
  const pending = createPendingRegistrations({ Adapter: opts.Adapter, sealer: opts.sealer, ttlSeconds: PENDING_REGISTRATION_SECONDS });
  const service = createRegistrationService({ ...opts, pending });
  const router = registrationRouter({
    service,
    flow: registrationFlow(pending, opts.csrfKeys, FLOW_COOKIE_SECONDS),
    formFieldMaxLength: opts.formFieldMaxLength,
    bodyMaxBytes: opts.bodyMaxBytes,
    codeMinutes: Math.max(1, Math.round(opts.codeTtlSeconds / 60)),
  });
  return { service, router };
}
