export { createSecondFactors, type SecondFactors, type SecondFactorsDeps, type SecondFactorCheck, type SecondFactorMethod } from './second-factors.js';
export type { PendingSecondFactor } from './pending.js';
