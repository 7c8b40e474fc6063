import type { Account } from '../accounts/index.js';

/**
 * Whether the account was signed out everywhere after a login made at `loginTime` (epoch seconds),
 * which is then honoured nowhere: at the authorization endpoint, at the token endpoint, at userinfo
 * (claims.ts findAccount) and at Yihao's own APIs (access-token-verifier.ts). A request that was in
 * flight during the sign-out may still save its session back or issue from it; this is what makes
 * that worthless. An unknown login time (a token from before tokens carried it) is honoured.
 */
export const signedOutSince = (account: Pick<Account, 'notBefore'>, loginTime: number | undefined): boolean =>
  account.notBefore !== undefined && loginTime !== undefined && loginTime < account.notBefore;
