/**
 * The admin `counter-staff` role is what the counter channel's assisted login asks about: an account
 * holding it (in any department) may attest an in-person check; once the role is revoked, it may not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { operator } from '../support/admin-operators.js';
import { startHarness, type Harness } from '../support/harness.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import type { CreatedClient } from '../../src/clients/index.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

describe('counter-staff role and assisted counter login', () => {
  let h: Harness;
  let counter: oidc.Configuration;
  let counterClient: CreatedClient;

  beforeAll(async () => {
    h = await startHarness();
    const client = await h.client({
      name: '政务服务中心柜台',
      grantTypes: ['authorization_code', TOKEN_EXCHANGE as never],
      redirectUris: [REDIRECT],
      scope: 'openid profile',
      allowedChannels: ['web', 'counter'],
      firstParty: true,
    });
    counter = await relyingParty(h, client);
    counterClient = client;
  });
  afterAll(async () => h?.close());

  // Staff attest identities only from a loa:2 sign-in.
  const signedIn = async (who: { citizenId: string; password: string }) => (await staffSignIn(h, counter, who)).access_token;
  const exchange = (actorToken: string, citizenId: string) =>
    oidc.genericGrantRequest(counter, TOKEN_EXCHANGE, {
      subject_token: citizenId,
      subject_token_type: 'urn:yihao:token-type:citizen-id',
      actor_token: actorToken,
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      document_check: 'in_person',
      scope: 'openid profile',
    });

  it('lets a holder of the role (granted by a super-admin) assist at the counter, and stops once a department admin revokes it', async () => {
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    const province = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    // The counter system belongs to the province: its counter staff may assist there.
    await counterClientOf(h, counterClient, '浙江省政务服务中心', province.id);
    // Counter staff attest identities: the role is a super-admin's to grant (a dept-admin may take it away).
    const superAdmin = await operator(h, [{ role: 'super-admin', departmentId: province.id }]);
    const admin = await operator(h, [{ role: 'dept-admin', departmentId: province.id }]);
    const staff = await h.citizen({ name: '李柜员' });
    expect((await admin.api('POST', '/role-assignments', { sub: staff.sub, role: 'counter-staff', department_id: province.id })).status).toBe(403);
    const granted = await superAdmin.api('POST', '/role-assignments', { sub: staff.sub, role: 'counter-staff', department_id: province.id });
    expect(granted.status).toBe(201);

    const token = await signedIn(staff);
    const citizen = await h.citizen({ name: '王大爷' });
    const claims = (await exchange(token, citizen.citizenId)).claims()!;
    expect(claims).toMatchObject({ sub: citizen.sub, channel: 'counter', act: { sub: staff.sub } });

    expect((await admin.api('DELETE', `/role-assignments/${granted.body.id}`)).status).toBe(204);
    await expect(exchange(token, citizen.citizenId)).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'the actor is not counter staff' });
  });
});
