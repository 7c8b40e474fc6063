/**
 * The counter-staff role is scoped like every other role: staff of department X may act at X's
 * counter clients (and those of X's subtree), never at department Y's. A counter client that no
 * department owns belongs to the installation: national staff, or the channel's own list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counterStaffAt, type Department } from '../../src/admin/index.js';
import { nationalTree, type SignedInOperator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { REDIRECT } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('counter-staff scope ($name)', ({ name, enabled }) => {
  let h: Harness;
  let dept: Awaited<ReturnType<typeof nationalTree>>['dept'];
  let superN: SignedInOperator;
  let adminX: SignedInOperator;
  let reviewer: SignedInOperator;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    ({ dept, superAdmin: superN, deptAdmin: adminX, reviewer } = await nationalTree(h));
  });
  afterAll(async () => h?.close());

  /** A live counter client owned by `d`, registered and approved through the admin API. */
  async function counterClient(d: Department): Promise<string> {
    const made = await adminX.api('POST', '/clients', {
      department_id: d.id,
      settings: { client_name: `${d.name}柜台`, redirect_uris: [REDIRECT], scope: 'openid profile', allowed_channels: ['web', 'counter'] },
    });
    expect(made.status).toBe(201);
    const submitted = await adminX.api('POST', `/client-changes/${made.body.change.id}/submit`);
    expect((await reviewer.api('POST', `/client-changes/${made.body.change.id}/approve`, { revision: submitted.body.revision })).status).toBe(200);
    return made.body.client.client_id as string;
  }

  /** An account given counter-staff in `d` by a super-admin; its internal id. */
  async function staffOf(d: Department): Promise<string> {
    const person = await h.citizen({ name: '柜员' });
    expect((await superN.api('POST', '/role-assignments', { sub: person.sub, role: 'counter-staff', department_id: d.id })).status).toBe(201);
    return (await h.yihao.services.accounts.findBySub(person.sub))!.id;
  }

  it.skipIf(!enabled)('lets staff act at their own department’s counters and those below it, never at another department’s', async () => {
    const at = counterStaffAt(h.yihao.stores.db, h.yihao.services.counterStaff.isCounterStaff);
    const [counterX, counterXCity, counterY] = [await counterClient(dept.x), await counterClient(dept.xCity), await counterClient(dept.y)];
    const [staffX, staffXCity, staffY, staffN] = [await staffOf(dept.x), await staffOf(dept.xCity), await staffOf(dept.y), await staffOf(dept.nation)];
    const table: [string, string, string, boolean][] = [
      ['X staff', staffX, counterX, true],
      ['X staff', staffX, counterXCity, true],
      ['X staff', staffX, counterY, false],
      ['X-city staff', staffXCity, counterXCity, true],
      ['X-city staff', staffXCity, counterX, false],
      ['Y staff', staffY, counterX, false],
      ['Y staff', staffY, counterY, true],
      ['national staff', staffN, counterY, true],
    ];
    for (const [who, accountId, clientId, want] of table) expect({ who, clientId, may: await at(accountId, clientId) }).toEqual({ who, clientId, may: want });

    // A department's own staff list holds no sway over departmental counters.
    const listedOnly = await h.citizen();
    const listedId = (await h.yihao.services.accounts.findBySub(listedOnly.sub))!.id;
    await h.yihao.services.counterStaff.add(listedId);
    expect(await at(listedId, counterX)).toBe(false);
    // An installation counter (no department): national staff and the channel's list only.
    const installation = await h.client({ name: '安装级柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], allowedChannels: ['web', 'counter'] });
    expect(await at(staffN, installation.client_id)).toBe(true);
    expect(await at(listedId, installation.client_id)).toBe(true);
    expect(await at(staffX, installation.client_id)).toBe(false);
  });
});
