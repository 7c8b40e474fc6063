import { z } from 'zod';
import type { CredentialRevocation, IssuedCredential } from '../credentials/index.js';
import { isYihaoError } from '../errors.js';
import { AdminError, type AdminErrorCode } from './admin-error.js';
import type { Guard } from './guard.js';
import type { Operator } from './roles.js';

export const revocationInput = z.object({ reason: z.string().trim().min(1).max(200).optional() }).strict();

const codeFor = (status: number): AdminErrorCode => (status === 404 ? 'not_found' : status === 409 ? 'conflict' : 'invalid_input');

/**
 * Issued verifiable credentials. The identity credential is the whole installation's (a citizen's
 * ID, issued by Yihao itself), so revoking one is for a super-admin at a root department, like
 * rotating keys. The revocation is audited as `vc.revoked` with the operator as actor.
 */
export function credentialService({ revocation, guard }: { revocation: CredentialRevocation; guard: Guard }) {
  return {
    async revoke(op: Operator, id: string, input: z.infer<typeof revocationInput>): Promise<IssuedCredential> {
      await guard.scopes(op, 'credential.revoke', 'credential.revoke');
      try {
        return await revocation.revoke(id, { type: 'operator', id: op.sub, ip: op.ip, requestId: op.requestId }, input.reason);
      } catch (e) {
        if (isYihaoError(e)) throw new AdminError(codeFor(e.status), e.message);
        throw e;
      }
    },
  };
}
export type CredentialService = ReturnType<typeof credentialService>;
