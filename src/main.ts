// Before anything touches libuv's pool: argon2 and token signing share it, and four threads make
// sign-ins queue behind each other (and signing behind sign-ins).
process.env.UV_THREADPOOL_SIZE ??= '16';
// MALLOC_ARENA_MAX cannot be set here: glibc reads it when the process starts. `npm start` and the
// Dockerfile set it (see docs/memory.md), and src/server.ts warns when it is missing.
await import('./server.js');
