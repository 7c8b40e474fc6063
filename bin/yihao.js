#!/usr/bin/env node
// Thin launcher: (re)builds from a checkout when the sources are newer, then runs the compiled CLI.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const builder = join(root, 'scripts', 'build-if-needed.mjs');
// An installed package ships dist/ without the build script; a checkout has both.
if (existsSync(builder) && existsSync(join(root, 'src'))) {
  const { buildIfNeeded } = await import(pathToFileURL(builder).href);
  const status = buildIfNeeded({ quiet: true });
  if (status !== 0) process.exit(status);
}
await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href);
