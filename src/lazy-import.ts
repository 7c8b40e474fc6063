/**
 * A module loaded on its first use instead of at start-up. For the libraries of one feature
 * (passkeys, verifiable credentials, federation, TOTP): loading them all at start-up was about a
 * third of what every process, the CLI's included, spent before doing anything, and an instance
 * that never serves the feature never pays for it. The first request that needs one waits for it
 * once; a failed load is tried again by the next.
 */
export function lazyImport<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    }));
}
