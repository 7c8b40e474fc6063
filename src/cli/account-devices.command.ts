import { loadConfig } from '../config/index.js';
import { parseOptions } from './args.js';
import { target } from './account-status.command.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { revokeAllDeviceKeys } from '../channels/mobile/revoke-device-keys.js';

const options = { 'citizen-id': { type: 'string' }, sub: { type: 'string' }, json: { type: 'boolean' } } as const;

/**
 * `yihao account revoke-devices`: the way out for a citizen whose only second factor was a phone
 * that is lost. Online, removing its key needs a loa:2 sign-in that only that phone gives; at a
 * counter, staff who checked the citizen's ID card ask an operator to run this.
 */
export const accountRevokeDevicesCommand: Command = {
  name: 'account revoke-devices',
  summary: "Revoke every device key of a citizen's government app (a lost phone), ending what they let in (audited)",
  usage: `Usage: yihao account revoke-devices (--citizen-id ID | --sub SUB) [--json]

Revokes every device key the account's phones hold in the government app, and ends what each let
in on every instance: the app's logins made with it (offline ones too) and the browser sessions its
QR approvals signed in, with back-channel logout to their apps. Then the account is signed out
everywhere and its wallet credentials and pending offers are revoked: the app's own sign-in and the
wallet on that phone would outlive the keys, and which sessions and wallets were on it cannot be
told. For a citizen who lost the phone that was their only second factor, after checking who they
are (in person: the ID card). They sign in again, set the app up on a new phone and ask for their
credentials again. Audited as the system (credential.removed, type device; session.ended and
vc.revoked_with_account, reason lost_phone).
Exit code 3 when no account matches.

Options:
  --citizen-id ID     the account's 18-character ID number (never printed in full)
  --sub SUB           or the account's sub
  --json              print {"sub", "revoked"}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const by = target(this.name, opts);
    const config = loadConfig(env);
    const result = await withYihao(config, async (yihao) => {
      const account = await yihao.admin.services.accounts.system.find(by);
      const revoked = await revokeAllDeviceKeys({ deviceKeys: yihao.channels.deviceKeys, signOut: yihao.signOut, audit: yihao.services.audit, credentials: yihao.credentials }, account, { actorType: 'system', actorId: 'cli', via: 'cli' });
      return { sub: account.sub, revoked };
    });
    out.result(opts.json, result, [`sub: ${result.sub}`, `device keys revoked: ${result.revoked}`]);
  },
};
