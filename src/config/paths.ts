import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root, whether we run from `src/` (tests) or from `dist/src/` (npm start). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'yihao') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the yihao package root');
    dir = up;
  }
}

export const projectRoot = findRoot();
