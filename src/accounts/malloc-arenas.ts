// Kept apart from password-hasher.ts so that src/server.ts can ask without loading argon2's native module.

/** Whether glibc's malloc arenas are bounded for this process (see createPasswordHasher). */
export function mallocArenasUnbounded(env: Record<string, string | undefined>, glibcVersion: string | undefined): boolean {
  if (!glibcVersion) return false; // the setting exists only in glibc (musl, macOS and Windows have their own allocators)
  return !env.MALLOC_ARENA_MAX && !/(^|:)glibc\.malloc\.arena_max=/.test(env.GLIBC_TUNABLES ?? '');
}

/** The C library's glibc version, or undefined where the process does not run on glibc. */
export function runtimeGlibcVersion(): string | undefined {
  return (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
}
