/** The `sub` a client sees: the public one, or for a pairwise client a keyed hash per sector. */
export type Keyed = (purpose: string, value: string) => string;

export function pairwiseSub(keyed: Keyed, sector: string, accountSub: string): string {
  return keyed(`pairwise:${sector}`, accountSub);
}

/** What the subject computation reads of an oidc-provider Client (the types omit `sectorIdentifier`). */
export interface PairwiseClient {
  subjectType?: string;
  sectorIdentifier?: string;
  clientId: string;
}

export function subjectFor(keyed: Keyed, client: PairwiseClient, accountSub: string): string {
  return client.subjectType === 'pairwise' ? pairwiseSub(keyed, client.sectorIdentifier ?? client.clientId, accountSub) : accountSub;
}
