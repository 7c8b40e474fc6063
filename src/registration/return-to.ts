/**
 * Where a registration started from, so that its success page can lead back there. Only our own
 * sign-in pages qualify: an interaction (`/interaction/<uid>`) or the authorization endpoint
 * (`/auth`, `/auth/<uid>`, with a query). Anything else (absolute URLs, `//host`, `/\host`,
 * dot segments, encoded slashes, fragments, control characters) is refused: no open redirect.
 */
const RETURN_TO = /^\/(?:interaction\/[A-Za-z0-9_-]{1,128}|auth(?:\/[A-Za-z0-9_-]{1,128})?(?:\?[A-Za-z0-9_.~%=&+:@!$'()*,;/?-]*)?)$/;
const MAX_LENGTH = 2048;

/** The parameter as given: absent, acceptable, or refused. */
export type ReturnTo = { ok: true; path: string | undefined } | { ok: false };

export function parseReturnTo(raw: unknown): ReturnTo {
  if (raw === undefined || raw === '') return { ok: true, path: undefined };
  if (typeof raw !== 'string' || raw.length > MAX_LENGTH || !RETURN_TO.test(raw)) return { ok: false };
  // Belt and braces: resolved against a dummy origin it must stay on that origin and path.
  const url = new URL(raw, 'http://yihao.invalid');
  if (url.origin !== 'http://yihao.invalid' || `${url.pathname}${url.search}` !== raw) return { ok: false };
  // A query's own `%2F..%2F` cannot climb: the path part was matched before the `?`.
  return { ok: true, path: raw };
}
