import type { z } from 'zod';
import { AdminError } from './admin-error.js';

/** Parses input with `schema`; a failure becomes a 400 naming each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
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
