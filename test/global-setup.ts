import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds dist/ once, before any suite starts: several suites run the real `yihao` launcher, which
 * would otherwise compile on its first use in each of them, racing and eating their timeouts.
 * Type errors are the typecheck step's business; tsc still emits, and the CLI suites check the result.
 */
export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-if-needed.mjs')], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) console.warn(`the build before the tests reported problems:\n${build.stdout}${build.stderr}`);
}
