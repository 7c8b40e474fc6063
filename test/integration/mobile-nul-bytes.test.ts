/**
 * A NUL byte in the government app's API input is a 4xx, as for device key ids (found by a review;
 * each failed before on PostgreSQL, which refuses NUL in text, with a 500): an approval id or a
 * scanned code that no approval can have is looked up nowhere, and a device key's name with control
 * or bidirectional characters is refused (SQLite had stored the NUL, shown later in the portal).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { MobileApp, phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('mobile API inputs with a NUL ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string };
  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    app = await registerMobileApp(h);
  });
  afterAll(async () => h?.close());

  it.skipIf(!enabled)('POST /mobile/approvals/%00 answers 404, not 500', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    expect((await phone.decide('%00', 'approve')).status).toBe(404);
  });

  it.skipIf(!enabled)('POST /mobile/approvals/scan {code:"a\\u0000b"} answers 410, not 500', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    expect((await phone.call('POST', '/mobile/approvals/scan', { code: 'a\u0000b' })).status).toBe(410);
  });

  it.skipIf(!enabled)('POST /mobile/device-keys {name:"a\\u0000b"} answers 4xx, not 500', async () => {
    const phone = await MobileApp.create(h, app);
    await phone.signInWithBrowser(await h.citizen());
    const enrol = (name: string) => phone.call('POST', '/mobile/device-keys', { jwk: phone.deviceJwk, name }, { signWith: { privateKey: phone.deviceKeys.privateKey, kid: '' } });
    expect((await enrol('a\u0000b')).status).toBe(400);
    expect((await enrol('iPhone \u202Eenohp')).status).toBe(400);
    expect((await enrol('我的手机')).status).toBe(201);
  });
});
