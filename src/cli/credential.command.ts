import { loadConfig } from '../config/index.js';
import { YihaoError } from '../errors.js';
// The store module alone: the credentials index loads the issuer's libraries, which a listing needs not.
import { credentialView } from '../credentials/credential-store.js';
import type { SigningKeys } from '../keys/index.js';
import { leadingArgument, parseOptions, usageError } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { table } from './output.js';
import { rotationLines, signingKeyJson, signingKeyTable } from './signing-key-view.js';

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

/** `--verifier`: the OID4VP verifier's keys (they sign presentation requests) instead of the issuer's. */
const keyOptions = { verifier: { type: 'boolean' }, json: { type: 'boolean' } } as const;
const rotateOptions = { ...keyOptions, now: { type: 'boolean' } } as const;
type KeySetOf = (yihao: Parameters<Parameters<typeof withYihao>[1]>[0]) => Pick<SigningKeys, 'list' | 'rotate'>;
const keySet = (verifier: boolean | undefined): KeySetOf => (verifier ? (yihao) => yihao.credentials.verifier.keys : (yihao) => yihao.credentials.keys);

export const credentialKeysCommand: Command = {
  name: 'credential keys',
  summary: 'List the credential issuer keys, or with --verifier the verifier keys (active, next, and retired ones still published)',
  usage: `Usage: yihao credential keys [--verifier] [--json]

Lists the keys that sign credentials and status lists, as published at
/.well-known/jwt-vc-issuer: the active key, a rotation's next key (published, signing from
its signs_from), and retired keys that still verify what was signed before a rotation. They are apart from the token signing keys ('yihao keys list').
With --verifier: the keys that sign the verifier's presentation requests, as published at
/presentations/verifier.

Options:
  --verifier  the OID4VP verifier's keys
  --json      print {"keys": [{"kid", "alg", "status", "created_at", "retired_at", "signs_from"}]}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, keyOptions);
    const keys = await withYihao(loadConfig(env), (yihao) => keySet(opts.verifier)(yihao).list());
    out.result(opts.json, { keys: keys.map(signingKeyJson) }, signingKeyTable(keys));
  },
};

export const credentialRotateKeyCommand: Command = {
  name: 'credential rotate-key',
  summary: 'Add a new credential issuer (or, with --verifier, verifier) key and retire the current one',
  usage: `Usage: yihao credential rotate-key [--verifier] [--now] [--json]

Adds a new credential issuer key and retires the current one, as \`yihao keys rotate\` does the
token signing keys: every instance publishes the new key at /.well-known/jwt-vc-issuer within
keys.refreshSeconds, and it signs credentials and status lists from keys.publishSeconds after
the rotation (2 × refreshSeconds + 30 unless set); the current key signs until then, so a
wallet or verifier never sees a credential signed with a key the issuer does not publish yet.
The retired key stays published for verification as long as a credential it signed can be
valid (the longer of credentials.validitySeconds and keys.retiredKeepSeconds).

With --verifier: the same for the key that signs the verifier's presentation requests,
published at /presentations/verifier; the retired key stays published for
keys.retiredKeepSeconds, so a request shown just before the rotation still verifies.

Options:
  --verifier  rotate the OID4VP verifier's key
  --now       retire the current key at once (a key that must stop signing now): running
              servers sign with the new key within keys.refreshSeconds, and where several
              serve, a wallet may fail to verify what they sign for about that long
  --json      print {"activated": [kid], "signs_from": ISO time, "keys": [...]}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, rotateOptions);
    const config = loadConfig(env);
    const action = opts.verifier ? 'vc.verifier_key_rotated' : 'vc.issuer_key_rotated';
    const { fresh, keys } = await withYihao(config, async (yihao) => {
      const set = keySet(opts.verifier)(yihao);
      const before = (await set.list()).filter((k) => k.status === 'active').map((k) => k.kid);
      const fresh = await set.rotate(
        (trx, activated) =>
          yihao.services.audit.append(
            { action, actorType: 'system', actorId: 'cli', details: { via: 'cli', ...(opts.now ? { immediate: true } : {}), before: { active: before }, after: { active: activated } } },
            { trx },
          ),
        { immediate: opts.now === true },
      );
      return { fresh, keys: await set.list() };
    });
    const kept = opts.verifier ? config.keys.retiredKeepSeconds : Math.max(config.keys.retiredKeepSeconds, config.credentials.validitySeconds);
    const { signsFrom, lines } = rotationLines(fresh, config.keys.refreshSeconds, kept);
    out.result(opts.json, { activated: fresh.map((k) => k.kid), signs_from: signsFrom ?? null, keys: keys.map(signingKeyJson) }, [...lines, '', ...signingKeyTable(keys)]);
  },
};

