import type { Logger } from 'pino';
import { backgroundWork } from '../storage/request-memo.js';
import type { AuditEventInput, AuditLog } from './audit-log.js';

/**
 * Appends an event once the answer has gone out, for a record that only some of a form's answers
 * make (an account's lock, a reset step of a real account): an answer that waited for its insert
 * would take longer, and cost one more statement, where an account exists, for a stranger to tell.
 * A failure is logged, as the provider's own events are.
 */
export function appendAfterAnswer(audit: Pick<AuditLog, 'append'>, logger: Pick<Logger, 'error'>, e: AuditEventInput): void {
  backgroundWork(() => audit.append(e)).catch((err: unknown) => logger.error({ err, action: e.action }, 'audit append failed'));
}
