import type { SigningKeyInfo, SigningKeys } from '../keys/index.js';
import type { Guard } from './guard.js';
import type { Operator } from './roles.js';

/** Token signing keys concern the whole installation: a super-admin at a root department only. */
export function keyService({ signingKeys, guard }: { signingKeys: SigningKeys; guard: Guard }) {
  return {
    async list(op: Operator): Promise<SigningKeyInfo[]> {
      await guard.scopes(op, 'key.read', 'key.list');
      return signingKeys.list();
    },
    async rotate(op: Operator): Promise<{ activated: string[]; keys: SigningKeyInfo[] }> {
      await guard.scopes(op, 'key.rotate', 'key.rotate');
      const before = (await signingKeys.list()).filter((k) => k.status === 'active').map((k) => k.kid);
      const fresh = await signingKeys.rotate((trx, activated) => guard.record(op, 'admin.keys.rotated', {}, { before: { active: before }, after: { active: activated } }, trx));
      const activated = fresh.map((k) => k.kid);
      return { activated, keys: await signingKeys.list() };
    },
  };
}
export type KeyService = ReturnType<typeof keyService>;
