// Before anything touches libuv's pool: argon2 and token signing share it, and four threads make
// sign-ins queue behind each other (and signing behind sign-ins).
process.env.UV_THREADPOOL_SIZE ??= '16';
await import('./server.js');
