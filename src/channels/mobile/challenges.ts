import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdapterConstructor } from '../../storage/oidc-adapter.js';
import { ReplayDetectedError } from '../../storage/oidc-adapter.js';

const FORMAT = /^(\d{10,13})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/**
 * Single-use server challenges for device-key logins. A challenge is `<expiry>.<random>.<mac>`
 * under a server key, so issuing one writes nothing (the endpoint needs no authentication, and
 * must not let anyone fill the store). Redeeming one records it in the shared replay store
 * (Redis `SET NX`, or SQL insert-if-absent) until it expires: exactly one redemption wins, on any
 * instance.
 */
export function deviceKeyChallenges(Adapter: AdapterConstructor, ttlSeconds: number, key: string) {
  const replay = new Adapter('ReplayDetection');
  const mac = (body: string) => createHmac('sha256', key).update(`device-key-challenge:${body}`).digest('base64url');
  return {
    ttlSeconds,
    issue(): string {
      const body = `${Math.floor(Date.now() / 1000) + ttlSeconds}.${randomBytes(16).toString('base64url')}`;
      return `${body}.${mac(body)}`;
    },
    /** True once per live challenge of ours; false for forged, expired or used ones. */
    async take(challenge: string): Promise<boolean> {
      const m = FORMAT.exec(challenge);
      if (!m) return false;
      const body = `${m[1]}.${m[2]}`;
      const given = Buffer.from(m[3]!);
      const expected = Buffer.from(mac(body));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
      const left = Number(m[1]) - Date.now() / 1000;
      if (left <= 0) return false;
      try {
        await replay.upsert(`device-key-challenge:${m[2]}`, { at: Date.now() }, Math.ceil(left) + 1);
        return true;
      } catch (e) {
        if (e instanceof ReplayDetectedError) return false;
        throw e;
      }
    },
  };
}
export type DeviceKeyChallenges = ReturnType<typeof deviceKeyChallenges>;
