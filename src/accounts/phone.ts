/** Mainland China mobile numbers, with or without +86, normalised to E.164 (+8613800138000). */
export function normalisePhone(raw: string): string | undefined {
  const s = raw.replace(/[\s-]/g, '');
  const m = /^(?:\+?86)?(1[3-9]\d{9})$/.exec(s);
  return m ? `+86${m[1]}` : undefined;
}

export const looksLikePhone = (s: string): boolean => normalisePhone(s) !== undefined;
