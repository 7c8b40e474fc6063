/**
 * Sends an idempotent Redis call again in the background until Redis answers it: the undo of a
 * step whose caller gave up (its command timed out on a stalled path, yet Redis may still run it
 * once the path clears). Retries start after `firstMs` and double up to `maxMs`, for at most
 * `forMs`. At most `maxPending` calls wait at once (a long outage under load); past that, a call is
 * dropped, which leaves its step as the caller's store would have left it without this.
 */
export function settleLater({ firstMs = 200, maxMs = 5_000, forMs, maxPending = 10_000 }: { firstMs?: number; maxMs?: number; forMs: number; maxPending?: number }) {
  let pending = 0;
  return (call: () => Promise<unknown>): void => {
    if (pending >= maxPending) return;
    pending++;
    const started = Date.now();
    const attempt = (delay: number) => {
      const timer = setTimeout(() => {
        call().then(
          () => pending--,
          () => (Date.now() - started < forMs ? attempt(Math.min(delay * 2, maxMs)) : pending--),
        );
      }, delay);
      timer.unref();
    };
    attempt(firstMs);
  };
}
