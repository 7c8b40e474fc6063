/**
 * An upstream's `sub`, `sid` or `jti` as Yihao keeps it: 1-255 printable ASCII characters (OpenID
 * Connect Core §5.7 for `sub`; the columns keeping all three hold 255). Anything else is refused
 * before it reaches a store: PostgreSQL answered a NUL or an over-long value with a 500.
 */
export const isOpaqueId = (value: unknown): value is string => typeof value === 'string' && /^[\x21-\x7E]{1,255}$/.test(value);
