/**
 * OpenTelemetry traces are optional and off by default: the SDK is not a dependency, and is loaded
 * only when YIHAO_TRACING=otlp or an OTLP endpoint asks for it. Asked for without the packages, the
 * server refuses to start in one line that says what to install, rather than running untraced.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRACING_PACKAGES, tracingRequested } from '../../src/tracing/otlp-tracing.js';
import { freePort } from '../support/free-port.js';
import { buildCli } from '../support/yihao-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const installed = (() => {
  try {
    createRequire(join(root, 'package.json')).resolve('@opentelemetry/sdk-node');
    return true;
  } catch {
    return false;
  }
})();

let dir: string;
beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'yihao-tracing-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the built server; resolves with its exit and output, or with 'listening' once it answers (then stops it). */
async function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string; listening: boolean }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', YIHAO_DATA_DIR: dir, PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (up) {
      child.kill('SIGTERM');
      return { code: await exited, stderr, listening: true };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (child.exitCode === null) child.kill('SIGKILL');
  return { code: await exited, stderr, listening: false };
}

describe('OpenTelemetry tracing', () => {
  it('is asked for by YIHAO_TRACING=otlp or an OTLP endpoint, and YIHAO_TRACING=off wins', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ YIHAO_TRACING: 'otlp' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ YIHAO_TRACING: 'off', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(() => tracingRequested({ YIHAO_TRACING: 'zipkin' })).toThrow('configuration: YIHAO_TRACING must be "otlp" or "off", got "zipkin"');
  });

  it('is off by default: the server starts without the OpenTelemetry packages', async () => {
    const run = await start({});
    expect(run.listening).toBe(true);
    expect(run.code).toBe(0);
  });

  it.skipIf(installed)('asked for without its packages, stops the start in one line naming what to install (exit 2)', async () => {
    for (const env of [{ YIHAO_TRACING: 'otlp' }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }] as Record<string, string>[]) {
      const run = await start(env);
      expect(run.listening).toBe(false);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        `configuration: YIHAO_TRACING (or OTEL_EXPORTER_OTLP_ENDPOINT) asks for OpenTelemetry traces, but @opentelemetry/sdk-node is not installed: npm install ${TRACING_PACKAGES.join(' ')}\n`,
      );
    }
  });

  it('refuses a YIHAO_TRACING it does not know (exit 2), and starts untraced with YIHAO_TRACING=off', async () => {
    const bad = await start({ YIHAO_TRACING: 'jaeger' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('configuration: YIHAO_TRACING must be "otlp" or "off", got "jaeger"\n');
    const off = await start({ YIHAO_TRACING: 'off', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
    expect(off.listening).toBe(true);
  });
});
