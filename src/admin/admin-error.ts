/**
 * Expected failures of the admin services. `code` is stable; `message` is safe to show and never
 * names something outside the operator's departments.
 */
export type AdminErrorCode = 'invalid_input' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict';

const STATUS: Record<AdminErrorCode, number> = { invalid_input: 400, unauthorized: 401, forbidden: 403, not_found: 404, conflict: 409 };

export class AdminError extends Error {
  readonly status: number;
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    /** Field-by-field problems with the input, for forms and API clients. */
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AdminError';
    this.status = STATUS[code];
  }
}

export const isAdminError = (e: unknown): e is AdminError => e instanceof AdminError;

/** The one answer for "does not exist" and "not yours": the two must look the same. */
export const notFound = (what: string) => new AdminError('not_found', `${what} not found`);
