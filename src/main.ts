// Before anything touches libuv's pool: argon2 and token signing share it, and four threads make
// sign-ins queue behind each other (and signing behind sign-ins).
process.env.UV_THREADPOOL_SIZE ??= '16';
// MALLOC_ARENA_MAX cannot be set here: glibc reads it when the process starts. `npm start` and the
// Dockerfile set it (see docs/memory.md), and src/server.ts warns when it is missing.
// Optional OpenTelemetry traces: the SDK must be running before the app's modules load. Off unless
// asked for, and then loaded by name, so that Yihao does not depend on it (docs/operations.md).
const { ConfigError } = await import('./config/config-error.js');
const { startTracing, tracingRequested } = await import('./tracing/otlp-tracing.js');
try {
  if (tracingRequested(process.env)) await startTracing(process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  process.exit(2);
}
await import('./server.js');
