import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Accounts } from '../../accounts/index.js';
import { accessTokenVerifier, AccessTokenRefused } from '../../oidc/access-token-verifier.js';
import type { IdentityProofing } from '../kiosk/identity-proofing.js';
import { verifyDpopProof, type ProofReplay } from '../../http/request-proofs.js';
import { STAFF_ACR } from './token-exchange.js';

export interface ProofingConfirmDeps {
  provider: () => Provider;
  accounts: Pick<Accounts, 'findBySub'>;
  proofing: Pick<IdentityProofing, 'find' | 'confirm'>;
  replay: ProofReplay;
  /** The issuer, path included: a DPoP proof's `htu` is our public URL, not whatever Host a proxy passed. */
  base: string;
}

const evidenceId = z.string().regex(/^pe_[A-Za-z0-9_-]{16}$/);

/** RFC 6750 §3 (and RFC 9470 for the level): the refusal in the header a client library reads. */
function refuse(ctx: Context, status: 400 | 401 | 403 | 404 | 409, error: string, description: string, extra = '') {
  ctx.status = status;
  if (status === 401 || status === 403) ctx.set('WWW-Authenticate', `${ctx.get('authorization').startsWith('DPoP ') ? 'DPoP' : 'Bearer'} error="${error}", error_description="${description}"${extra}`);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

/**
 * `POST /counter/proofing/{evidence_id}/confirm`: a second staff member confirms a colleague's
 * in-person check (docs/channels/counter-assisted.md). The counter system calls it with the second
 * staff member's own access token, issued to that same counter system: from a live session at
 * loa:2 or above, with a DPoP proof when the token is DPoP-bound. The service then refuses the staff
 * member who made the check, the citizen the check is about, and anyone who is not counter staff of
 * the department over that counter. Evidence made at another counter system answers like none.
 */
export function proofingConfirmRouter(deps: ProofingConfirmDeps): Router {
  const router = new Router();
  const verify = accessTokenVerifier(deps);
  router.post('/counter/proofing/:evidence/confirm', async (ctx) => {
    const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]{1,2048}=*)$/.exec(ctx.get('authorization'));
    if (!match) return refuse(ctx, 401, 'invalid_request', 'an access token of the staff member is required (Authorization: Bearer or DPoP)');
    const id = evidenceId.safeParse(ctx.params.evidence);
    if (!id.success) return refuse(ctx, 400, 'invalid_request', 'the evidence id is not one Yihao issues');
    const accessToken = match[2]!;
    let verified;
    try {
      verified = await verify(accessToken, {
        liveSession: true,
        minAcr: STAFF_ACR,
        dpop: {
          required: false,
          prove: (jkt) =>
            verifyDpopProof(ctx.get('dpop') || undefined, { method: ctx.method, url: `${deps.base}${ctx.path}`, accessToken, body: Buffer.alloc(0) }, jkt, deps.replay).then(
              () => true,
              () => false,
            ),
        },
      });
    } catch (e) {
      if (!(e instanceof AccessTokenRefused)) throw e;
      if (e.reason === 'insufficient_acr') {
        return refuse(ctx, 401, 'insufficient_user_authentication', `the staff member must have signed in at ${STAFF_ACR} or above`, `, acr_values="${STAFF_ACR}"`);
      }
      if (e.reason === 'dpop_proof') return refuse(ctx, 401, 'invalid_dpop_proof', 'the access token is DPoP-bound: send a DPoP proof of its key for this request');
      return refuse(ctx, 401, 'invalid_token', 'the access token is not a live staff access token');
    }
    const { account: staff, client } = verified;
    // The counter system answers for its own checks only; anything else is named nowhere.
    const evidence = await deps.proofing.find(id.data);
    if (!evidence || evidence.clientId !== client.clientId || evidence.method !== 'in_person') return refuse(ctx, 404, 'not_found', 'no such evidence at this counter');
    const where = { ip: ctx.ip, requestId: (ctx.state.requestId as string | undefined) ?? undefined };
    const outcome = await deps.proofing.confirm(id.data, { type: 'staff', accountId: staff.id, sub: staff.sub }, where);
    if (!outcome.ok) {
      if (outcome.reason === 'not_found') return refuse(ctx, 404, 'not_found', 'no such evidence at this counter');
      if (outcome.reason === 'not_pending') return refuse(ctx, 409, 'not_pending', 'the evidence is no longer waiting for confirmation');
      if (outcome.reason === 'same_staff') return refuse(ctx, 403, 'insufficient_scope', 'a second staff member must confirm: not the one who made the check, nor the citizen it is about');
      return refuse(ctx, 403, 'insufficient_scope', 'the staff member is not counter staff of the department over this counter');
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { evidence_id: id.data, status: 'confirmed', raised: outcome.raised };
  });
  return router;
}
