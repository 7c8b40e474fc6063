import type { Output } from './output.js';

export interface CommandContext {
  /** The environment, read once here as the server reads it (DATABASE_URL, REDIS_URL, YIHAO_*). */
  env: Record<string, string | undefined>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  out: Output;
}

export interface Command {
  /** The words that select it: 'client create'. */
  readonly name: string;
  /** One line for `yihao --help`. */
  readonly summary: string;
  /** The full text for `yihao <name> --help`. */
  readonly usage: string;
  run(args: string[], ctx: CommandContext): Promise<void>;
}
