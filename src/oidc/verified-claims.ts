import type { Account } from '../accounts/index.js';

/** Trust framework of the People's Republic of China resident identity card (GB 11643 numbers). */
export const TRUST_FRAMEWORK = 'cn_resident_identity';

/**
 * The OpenID Connect for Identity Assurance `verified_claims` for an account, saying how its
 * binding to the ID number was proven and when. A self-asserted account has nothing verified, so
 * it gets none.
 */
export function verifiedClaims(account: Pick<Account, 'assurance' | 'assuranceAt'>, claims: Record<string, unknown>): Record<string, unknown> | undefined {
  // A federated binding was asserted by an upstream, not verified here: Yihao vouches for nothing more.
  if (account.assurance === 'self_asserted' || account.assurance === 'federated' || account.assuranceAt === undefined) return undefined;
  const time = new Date(account.assuranceAt).toISOString();
  const evidence = {
    registry: { type: 'electronic_record', check_details: [{ check_method: 'data' }], time, record: { type: 'population_register' } },
    id_chip: { type: 'document', check_details: [{ check_method: 'vcrypt' }, { check_method: 'bvr' }], time, document_details: { type: 'idcard' } },
    in_person: { type: 'document', check_details: [{ check_method: 'pvp' }], time, document_details: { type: 'idcard' } },
  }[account.assurance];
  return {
    verification: { trust_framework: TRUST_FRAMEWORK, time, evidence: [evidence] },
    claims,
  };
}
