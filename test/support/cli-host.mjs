// The test suites' CLI host: one long-lived process that runs `yihao` command lines one after another
// through the compiled CLI's own `runCli` (dist/src/cli/run-cli.js), each with the environment, stdin
// and output the request names. A spawned `yihao` spends about a second loading modules before it
// does anything; the CLI suites run hundreds of command lines, so they share one process per suite
// file. What only a real process shows (the launcher, building dist/, flushing and exiting) stays in
// cli.test.ts, which spawns `bin/yihao.js` for every run. Unlike a process of its own, the host does
// not end a command that never finishes: the caller's time limit does (test/support/yihao-cli.ts).
import { Readable, Writable } from 'node:stream';

const root = new URL('../../', import.meta.url);
// As src/cli/main.ts does: libraries' notices on console.log must not reach a command's stdout.
for (const method of ['log', 'info', 'debug']) console[method] = () => undefined;
const { runCli } = await import(new URL('dist/src/cli/run-cli.js', root).href);
const { streamOutput } = await import(new URL('dist/src/cli/output.js', root).href);

/** A stream that appends what is written to it to `text.value`. */
const collector = (text) =>
  new Writable({
    write(chunk, _encoding, done) {
      text.value += chunk.toString();
      done();
    },
  });

/**
 * While a command runs, whatever else reaches the process's stdout or stderr (a library's
 * console.warn, a Node warning, a direct write) is part of that command's output, as it would be
 * in a process of its own: a test that expects a clean stderr or pure JSON on stdout sees it.
 */
function capture(stdout, stderr) {
  const writes = [process.stdout.write, process.stderr.write];
  const into = (text) => (chunk, encoding, done) => {
    text.value += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    const callback = typeof encoding === 'function' ? encoding : done;
    if (callback) process.nextTick(callback);
    return true;
  };
  process.stdout.write = into(stdout);
  process.stderr.write = into(stderr);
  return () => ([process.stdout.write, process.stderr.write] = writes);
}

// The suite's worker is gone: so is the host.
process.on('disconnect', () => process.exit(0));
process.on('message', async ({ id, args, env, input }) => {
  const stdout = { value: '' };
  const stderr = { value: '' };
  const out = streamOutput(collector(stdout), collector(stderr));
  const stdin = Readable.from(input ? [Buffer.from(input)] : []);
  const release = capture(stdout, stderr);
  let code;
  try {
    code = await runCli(args, { env, stdin, out });
    await out.flush();
  } finally {
    release();
  }
  process.send({ id, code, stdout: stdout.value, stderr: stderr.value });
});
process.send({ ready: true });
