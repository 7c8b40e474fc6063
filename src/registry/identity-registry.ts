import type { CitizenId } from '../identity/index.js';

/**
 * The population registry: does this ID number belong to a living person of this name?
 *
 * Implementations answer one of three outcomes, or throw `RegistryUnavailableError` when they
 * cannot answer at all. The caller (registration) must treat "unavailable" as "try again later"
 * and create nothing: it is not a mismatch.
 */
export interface IdentityRegistry {
  verify(input: RegistryQuery): Promise<RegistryResult>;
  /** Releases sockets and timers, if the implementation holds any. Safe to call twice. */
  close?(): Promise<void>;
}

export interface RegistryQuery {
  readonly citizenId: CitizenId;
  /** The name as the citizen typed it; implementations compare it after `normaliseName`. */
  readonly name: string;
  /**
   * A mobile number (E.164) to check as well: is it registered in this person's name with its
   * carrier (real-name SIM registration)? Then 'match' means the name and the number both match.
   */
  readonly phone?: string;
}

export type RegistryResult =
  /** `source` says which registry answered (recorded with the account's identity assurance). */
  | { readonly outcome: 'match'; readonly checkedAt: Date; readonly source: string }
  /** The number is known but the name differs, or the person is deceased. */
  | { readonly outcome: 'mismatch' }
  /** The registry does not know the number. */
  | { readonly outcome: 'unknown' }
  /** The name matches, but the phone asked about is not registered in this person's name. */
  | { readonly outcome: 'phone_mismatch' };

export type RegistryUnavailableReason =
  /** No answer within the per-attempt timeout, on every attempt. */
  | 'timeout'
  /** Connection refused, reset, DNS failure, ... on every attempt. */
  | 'network'
  /** The TLS handshake failed (bad server certificate, client certificate refused). Not retried. */
  | 'tls'
  /** The registry answered with a non-2xx HTTP status (5xx/429 after retries; other 4xx at once). */
  | 'status'
  /** The answer was not the JSON we expect. Not retried. */
  | 'malformed_answer'
  /** The answer was larger than the size cap. Not retried. */
  | 'oversized_answer';

const reasonText: Record<RegistryUnavailableReason, string> = {
  timeout: 'timed out',
  network: 'network error',
  tls: 'TLS handshake failed',
  status: 'unexpected HTTP status',
  malformed_answer: 'malformed answer',
  oversized_answer: 'answer too large',
};

/**
 * The registry could not answer. The message is safe to log and show: it never contains the ID
 * number or the name (only the reason, the HTTP status and the number of attempts).
 */
export class RegistryUnavailableError extends Error {
  /** Stable code for the HTTP layer and the CLI ("try again later", 503). */
  readonly code = 'registry_unavailable';

  constructor(
    readonly reason: RegistryUnavailableReason,
    readonly attempts: number,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    const detail = status === undefined ? reasonText[reason] : `${reasonText[reason]} ${status}`;
    super(`population registry unavailable: ${detail} (${attempts} ${attempts === 1 ? 'attempt' : 'attempts'})`, options);
    this.name = 'RegistryUnavailableError';
  }
}

export const isRegistryUnavailable = (e: unknown): e is RegistryUnavailableError => e instanceof RegistryUnavailableError;

/**
 * Separators between the parts of a transliterated minority name (阿依古丽·买买提). People type
 * whichever dot their keyboard offers; the ID card prints U+00B7. After NFKC, U+FF0E is '.',
 * U+FF65 is U+30FB and U+0387 is U+00B7, so those are covered too.
 */
const NAME_DOTS = /\s*[\u00B7\u2022\u002E\u30FB\u2027\u2219\u22C5\u2E31]\s*/gu;
/** Invisible characters that a copy-paste can carry into a form field. */
const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF]/gu;

/**
 * The form in which names are compared: NFKC (full-width letters and spaces become ASCII), no
 * zero-width characters, trimmed, inner whitespace collapsed to one space, and every middle-dot
 * variant (with any spaces around it) turned into one U+00B7. Case is kept: registry names are
 * compared exactly, apart from these typing differences.
 */
export function normaliseName(name: string): string {
  return name.normalize('NFKC').replace(INVISIBLE, '').trim().replace(/\s+/gu, ' ').replace(NAME_DOTS, '\u00B7');
}

/** Whether two names are the same after `normaliseName`. An empty name matches nothing. */
export function sameName(a: string, b: string): boolean {
  const na = normaliseName(a);
  return na.length > 0 && na === normaliseName(b);
}
