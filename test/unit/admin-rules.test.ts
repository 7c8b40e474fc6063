import { describe, expect, it } from 'vitest';
import { placementProblem, type Department } from '../../src/admin/departments.js';
import { scopesFor, type Operator } from '../../src/admin/roles.js';
import { clientSettings, settingsDiff } from '../../src/clients/client-settings.js';

const dept = (id: string, level: Department['level'], path: string): Department => ({ id, level, name: id, path, parentId: undefined, createdAt: 0 });
const op = (...held: [Operator['assignments'][number]['role'], string][]): Operator => ({
  accountId: 'a',
  sub: 's',
  name: 'n',
  assignments: held.map(([role, path], i) => ({ id: `r${i}`, role, departmentId: path.split('/').at(-2)!, departmentPath: path })),
});

describe('roles', () => {
  it('grants each role its permissions over its subtree only', () => {
    const admin = op(['dept-admin', '/n/p1/']);
    expect(scopesFor(admin, 'client.write')).toEqual(['/n/p1/']);
    expect(scopesFor(admin, 'client.review')).toEqual([]);
    expect(scopesFor(admin, 'audit.read')).toEqual([]);
    expect(scopesFor(op(['reviewer', '/n/p1/']), 'client.review')).toEqual(['/n/p1/']);
    expect(scopesFor(op(['reviewer', '/n/p1/']), 'client.write')).toEqual([]);
    expect(scopesFor(op(['auditor', '/n/']), 'audit.read')).toEqual(['/n/']);
    expect(scopesFor(op(['auditor', '/n/']), 'client.read')).toEqual([]);
    for (const p of ['department.read', 'client.read', 'audit.read', 'operator.write'] as const) expect(scopesFor(op(['counter-staff', '/n/']), p)).toEqual([]);
  });

  it('keeps signing keys to super-admins of a root department', () => {
    expect(scopesFor(op(['super-admin', '/n/']), 'key.rotate')).toEqual(['/n/']);
    expect(scopesFor(op(['super-admin', '/n/p1/']), 'key.rotate')).toEqual([]);
    expect(scopesFor(op(['super-admin', '/n/p1/']), 'client.review')).toEqual(['/n/p1/']);
  });
});

describe('department placement', () => {
  it('puts each level directly under the one above, and only national at the root', () => {
    expect(placementProblem('national', undefined)).toBeUndefined();
    expect(placementProblem('province', undefined)).toBe('a province department needs a parent');
    expect(placementProblem('province', dept('n', 'national', '/n/'))).toBeUndefined();
    expect(placementProblem('district', dept('p', 'province', '/n/p/'))).toBe('a district department belongs under a city department');
    expect(placementProblem('national', dept('n', 'national', '/n/'))).toBe('a national department has no parent');
  });
});

describe('client settings', () => {
  it('diffs field by field, and only what changes', () => {
    const before = clientSettings.parse({ client_name: 'A', redirect_uris: ['https://a.example/cb'] });
    const after = clientSettings.parse({ client_name: 'A', redirect_uris: ['https://a.example/cb', 'https://a.example/cb2'], min_acr: 'urn:yihao:loa:2' });
    expect(settingsDiff(before, after)).toEqual([
      { field: 'redirect_uris', before: ['https://a.example/cb'], after: ['https://a.example/cb', 'https://a.example/cb2'] },
      { field: 'min_acr', before: null, after: 'urn:yihao:loa:2' },
    ]);
    expect(settingsDiff(undefined, before).map((d) => d.field)).toContain('client_name');
  });

  it('refuses settings that cannot work', () => {
    const problems = (s: unknown) => (clientSettings.safeParse(s).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems({ client_name: 'A' })).toEqual(['redirect_uris: an authorization_code client needs at least one redirect URI']);
    expect(problems({ client_name: 'A', grant_types: ['client_credentials'], public: true })).toEqual(['grant_types: a public client cannot use client_credentials']);
    expect(problems({ client_name: 'A', redirect_uris: ['x'], allowed_channels: ['web', 'web'], min_acr: 'loa2' })).toEqual(
      expect.arrayContaining(['redirect_uris.0: must be an absolute URL', 'allowed_channels: lists a channel twice', expect.stringMatching(/^min_acr: must be one of/)]),
    );
    expect(problems({ client_name: 'A', redirect_uris: ['https://a.example/cb'], client_secret: 'x' })).toEqual([expect.stringMatching(/client_secret|Unrecognized/)]);
  });
});
