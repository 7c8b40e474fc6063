import type { Account } from '../accounts/index.js';

/** Trust framework of the People's Republic of China resident identity card (GB 11643 numbers). */
export const TRUST_FRAMEWORK = 'cn_resident_identity';

type Proven = Exclude<Account['assurance'], 'self_asserted' | 'federated'>;

/** How each kind of proofing checked the binding: the one source of both the claims and discovery. */
const EVIDENCE: Record<Proven, { type: 'electronic_record' | 'document'; checkMethods: string[]; kind: string }> = {
  registry: { type: 'electronic_record', checkMethods: ['data'], kind: 'population_register' },
  id_chip: { type: 'document', checkMethods: ['vcrypt', 'bvr'], kind: 'idcard' },
  in_person: { type: 'document', checkMethods: ['pvp'], kind: 'idcard' },
};

/** The claims a verified binding vouches for: what the ID number proves about the citizen. */
export function claimsInVerifiedClaims(name: string, birthdate: string): { name: string; birthdate: string } {
  return { name, birthdate };
}

const unique = (values: string[]) => [...new Set(values)].sort();
const evidence = Object.values(EVIDENCE);
const documents = evidence.filter((e) => e.type === 'document');

/** OpenID Connect for Identity Assurance provider metadata, derived from what `verifiedClaims` returns. */
export const identityAssuranceDiscovery = Object.freeze({
  verified_claims_supported: true,
  trust_frameworks_supported: [TRUST_FRAMEWORK],
  evidence_supported: unique(evidence.map((e) => e.type)),
  documents_supported: unique(documents.map((e) => e.kind)),
  documents_check_methods_supported: unique(documents.flatMap((e) => e.checkMethods)),
  electronic_records_supported: unique(evidence.filter((e) => e.type === 'electronic_record').map((e) => e.kind)),
  claims_in_verified_claims_supported: Object.keys(claimsInVerifiedClaims('', '')).sort(),
});

/**
 * The OpenID Connect for Identity Assurance `verified_claims` for an account, saying how its
 * binding to the ID number was proven and when. A self-asserted account has nothing verified, so
 * it gets none.
 */
export function verifiedClaims(account: Pick<Account, 'assurance' | 'assuranceAt'>, claims: Record<string, unknown>): Record<string, unknown> | undefined {
  // A federated binding was asserted by an upstream, not verified here: Yihao vouches for nothing more.
  if (account.assurance === 'self_asserted' || account.assurance === 'federated' || account.assuranceAt === undefined) return undefined;
  const time = new Date(account.assuranceAt).toISOString();
  const { type, checkMethods, kind } = EVIDENCE[account.assurance];
  const check_details = checkMethods.map((check_method) => ({ check_method }));
  const details = type === 'document' ? { document_details: { type: kind } } : { record: { type: kind } };
  return {
    verification: { trust_framework: TRUST_FRAMEWORK, time, evidence: [{ type, check_details, time, ...details }] },
    claims,
  };
}
