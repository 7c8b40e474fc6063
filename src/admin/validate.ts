import { z } from 'zod';
import { AdminError } from './admin-error.js';

/**
 * Every id Yihao hands out (departments, clients, changes, role assignments) is printable ASCII
 * without spaces. Anything else names nothing, so it is not looked up: it answers like a missing
 * thing. Besides, PostgreSQL refuses a NUL in text outright, and the query would fail.
 */
const POSSIBLE_ID = /^[\x21-\x7E]{1,128}$/;
export const possibleId = (id: string): boolean => POSSIBLE_ID.test(id);

const CONTROL_CHARACTERS = 'must not contain control characters';

/**
 * One line of operator text (a name, a search, an id in a query): control characters (C0, DEL, C1)
 * belong in none of them, and a NUL could not even be stored.
 */
export const oneLine = () => z.string().regex(/^\P{Cc}*$/u, CONTROL_CHARACTERS);

/**
 * Where a NUL hides in a request (in a string, or in a key), as the field path that zod would name.
 * Walked without recursion, each value once with a link to its parent (the path is spelled out only
 * for the NUL found): a body nested deeper than the stack must not turn into a 500, and one nested as
 * deep as the body limit allows must not cost the square of its depth (a path copied at each level
 * held the event loop for seconds at 64 KB).
 */
function nulAt(value: unknown): string | undefined {
  type Step = { key: string; parent: Step | undefined };
  const pathOf = (step: Step | undefined): string => {
    const keys: string[] = [];
    for (let s = step; s; s = s.parent) keys.push(s.key);
    return keys.reverse().join('.') || '_';
  };
  const pending: [unknown, Step | undefined][] = [[value, undefined]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [v, at] = next;
    if (typeof v === 'string') {
      if (v.includes('\0')) return pathOf(at);
    } else if (v !== null && typeof v === 'object') {
      for (const [key, inner] of Object.entries(v)) {
        if (key.includes('\0')) return pathOf(at);
        pending.push([inner, { key, parent: at }]);
      }
    }
  }
  return undefined;
}

/**
 * Parses input with `schema`; a failure becomes a 400 naming each bad field. A NUL is refused in
 * any field first, whatever its schema lets through: PostgreSQL cannot store one, so it would
 * fail as a 500 at the first query, where SQLite took it.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const nul = nulAt(value);
  if (nul) throw new AdminError('invalid_input', nul === '_' ? CONTROL_CHARACTERS : `${nul} ${CONTROL_CHARACTERS}`, { [nul]: CONTROL_CHARACTERS });
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const fields: Record<string, string> = {};
  for (const issue of parsed.error.issues) {
    const key = issue.path.length ? issue.path.map(String).join('.') : '_';
    // "must be an absolute URL" names no field: the key says which one.
    fields[key] ??= issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : issue.message;
  }
  const [first] = Object.entries(fields);
  throw new AdminError('invalid_input', first![0] === '_' ? first![1] : `${first![0]} ${first![1]}`, fields);
}
