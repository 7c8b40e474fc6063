import type Router from '@koa/router';
import type { Accounts } from '../accounts/index.js';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { SignOut } from '../oidc/sign-out.js';
import type { OtpService } from '../sms/index.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { createPasswordResetService } from './password-reset-service.js';
import { passwordResetRouter } from './password-reset.routes.js';

export { createPasswordResetService, type PasswordResetService, type ResetResult, type ResetSendResult } from './password-reset-service.js';

/** A reset flow (between the code and the new password) lives this long. */
export const PENDING_RESET_SECONDS = 900;

/** Password reset through a verified SMS code: the service and its pages under `/password-reset`. */
export function passwordReset(opts: {
  accounts: Accounts;
  otp: OtpService;
  audit: AuditLog;
  signOut: Pick<SignOut, 'everywhere'>;
  Adapter: AdapterConstructor;
  logger: Logger;
  /** The cookie keys, newest first (src/http/csrf.ts). */
  csrfKeys: readonly string[];
  formFieldMaxLength: number;
  bodyMaxBytes: number;
  codeTtlSeconds: number;
}): Router {
  const service = createPasswordResetService({ ...opts, ttlSeconds: PENDING_RESET_SECONDS });
  return passwordResetRouter({
    service,
    csrfKeys: opts.csrfKeys,
    formFieldMaxLength: opts.formFieldMaxLength,
    bodyMaxBytes: opts.bodyMaxBytes,
    codeMinutes: Math.max(1, Math.round(opts.codeTtlSeconds / 60)),
    cookieSeconds: PENDING_RESET_SECONDS * 4,
  });
}
