import argon2 from 'argon2';

export interface Argon2Settings {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  /** Hashes in flight at once; the rest queue here rather than in libuv, where token signing waits too. */
  maxConcurrent: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Spends the same time as a real verify, so an unknown identifier cannot be told apart by timing. */
  verifyNothing(password: string): Promise<false>;
}

function semaphore(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export function createPasswordHasher(settings: Argon2Settings): PasswordHasher {
  const options = {
    type: argon2.argon2id as 2,
    memoryCost: settings.memoryKiB,
    timeCost: settings.iterations,
    parallelism: settings.parallelism,
  };
  const limit = semaphore(settings.maxConcurrent);
  let decoy: Promise<string> | undefined;

  const verify = (hash: string, password: string) =>
    limit(async () => {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false; // a malformed stored hash is a failed check, never a crash
      }
    });

  return {
    hash: (password) => limit(() => argon2.hash(password, options)),
    verify,
    async verifyNothing(password) {
      decoy ??= argon2.hash('decoy-password-never-matches', options);
      await verify(await decoy, password);
      return false;
    },
  };
}
