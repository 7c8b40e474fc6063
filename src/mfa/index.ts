export { createSecondFactors, hasSecondFactor, type SecondFactors, type SecondFactorsDeps, type SecondFactorCheck, type SecondFactorMethod } from './second-factors.js';
export type { PendingSecondFactor } from './pending.js';
export type { StrongCredentials } from './mfa-store.js';
