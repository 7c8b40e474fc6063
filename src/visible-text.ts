/**
 * Characters that a reader cannot see, or that turn the text after them around (bidirectional
 * controls): with them a value reads as another wherever it is shown, on a review page, in the CLI,
 * on a consent page, on the phone's approval screen or in a wallet. Controls, bidi controls, line
 * and paragraph separators, the byte order mark, the zero-width space, the word joiner, the soft
 * hyphen, the invisible mathematical operators, the combining grapheme joiner and tag characters
 * (two names would look alike); and the letters that show as nothing: the Hangul fillers, the
 * Khmer inherent vowels and the blank Braille pattern (a review: a binding message of Hangul
 * fillers passed `\p{L}` and reached the phone blank). The other format characters stay, as scripts
 * need them (U+180E in Mongolian, ZWJ and ZWNJ in Indic and Persian text and in emoji).
 */
export const HIDDEN_IN_TEXT =
  /\u034F|\u17B4|\u17B5|[\p{Cc}\u00AD\u061C\u115F\u1160\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\u2028\u2029\u2800\u3164\uFEFF\uFFA0\u{E0000}-\u{E007F}]/u;

/** Whether `s` shows as written: no character of HIDDEN_IN_TEXT. */
export const showsAsWritten = (s: string): boolean => !HIDDEN_IN_TEXT.test(s);

export const HIDDEN_TEXT_MESSAGE = 'must not contain control, invisible or bidirectional characters';
