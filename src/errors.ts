/**
 * The one error type for expected failures. `code` is stable (tests and clients rely on it);
 * `message` is safe to show: it never carries a secret or a citizen ID number.
 * The HTTP layer and the CLI each map it in one place.
 */
export type ErrorCode =
  | 'invalid_input'
  | 'invalid_citizen_id'
  | 'duplicate_citizen_id'
  | 'duplicate_phone'
  | 'not_found'
  | 'invalid_credentials'
  | 'account_locked'
  | 'csrf'
  | 'interaction_mismatch'
  | 'config'
  | 'overloaded';

export class YihaoError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number = 400,
  ) {
    super(message);
    this.name = 'YihaoError';
  }
}

export const isYihaoError = (e: unknown): e is YihaoError => e instanceof YihaoError;
