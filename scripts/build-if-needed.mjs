// `npm start` and `npx yihao` must work on a fresh clone and after a pull without a separate
// build step. Compiling is skipped when every source is older than the last build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Written after each successful build; tsc itself leaves its outputs alone when nothing changed.
const stamp = join(root, 'dist', '.build-stamp');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export function buildIfNeeded({ quiet = false } = {}) {
  const sources = ['src', 'migrations', 'bench', 'examples'].map((d) => join(root, d)).filter(existsSync);
  const configs = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((f) => statSync(join(root, f)).mtimeMs);
  if (existsSync(stamp)) {
    const built = statSync(stamp).mtimeMs;
    if (Math.max(...sources.map(newestSource), ...configs) < built) return 0;
  }
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', cwd: root });
  if (r.status === 0) writeFileSync(stamp, `${new Date().toISOString()}\n`);
  return r.status ?? 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(buildIfNeeded());
