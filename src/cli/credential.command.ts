import { loadConfig } from '../config/index.js';
import { YihaoError } from '../errors.js';
// The store module alone: the credentials index loads the issuer's libraries, which a listing needs not.
import { credentialView } from '../credentials/credential-store.js';
import type { SigningKeyInfo, SigningKeys } from '../keys/index.js';
import { leadingArgument, parseOptions, usageError } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { table } from './output.js';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());


export const credentialRevokeCommand: Command = {
  name: 'credential revoke',
  summary: 'Revoke an issued verifiable credential (its status list entry turns invalid)',
  usage: `Usage: yihao credential revoke ID [--reason TEXT] [--json]

Marks the credential ID invalid in its Token Status List, with an audit event (vc.revoked).
Verifiers see it at their next fetch of the list: within the list's ttl
(credentials.statusListTtlSeconds). 'yihao credential list --sub SUB' lists an account's
credentials and their ids.

Options:
  --reason TEXT  why (1-200 characters; kept in the audit event)
  --json         print the credential as {"id", "type", "status", ...}

Exit codes: 0 revoked; 2 bad input, no such credential, or already revoked.`,

  async run(args, { env, out }) {
    const options = { reason: { type: 'string' }, json: { type: 'boolean' } } as const;
    const [id, rest] = leadingArgument(this.name, args, options, 'credential ID');
    const opts = parseOptions(this.name, rest, options);
    const config = loadConfig(env);
    const revoked = await withYihao(config, (yihao) => yihao.credentials.revocation.revoke(id, { type: 'system', id: 'cli' }, opts.reason));
    out.result(opts.json, credentialView(revoked), [`revoked ${revoked.id} (${revoked.type}); verifiers see it within ${config.credentials.statusListTtlSeconds}s`]);
  },
};

export const credentialListCommand: Command = {
  name: 'credential list',
  summary: "List an account's issued verifiable credentials",
  usage: `Usage: yihao credential list --sub SUB [--json]

Lists the credentials issued to the account whose public sub is SUB, newest first: what was
issued and when, never the claims (those stay in the wallet).

Options:
  --sub SUB  the account's public sub
  --json     print {"credentials": [{"id", "type", "client_id", "status", ...}]}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, { sub: { type: 'string' }, json: { type: 'boolean' } } as const);
    if (!opts.sub) throw usageError(this.name, '--sub is required');
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(opts.sub)) throw usageError(this.name, '--sub is a public sub (base64url)');
    const sub = opts.sub;
    const config = loadConfig(env);
    const list = await withYihao(config, async (yihao) => {
      const account = await yihao.accounts.findBySub(sub);
      if (!account) throw new YihaoError('not_found', 'no account with that sub', 404);
      return yihao.credentials.store.listByAccount(account.id);
    });
    out.result(opts.json, { credentials: list.map(credentialView) }, table([['ID', 'TYPE', 'STATUS', 'ISSUED', 'EXPIRES'], ...list.map((c) => [c.id, c.type, c.status, iso(c.issuedAt)!, iso(c.expiresAt)!])]));
  },
};

const keyJson = (k: SigningKeyInfo) => ({ kid: k.kid, alg: k.alg, status: k.status, created_at: k.createdAt, retired_at: k.retiredAt ?? null });
const keyTable = (keys: readonly SigningKeyInfo[]) => table([['KID', 'ALG', 'STATUS', 'CREATED', 'RETIRED'], ...keys.map((k) => [k.kid, k.alg, k.status, k.createdAt, k.retiredAt ?? '-'])]);

/** `--verifier`: the OID4VP verifier's keys (they sign presentation requests) instead of the issuer's. */
const keyOptions = { verifier: { type: 'boolean' }, json: { type: 'boolean' } } as const;
type KeySetOf = (yihao: Parameters<Parameters<typeof withYihao>[1]>[0]) => Pick<SigningKeys, 'list' | 'rotate'>;
const keySet = (verifier: boolean | undefined): KeySetOf => (verifier ? (yihao) => yihao.credentials.verifier.keys : (yihao) => yihao.credentials.keys);

export const credentialKeysCommand: Command = {
  name: 'credential keys',
  summary: 'List the credential issuer keys, or with --verifier the verifier keys (active, and retired ones still published)',
  usage: `Usage: yihao credential keys [--verifier] [--json]

Lists the keys that sign credentials and status lists, as published at
/.well-known/jwt-vc-issuer: the active key, and retired keys that still verify what was
signed before a rotation. They are apart from the token signing keys ('yihao keys list').
With --verifier: the keys that sign the verifier's presentation requests, as published at
/presentations/verifier.

Options:
  --verifier  the OID4VP verifier's keys
  --json      print {"keys": [{"kid", "alg", "status", "created_at", "retired_at"}]}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, keyOptions);
    const keys = await withYihao(loadConfig(env), (yihao) => keySet(opts.verifier)(yihao).list());
    out.result(opts.json, { keys: keys.map(keyJson) }, keyTable(keys));
  },
};

export const credentialRotateKeyCommand: Command = {
  name: 'credential rotate-key',
  summary: 'Add a new credential issuer (or, with --verifier, verifier) key and retire the current one',
  usage: `Usage: yihao credential rotate-key [--verifier] [--json]

Adds a new active credential issuer key and retires the current one. Running servers sign
new credentials and status lists with it within keys.refreshSeconds; the retired key stays
published for verification as long as a credential it signed can be valid (the longer of
credentials.validitySeconds and keys.retiredKeepSeconds).

With --verifier: the same for the key that signs the verifier's presentation requests. Running
servers sign new requests with it within keys.refreshSeconds; the retired key stays published
at /presentations/verifier for keys.retiredKeepSeconds, so a request shown just before the
rotation still verifies in the wallet.

Options:
  --verifier  rotate the OID4VP verifier's key
  --json      print {"activated": [kid], "keys": [...]}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, keyOptions);
    const config = loadConfig(env);
    const action = opts.verifier ? 'vc.verifier_key_rotated' : 'vc.issuer_key_rotated';
    const { fresh, keys } = await withYihao(config, async (yihao) => {
      const set = keySet(opts.verifier)(yihao);
      const before = (await set.list()).filter((k) => k.status === 'active').map((k) => k.kid);
      const fresh = await set.rotate((trx, activated) =>
        yihao.services.audit.append({ action, actorType: 'system', actorId: 'cli', details: { via: 'cli', before: { active: before }, after: { active: activated } } }, { trx }),
      );
      return { fresh, keys: await set.list() };
    });
    const activated = fresh.map((k) => k.kid);
    out.result(opts.json, { activated, keys: keys.map(keyJson) }, [`Activated ${activated.join(', ')}.`, '', ...keyTable(keys)]);
  },
};
