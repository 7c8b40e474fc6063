import { loadConfig } from '../config/index.js';
import type { SigningKeyInfo } from '../keys/index.js';
import { parseOptions } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { table } from './output.js';

const options = {
  json: { type: 'boolean' },
} as const;

const asJson = (k: SigningKeyInfo) => ({ kid: k.kid, alg: k.alg, status: k.status, created_at: k.createdAt, retired_at: k.retiredAt ?? null });

const duration = (seconds: number) =>
  seconds >= 86_400 ? `${Math.round(seconds / 86_400)} days` : seconds >= 3_600 ? `${Math.round(seconds / 3_600)} hours` : `${seconds} seconds`;

const keyTable = (keys: readonly SigningKeyInfo[]) =>
  table([['KID', 'ALG', 'STATUS', 'CREATED', 'RETIRED'], ...keys.map((k) => [k.kid, k.alg, k.status, k.createdAt, k.retiredAt ?? '-'])]);

export const keysListCommand: Command = {
  name: 'keys list',
  summary: 'List the token signing keys (active, and retired ones still published)',
  usage: `Usage: yihao keys list [--json]

Lists the signing keys in the JWKS: the active key of each algorithm (ES256, RS256),
which signs new tokens, and retired keys that still verify tokens signed before a
rotation. Creates the first keys if there are none yet, as the server does.

Options:
  --json    print {"keys": [{"kid", "alg", "status", "created_at", "retired_at"}]}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const config = loadConfig(env);
    const keys = await withYihao(config, (yihao) => yihao.signingKeys.list());
    out.result(opts.json, { keys: keys.map(asJson) }, keyTable(keys));
  },
};

export const keysRotateCommand: Command = {
  name: 'keys rotate',
  summary: 'Add new active signing keys and retire the current ones',
  usage: `Usage: yihao keys rotate [--json]

Adds a new active key for each algorithm and retires the current ones. Running servers
start signing with the new keys within keys.refreshSeconds; retired keys stay in the
JWKS, for verification only, for keys.retiredKeepSeconds.

Options:
  --json    print {"activated": [kid, ...], "keys": [...]} (the keys after rotation)`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const config = loadConfig(env);
    const { fresh, keys } = await withYihao(config, async (yihao) => {
      const before = (await yihao.signingKeys.list()).filter((k) => k.status === 'active').map((k) => k.kid);
      // Whoever runs the CLI on the server is the actor; the trail says the rotation came from there.
      const fresh = await yihao.signingKeys.rotate((trx, activated) =>
        yihao.services.audit.append({ action: 'keys.rotated', actorType: 'system', actorId: 'cli', details: { via: 'cli', before: { active: before }, after: { active: activated } } }, { trx }),
      );
      return { fresh, keys: await yihao.signingKeys.list() };
    });
    const activated = fresh.map((k) => k.kid);
    out.result(opts.json, { activated, keys: keys.map(asJson) }, [
      `Activated ${activated.join(', ')}.`,
      `Running servers sign with them within ${config.keys.refreshSeconds}s; the retired keys stay published for verification for ${duration(config.keys.retiredKeepSeconds)}.`,
      '',
      ...keyTable(keys),
    ]);
  },
};
