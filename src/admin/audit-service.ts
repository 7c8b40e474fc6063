import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { AuditEvent, AuditLog, AuditPage, ChainReport } from '../audit/index.js';
import type { ClientStore } from '../clients/index.js';
import type { DepartmentStore } from './departments.js';
import type { Guard } from './guard.js';
import { isRootPath, type Operator } from './roles.js';
import { oneLine } from './validate.js';

const time = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' });

export const auditQueryInput = z
  .object({
    actor: oneLine().max(128).optional(),
    subject: oneLine().max(64).optional(),
    client_id: oneLine().max(128).optional(),
    action: z.string().regex(/^[a-z_.]{1,64}$/, 'must be an action name, or a prefix ending in "."').optional(),
    from: time.optional(),
    to: time.optional(),
    before: z.coerce.number().int().positive().optional(),
    limit: z.coerce.number().int().min(1, 'must be 1 or more').max(200, 'must be 200 or less').default(50),
  })
  .strict();
export type AuditQueryInput = z.output<typeof auditQueryInput>;

/**
 * The audit log for auditors. An auditor of the root department sees everything; one lower down
 * sees the events about its departments and their clients.
 */
export function auditService({ audit, departments, clients, guard }: { audit: AuditLog; departments: DepartmentStore; clients: ClientStore; guard: Guard }) {
  /**
   * A whole-chain check reads every audit row. One runs at a time on this instance, and whoever asks
   * while it runs waits for the next one, shared with everyone else who asked meanwhile: each answer
   * comes from a check begun after its question (a check begun before it could miss a change made
   * just before it). The next one begins no sooner than the last one took after it ended, so an
   * auditor or a script asking in a loop keeps the database busy half the time at most.
   */
  let running: Promise<ChainReport> | undefined;
  let queued: Promise<ChainReport> | undefined;
  let restUntil = 0;
  const start = (): Promise<ChainReport> => {
    const began = performance.now();
    running = audit.check().finally(() => {
      const ended = performance.now();
      restUntil = ended + (ended - began);
      running = undefined;
    });
    return running;
  };
  const freshCheck = (): Promise<ChainReport> => {
    if (queued) return queued;
    if (!running && performance.now() >= restUntil) return start();
    queued = (running ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => sleep(Math.max(0, restUntil - performance.now())))
      .then(() => {
        queued = undefined;
        return start();
      });
    return queued;
  };

  return {
    async query(op: Operator, q: AuditQueryInput): Promise<AuditPage<AuditEvent>> {
      const scopes = await guard.scopes(op, 'audit.read', 'audit.query');
      let scope: { departmentIds: string[]; clientIds: string[] } | undefined;
      if (!scopes.some(isRootPath)) {
        const departmentIds = (await departments.within(scopes)).items.map((x) => x.id);
        scope = { departmentIds, clientIds: await clients.clientIdsIn(departmentIds) };
      }
      return audit.query({
        actor: q.actor,
        subject: q.subject,
        clientId: q.client_id,
        action: q.action,
        from: q.from ? Date.parse(q.from) : undefined,
        to: q.to ? Date.parse(q.to) : undefined,
        before: q.before,
        limit: q.limit,
        scope,
      });
    },
    async verify(op: Operator): Promise<ChainReport> {
      await guard.scopes(op, 'audit.read', 'audit.verify');
      return freshCheck();
    },
  };
}
export type AuditService = ReturnType<typeof auditService>;
