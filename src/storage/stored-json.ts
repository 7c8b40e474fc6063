/**
 * The JSON text a record was read from or written as, kept beside the object for the request memo
 * (request-memo.ts), which keeps every record as text so that no caller's change to an object it
 * was handed leaks into the next read. Re-serialising what a store has just parsed or serialised
 * was a sizeable part of the adapters' time on the token paths (perf, 2026-12-07).
 *
 * Each text is taken at most once, by the memo, right after the store call that made it: nobody
 * else holds the object between the two, so the text still says what the object holds.
 */
const read = new WeakMap<object, string>();
const written = new WeakMap<object, string>();

/** JSON.parse, remembering the text for `readText`. */
export function parseStored<T extends object>(text: string): T {
  const value = JSON.parse(text) as T;
  if (typeof value === 'object' && value !== null) read.set(value, text);
  return value;
}

/** JSON.stringify, remembering the text for `writtenText`. */
export function stringifyStored(value: object): string {
  const text = JSON.stringify(value);
  written.set(value, text);
  return text;
}

/** The text `value` was just parsed from by a store (once), or its serialisation. */
export function readText(value: object): string {
  const text = read.get(value);
  if (text === undefined) return JSON.stringify(value);
  read.delete(value);
  return text;
}

/** Forgets what `value` was written as before: its next write is the one `writtenText` may give. */
export function forgetWritten(value: object): void {
  written.delete(value);
}

/** The text a store has just written `value` as (once), or its serialisation. */
export function writtenText(value: object): string {
  const text = written.get(value);
  if (text === undefined) return JSON.stringify(value);
  written.delete(value);
  return text;
}
