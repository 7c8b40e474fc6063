import type Router from '@koa/router';
import { z } from 'zod';
import { invalidRequest } from '../../http/api-error.js';
import type { MobileApiAuth } from '../mobile/api-auth.js';
import { approvalView, type Approvals } from './approvals.js';

const decisionBody = z.object({ decision: z.enum(['approve', 'deny']) }).strict();
const scanBody = z.object({ kind: z.string().min(1).max(32).default('qr'), code: z.string().min(1).max(256) }).strict();

/**
 * The approvals API of the government app. Every call: a DPoP-bound access token, its DPoP proof,
 * and a device-key signature over method, URL, body hash, time and a single-use jti.
 * - `GET /mobile/approvals`: the account's pending requests, with what to show before deciding;
 * - `POST /mobile/approvals/scan` `{ code, kind? }`: ties the request a scanned code names (kind
 *   `qr` by default; other kinds register as scannable) to the account;
 * - `POST /mobile/approvals/:id` `{ decision: "approve" | "deny" }`.
 */
export function approvalsRoutes(router: Router, { auth, approvals }: { auth: MobileApiAuth; approvals: Approvals }): void {
  router.get('/mobile/approvals', async (ctx) => {
    const call = await auth.deviceCall(ctx);
    ctx.set('cache-control', 'no-store');
    ctx.body = { requests: (await approvals.pendingFor(call.account)).map(approvalView) };
  });

  router.post('/mobile/approvals/scan', async (ctx) => {
    const call = await auth.deviceCall(ctx);
    const parsed = scanBody.safeParse(call.body);
    if (!parsed.success) throw invalidRequest('the body must be { "code": "<the scanned code>" }');
    const request = await approvals.claimByRef(parsed.data.kind, parsed.data.code, call.account);
    ctx.set('cache-control', 'no-store');
    ctx.body = approvalView(request);
  });

  router.post('/mobile/approvals/:id', async (ctx) => {
    const call = await auth.deviceCall(ctx);
    const parsed = decisionBody.safeParse(call.body);
    if (!parsed.success) throw invalidRequest('the body must be { "decision": "approve" } or { "decision": "deny" }');
    const decided = await approvals.decide(ctx.params.id!, call.account, call.key, parsed.data.decision === 'approve', { ip: ctx.ip, requestId: ctx.state.requestId as string });
    ctx.set('cache-control', 'no-store');
    ctx.body = approvalView(decided);
  });
}
