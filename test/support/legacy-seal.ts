import { createCipheriv, randomBytes } from 'node:crypto';

/** How a citizen ID was sealed before the aad named the account (envelope v1): what old rows hold. */
export function legacySeal(key: { kid: string; key: string }, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(key.key, 'base64'), iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(`yihao-seal:v1:${key.kid}:citizen_id`, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `v1.${key.kid}.${iv.toString('base64url')}.${body.toString('base64url')}`;
}
