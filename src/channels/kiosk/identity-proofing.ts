import type { Account, Accounts } from '../../accounts/index.js';

// An upstream's assertion is vouched for by another system, not proven to us: no stronger than self-asserted here.
const STRENGTH: Record<Account['assurance'], number> = { self_asserted: 0, federated: 0, registry: 1, id_chip: 2, in_person: 3 };

/**
 * Records a stronger proof of the binding to the ID number (a chip read with a face match, an
 * in-person check); never lowers what the account already has. Returns whether it changed.
 */
export async function raiseIdentityProofing(accounts: Accounts, account: Account, to: 'id_chip' | 'in_person'): Promise<boolean> {
  if (STRENGTH[account.assurance] >= STRENGTH[to]) return false;
  await accounts.setAssurance(account.id, to);
  return true;
}
