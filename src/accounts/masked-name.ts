/** What separates the parts of a name and stays visible: the middle dot of minority and transliterated names, spaces. */
const SEPARATOR = /^[\s·・•]$/u;

/**
 * A name as a screen that may be someone else's shows it: the first and last characters, stars
 * between (`张*三`, `欧**明`), a two-character name its first only (`王*`), separators kept
 * (`买*·**力`). Counted in characters, not UTF-16 units, so that a rare character outside the
 * basic plane is never cut in half.
 */
export function maskName(name: string): string {
  const chars = Array.from(name.trim());
  if (chars.length <= 1) return '*';
  const last = chars.length - 1;
  return chars.map((c, i) => (i === 0 || (i === last && last > 1) || SEPARATOR.test(c) ? c : '*')).join('');
}
