/**
 * Characters that a reader cannot see, or that turn the text after them around (bidirectional
 * controls): with them a value reads as another wherever it is shown, on a review page, in the CLI,
 * on a consent page or in a wallet. Controls, bidi controls, line and paragraph separators, the byte
 * order mark, the zero-width space and the word joiner (two names would look alike). The other
 * format characters stay, as scripts need them (U+180E in Mongolian, ZWJ and ZWNJ in Indic and
 * Persian text and in emoji).
 */
export const HIDDEN_IN_TEXT = /[\p{Cc}\u061C\u200B\u200E\u200F\u202A-\u202E\u2060\u2066-\u2069\u2028\u2029\uFEFF]/u;

/** Whether `s` shows as written: no character of HIDDEN_IN_TEXT. */
export const showsAsWritten = (s: string): boolean => !HIDDEN_IN_TEXT.test(s);

export const HIDDEN_TEXT_MESSAGE = 'must not contain control, invisible or bidirectional characters';
