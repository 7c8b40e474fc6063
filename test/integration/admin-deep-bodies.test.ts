/**
 * A malicious operator (or a department system's stolen key) cannot hold an instance with one
 * request: a JSON body nested as deep as the body limit allows is refused with a 400 in time that
 * grows with its size, not with its square. The admin API looked for NUL characters with a walk that
 * copied each value's path, so a body N levels deep cost N² steps: 64 KB (the default limit) held
 * the event loop for seconds, and every citizen on the instance waited. Here the limit is raised so
 * that the square would take many minutes and the test's own timeout would catch it; the walk
 * itself takes about a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { operator } from '../support/admin-operators.js';
import { adminResource } from '../../src/admin/admin-resource.js';

const LIMIT = 2 * 1024 * 1024;

describe('bodies nested as deep as the limit allows, at the admin API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, limits: { ...c.limits, bodyMaxBytes: LIMIT } }) });
  });
  afterAll(async () => h?.close());

  it('refuses a million nested arrays and 300,000 nested objects with a 400, and the instance goes on answering', { timeout: 60_000 }, async () => {
    const nation = await h.yihao.admin.services.bootstrap.createDepartment({ name: '国家政务服务中心', level: 'national' });
    const op = await operator(h, [{ role: 'super-admin', departmentId: nation.id }]);
    const url = `${adminResource(h.issuer)}/departments`;
    const post = (body: string) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${op.token}`, 'content-type': 'application/json' }, body });
    const deepArray = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    const deepObject = `{"name":${'{"a":'.repeat(300_000)}"x\\u0000"${'}'.repeat(300_000)},"level":"city","parent_id":"${nation.id}"}`;
    expect(deepArray.length).toBeLessThanOrEqual(LIMIT);
    expect(deepObject.length).toBeLessThanOrEqual(LIMIT);
    for (const body of [deepArray, deepObject]) {
      const res = await post(body);
      expect(res.status).toBe(400);
    }
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });
});
