import { generateSecret, generateURI, verify } from 'otplib';
import { lazyImport } from '../lazy-import.js';

/**
 * RFC 6238 with the parameters every authenticator app understands: SHA-1, 6 digits, 30 seconds,
 * a 160-bit secret. One step of clock drift is accepted each way.
 */
const qrcode = lazyImport(() => import('qrcode'));

export const TOTP_PARAMS = { algorithm: 'sha1', digits: 6, period: 30 } as const;
const TOLERANCE_SECONDS = TOTP_PARAMS.period;

export const TOTP_CODE = /^[0-9]{6}$/;

/** A fresh base32 secret (20 random bytes). */
export const newTotpSecret = (): string => generateSecret({ length: 20 });

/** The `otpauth://` URI that the QR code carries. */
export const totpUri = (secret: string, { issuer, label }: { issuer: string; label: string }): string =>
  generateURI({ issuer, label, secret, ...TOTP_PARAMS });

/** The URI as an inline PNG (`data:` URL), so the page needs no extra request and no script. */
export const qrCodeDataUrl = async (text: string): Promise<string> => (await qrcode()).default.toDataURL(text, { errorCorrectionLevel: 'M', margin: 2, width: 232 });

/** The secret in groups of four, for typing it in by hand. */
export const groupedSecret = (secret: string): string => secret.replace(/(.{4})(?=.)/g, '$1 ');

/**
 * Which time step a 6-digit code belongs to, if it fits the secret now (± one step); undefined if
 * it does not. Replay (a step already used) is the caller's business.
 */
export async function totpStep(secret: string, code: string, nowMs = Date.now()): Promise<number | undefined> {
  if (!TOTP_CODE.test(code)) return undefined;
  const result = await verify({ secret, token: code, epoch: Math.floor(nowMs / 1000), epochTolerance: TOLERANCE_SECONDS, ...TOTP_PARAMS });
  return result.valid ? (result as { timeStep: number }).timeStep : undefined;
}
