/**
 * Migrations 20261208_100 and _110: certificate types, and then each version of one, take a second
 * national super-admin's approval from now on. A type defined before stays in force (approved when
 * it was defined, by nobody named), so that its department's pushes and its place in the issuer
 * metadata carry on after the upgrade; each version made before _110 is marked as what it was:
 * in force from when it was made, approved with its type, or never in force (changed while its
 * type awaited approval). Both migrations go down and up again.
 */
import { describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { migrations } from '../../migrations/index.js';
import { approvedType, certificateStore } from '../../src/credentials/certificate-store.js';
import { certificateScopes } from '../../src/credentials/certificate-credential.js';
import { versionStatusOf } from '../../src/credentials/certificate-types.js';
import { createSealer } from '../../src/identity/index.js';
import { auditStores } from '../support/audit.js';

const TYPES = '20261208_100_certificate_type_approval';
const VERSIONS = '20261208_110_certificate_type_version_approval';
const CLAIMS = JSON.stringify({ licence_number: { type: 'string', required: true } });

const typeRow = (id: string, createdAt: number, version: number) => ({
  id, department_id: 'dp_police00000', vct: `https://id.example.cn/credentials/types/${id}`, name_zh: '证照', name_en: 'Certificate',
  claims: CLAIMS, validity_days: 365, created_by: 'op-1', created_at: createdAt, version,
});
const versionRow = (typeId: string, version: number, createdAt: number, by = 'op-1') => ({
  type_id: typeId, version, name_zh: `证照 v${version}`, name_en: `Certificate v${version}`, claims: CLAIMS, validity_days: 365, created_by: by, created_at: createdAt,
});

describe.each(auditStores({ migrated: false }))('certificate type approval, migrated ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('keeps types and versions defined before the migrations in force, and makes new ones pending unless approved', async () => {
    const s = await open();
    const step = async (name: string, db: Knex) => migrations.find(([n]) => n === name)![1].up(db);
    try {
      const before100 = migrations.findIndex(([n]) => n === TYPES);
      for (const [, m] of migrations.slice(0, before100)) await m.up(s.db);
      // A type from before approvals, changed once (live at once, as changes were then).
      const definedAt = Date.parse('2026-12-01T08:00:00Z');
      await s.db('certificate_types').insert(typeRow('driving_licence', definedAt, 2));
      await s.db('certificate_type_versions').insert([versionRow('driving_licence', 1, definedAt), versionRow('driving_licence', 2, definedAt + 60_000)]);

      await step(TYPES, s.db);
      // Under _100's code: a type changed while it awaited approval, approved at version 2, then
      // changed (live at once); and a type still pending.
      const t2 = Date.parse('2026-12-05T08:00:00Z');
      await s.db('certificate_types').insert({ ...typeRow('study_permit', t2, 3), approved_at: t2 + 5_000, approved_by: 'op-2' });
      await s.db('certificate_type_versions').insert([versionRow('study_permit', 1, t2), versionRow('study_permit', 2, t2 + 1_000, 'op-3'), versionRow('study_permit', 3, t2 + 10_000, 'op-3')]);
      await s.db('certificate_types').insert(typeRow('boat_licence', t2, 1));
      await s.db('certificate_type_versions').insert(versionRow('boat_licence', 1, t2));

      for (const [, m] of migrations.slice(before100 + 1)) await m.up(s.db);
      const store = certificateStore(s.db, createSealer([{ kid: 'k1', key: Buffer.alloc(32, 7).toString('base64') }]));
      const statuses = async (id: string) => {
        const t = (await store.type(id))!;
        return (await store.typeVersions(id)).map((v) => [v.version, versionStatusOf(v, t), v.approvedAt ?? null, v.approvedBy ?? null]);
      };
      const legacy = await store.type('driving_licence');
      expect(legacy).toMatchObject({ approvedAt: definedAt, approvedBy: undefined, pendingVersion: undefined });
      expect(approvedType(legacy!)).toBe(true);
      expect(await statuses('driving_licence')).toEqual([[1, 'earlier', definedAt, null], [2, 'current', definedAt + 60_000, null]]);
      expect(await statuses('study_permit')).toEqual([[1, 'withdrawn', null, null], [2, 'earlier', t2 + 5_000, 'op-2'], [3, 'current', t2 + 10_000, null]]);
      expect(await statuses('boat_licence')).toEqual([[1, 'pending', null, null]]);

      await store.insertType({ id: 'fishing_permit', departmentId: 'dp_police00000', vct: 'https://id.example.cn/credentials/types/fishing_permit', names: { 'zh-CN': '捕捞许可', en: 'Fishing permit' }, claims: { permit_number: { type: 'string', required: true } }, validityDays: 365, createdBy: 'op-1', createdAt: Date.now(), approvedAt: undefined, approvedBy: undefined });
      expect(approvedType((await store.type('fishing_permit'))!)).toBe(false);
      // A wallet cannot be granted a pending type's scope.
      expect((await certificateScopes(s.db)()).sort()).toEqual(['certificate:driving_licence', 'certificate:study_permit']);
      // An approval names the version: another, or a second approval, changes nothing.
      expect(await s.db.transaction((trx) => store.approveType('fishing_permit', 2, 'op-2', Date.now(), trx))).toBe(false);
      expect(await s.db.transaction((trx) => store.approveType('fishing_permit', 1, 'op-2', Date.now(), trx))).toBe(true);
      expect(await s.db.transaction((trx) => store.approveType('fishing_permit', 1, 'op-3', Date.now(), trx))).toBe(false);
      expect(await store.type('fishing_permit')).toMatchObject({ approvedBy: 'op-2' });
      expect((await statuses('fishing_permit'))[0]).toEqual([1, 'current', expect.any(Number), 'op-2']);

      // A pending version waits beside the one in force, and is put in force only from where it was proposed.
      const inForce = (await store.type('study_permit'))!;
      const proposed = { ...(await store.typeVersion('study_permit', 3))!, version: 4, names: { 'zh-CN': '学习许可', en: 'Study permit' }, createdBy: 'op-4', createdAt: Date.now() };
      expect(await s.db.transaction((trx) => store.proposeVersion('study_permit', proposed, inForce, trx))).toBe(true);
      expect(await s.db.transaction((trx) => store.proposeVersion('study_permit', { ...proposed, version: 5 }, inForce, trx))).toBe(false);
      expect(await store.type('study_permit')).toMatchObject({ version: 3, pendingVersion: 4, names: { en: 'Certificate' } });
      expect(await s.db.transaction((trx) => store.approveVersion('study_permit', { ...proposed, version: 5 }, 3, 'op-2', Date.now(), trx))).toBe(false);
      expect(await s.db.transaction((trx) => store.approveVersion('study_permit', proposed, 3, 'op-2', Date.now(), trx))).toBe(true);
      expect(await store.type('study_permit')).toMatchObject({ version: 4, pendingVersion: undefined, names: { en: 'Study permit' } });
      expect(await s.db.transaction((trx) => store.approveVersion('study_permit', proposed, 3, 'op-2', Date.now(), trx))).toBe(false);

      const at110 = migrations.findIndex(([n]) => n === VERSIONS);
      for (const [, m] of migrations.slice(before100).reverse()) await m.down!(s.db);
      expect(await s.db.schema.hasColumn('certificate_types', 'approved_at')).toBe(false);
      expect(await s.db.schema.hasColumn('certificate_type_versions', 'approved_at')).toBe(false);
      expect(at110).toBeGreaterThan(before100);
      for (const [, m] of migrations.slice(before100)) await m.up(s.db);
      expect(approvedType((await store.type('fishing_permit'))!)).toBe(true);
      expect(await statuses('driving_licence')).toEqual([[1, 'earlier', expect.any(Number), null], [2, 'current', definedAt + 60_000, null]]);
    } finally {
      await s.close();
    }
  });
});
