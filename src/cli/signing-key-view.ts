import type { SigningKeyInfo } from '../keys/index.js';
import { table } from './output.js';

/** A signing key (token, credential issuer or verifier) as `--json` prints it. */
export const signingKeyJson = (k: SigningKeyInfo) => ({ kid: k.kid, alg: k.alg, status: k.status, created_at: k.createdAt, retired_at: k.retiredAt ?? null, signs_from: k.signsFrom ?? null });

export const signingKeyTable = (keys: readonly SigningKeyInfo[]) =>
  table([['KID', 'ALG', 'STATUS', 'CREATED', 'SIGNS FROM', 'RETIRED'], ...keys.map((k) => [k.kid, k.alg, k.status, k.createdAt, k.signsFrom ?? '-', k.retiredAt ?? '-'])]);

export const duration = (seconds: number) =>
  seconds >= 86_400 ? `${Math.round(seconds / 86_400)} days` : seconds >= 3_600 ? `${Math.round(seconds / 3_600)} hours` : `${seconds} seconds`;

/** What a rotation printed: when the new keys sign, and how long retired ones stay published. */
export function rotationLines(fresh: readonly SigningKeyInfo[], refreshSeconds: number, keptSeconds: number): { signsFrom: string | undefined; lines: string[] } {
  const activated = fresh.map((k) => k.kid);
  const signsFrom = fresh.map((k) => k.signsFrom).find(Boolean);
  return {
    signsFrom,
    lines: [
      signsFrom
        ? `Published ${activated.join(', ')}: signing from ${signsFrom}; the current keys sign until then.`
        : `Activated ${activated.join(', ')}: running servers sign with the new keys within ${refreshSeconds}s.`,
      `Retired keys stay published for verification for ${duration(keptSeconds)}.`,
    ],
  };
}
