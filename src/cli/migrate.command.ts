import { join } from 'node:path';
import { loadConfig, type Config } from '../config/index.js';
import { parseOptions } from './args.js';
import type { Command } from './command.js';

const options = {
  json: { type: 'boolean' },
} as const;

/** Where the data lives, without credentials: a DATABASE_URL may carry a password. */
function describeDatabase(config: Config): { kind: 'sqlite' | 'postgresql'; where: string } {
  if (!config.databaseUrl) return { kind: 'sqlite', where: join(config.dataDir, 'yihao.sqlite') };
  const url = new URL(config.databaseUrl);
  return { kind: 'postgresql', where: `${url.host}${url.pathname}` };
}

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Apply pending database migrations',
  usage: `Usage: yihao migrate [--json]

Applies the pending database migrations and lists them. The server and the other
commands migrate on start as well; run this one to upgrade a schema on purpose.

Options:
  --json    print {"applied": [...], "database": "sqlite" | "postgresql"}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const config = loadConfig(env);
    const { migrate, openDatabase } = await import('../storage/database.js');
    const db = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
    let applied: string[];
    try {
      applied = await migrate(db);
    } finally {
      await db.destroy();
    }
    const database = describeDatabase(config);
    const text =
      applied.length === 0
        ? [`The schema is current (${database.kind}: ${database.where}); nothing to apply.`]
        : [`Applied ${applied.length} migration${applied.length === 1 ? '' : 's'} (${database.kind}: ${database.where}):`, ...applied.map((name) => `  ${name}`)];
    out.result(opts.json, { applied, database: database.kind }, text);
  },
};
