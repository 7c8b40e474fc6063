import { streamOutput } from './output.js';
import { EXIT, runCli } from './run-cli.js';

// stdout carries the result and nothing else. Libraries print notices there through console.log and
// console.info (knex's "Acquire connection error" with a stack, oidc-provider's notices); the CLI
// writes through `out`, and a failure is reported in its own single line on stderr.
for (const method of ['log', 'info', 'debug'] as const) console[method] = () => undefined;
// If the event loop ever drains before the command has finished, that is a failure, not a success.
process.exitCode = EXIT.unexpected;
const out = streamOutput(process.stdout, process.stderr);
const code = await runCli(process.argv.slice(2), { env: process.env, stdin: process.stdin, out });
await out.flush();
// Exit now: a lingering handle (a Redis reconnect, a pool) must not keep a script waiting.
process.exit(code);
