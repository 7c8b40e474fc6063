/** Mainland China mobile numbers, with or without +86, normalised to E.164 (+8613800138000). */
export function normalisePhone(raw: string): string | undefined {
  const s = raw.replace(/[\s-]/g, '');
  const m = /^(?:\+?86)?(1[3-9]\d{9})$/.exec(s);
  return m ? `+86${m[1]}` : undefined;
}

export const looksLikePhone = (s: string): boolean => normalisePhone(s) !== undefined;

/**
 * The one way a mobile number is shown, on every page, in SMS notices and in log lines: the first
 * three and last four digits of a mainland number with the middle hidden (`138 **** 8000`). Spaced
 * so that it reads (and is read out) in its three groups. Anything else keeps its last two
 * characters only, and never shows its length.
 */
export function maskPhone(phone: string): string {
  const mainland = normalisePhone(phone);
  if (mainland) return `${mainland.slice(3, 6)} **** ${mainland.slice(-4)}`;
  return phone.length > 2 ? `**** ${phone.slice(-2)}` : '****';
}
