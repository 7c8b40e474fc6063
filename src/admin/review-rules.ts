import type { ClientChange, ClientSettings } from '../clients/index.js';
import { isRootPath, type Operator } from './roles.js';

/**
 * Who may review what. Four eyes: nobody who created, edited or submitted a change reviews it,
 * whatever roles they hold (a super-admin, or one account that is both dept-admin and reviewer,
 * included). Settings that skip consent and open the mobile API (`first_party`) or hand out the
 * full ID number (`citizen_id_release: full`) are approved only at the top: a super-admin of a
 * national (root) department.
 */
export const tookPart = (change: Pick<ClientChange, 'participants'>, sub: string): boolean => change.participants.includes(sub);

/** `change` with `sub` among its participants (once), at its next revision. */
export const withParticipant = <C extends Pick<ClientChange, 'participants' | 'revision'>>(change: C, sub: string): C => ({
  ...change,
  participants: tookPart(change, sub) ? change.participants : [...change.participants, sub],
  revision: change.revision + 1,
});

/** The settings that need national review, as field names (empty: a department reviewer may approve). */
export function dangerousSettings(s: ClientSettings): string[] {
  return [...(s.first_party ? ['first_party'] : []), ...(s.citizen_id_release === 'full' ? ['citizen_id_release'] : [])];
}

export const needsNationalReview = (s: ClientSettings): boolean => dangerousSettings(s).length > 0;

/**
 * A super-admin of the national (root) department whose tree holds the department at `path`. Not of
 * any root: an installation may hold several (a sandbox platform beside the real one), and national
 * powers over one tree are not another's.
 */
export const isNationalSuperAdmin = (op: Operator, path: string): boolean =>
  op.assignments.some((a) => a.role === 'super-admin' && isRootPath(a.departmentPath) && path.startsWith(a.departmentPath));
