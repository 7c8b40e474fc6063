/**
 * Migration 20261208_100: certificate types take a second national super-admin's approval from now
 * on, but a type defined before stays in force (approved when it was defined, by nobody named), so
 * that its department's pushes and its place in the issuer metadata carry on after the upgrade; and
 * the migration goes down and up again.
 */
import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { approvedType, certificateStore } from '../../src/credentials/certificate-store.js';
import { certificateScopes } from '../../src/credentials/certificate-credential.js';
import { createSealer } from '../../src/identity/index.js';
import { auditStores } from '../support/audit.js';

const NAME = '20261208_100_certificate_type_approval';

describe.each(auditStores({ migrated: false }))('certificate type approval, migrated ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('keeps a type defined before the migration in force, and makes new rows pending unless approved', async () => {
    const s = await open();
    try {
      const at = migrations.findIndex(([n]) => n === NAME);
      for (const [, m] of migrations.slice(0, at)) await m.up(s.db);
      const definedAt = Date.parse('2026-12-01T08:00:00Z');
      await s.db('certificate_types').insert({
        id: 'driving_licence', department_id: 'dp_police00000', vct: 'https://id.example.cn/credentials/types/driving_licence',
        name_zh: '机动车驾驶证', name_en: 'Driving licence', claims: JSON.stringify({ licence_number: { type: 'string', required: true } }),
        validity_days: 2190, created_by: 'op-1', created_at: definedAt, version: 1,
      });

      await migrations[at]![1].up(s.db);
      const store = certificateStore(s.db, createSealer([{ kid: 'k1', key: Buffer.alloc(32, 7).toString('base64') }]));
      const before = await store.type('driving_licence');
      expect(before).toMatchObject({ approvedAt: definedAt, approvedBy: undefined });
      expect(approvedType(before!)).toBe(true);

      await store.insertType({ id: 'study_permit', departmentId: 'dp_police00000', vct: 'https://id.example.cn/credentials/types/study_permit', names: { 'zh-CN': '学习许可', en: 'Study permit' }, claims: { permit_number: { type: 'string', required: true } }, validityDays: 365, createdBy: 'op-1', createdAt: Date.now(), approvedAt: undefined, approvedBy: undefined });
      const pending = await store.type('study_permit');
      expect(approvedType(pending!)).toBe(false);
      // A wallet cannot be granted a pending type's scope.
      expect(await certificateScopes(s.db)()).toEqual(['certificate:driving_licence']);
      // An approval names the version: another, or a second approval, changes nothing.
      expect(await s.db.transaction((trx) => store.approveType('study_permit', 2, 'op-2', Date.now(), trx))).toBe(false);
      expect(await s.db.transaction((trx) => store.approveType('study_permit', 1, 'op-2', Date.now(), trx))).toBe(true);
      expect(await s.db.transaction((trx) => store.approveType('study_permit', 1, 'op-3', Date.now(), trx))).toBe(false);
      expect(await store.type('study_permit')).toMatchObject({ approvedBy: 'op-2' });
      expect((await certificateScopes(s.db)()).sort()).toEqual(['certificate:driving_licence', 'certificate:study_permit']);

      await migrations[at]![1].down!(s.db);
      expect(await s.db.schema.hasColumn('certificate_types', 'approved_at')).toBe(false);
      await migrations[at]![1].up(s.db);
      expect(approvedType((await store.type('study_permit'))!)).toBe(true);
    } finally {
      await s.close();
    }
  });
});
