import { parseArgs, type ParseArgsConfig } from 'node:util';
import { YihaoError } from '../errors.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Bad command-line input: one of the expected failures, so it exits with code 2. */
export const usageError = (command: string, problem: string): YihaoError =>
  new YihaoError('invalid_input', `${problem} (see 'yihao ${command} --help')`);

const parse = <O extends OptionsConfig>(args: string[], options: O) =>
  parseArgs({ args, options, strict: true, allowPositionals: false, tokens: true });

/**
 * Parses a command's options strictly: unknown options, stray arguments and a single-valued option
 * given twice are refused. Messages never echo an argument's value (it may be a citizen ID number).
 */
export function parseOptions<O extends OptionsConfig>(command: string, args: string[], options: O): ReturnType<typeof parse<O>>['values'] {
  let parsed: ReturnType<typeof parse<O>>;
  try {
    parsed = parse(joinDashedValues(args, options), options);
  } catch (e) {
    throw usageError(command, parseProblem(e));
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || options[token.name]?.multiple) continue;
    if (seen.has(token.name)) throw usageError(command, `--${token.name} is given more than once`);
    seen.add(token.name);
  }
  return parsed.values;
}

/**
 * Node refuses `--sub -Xb3kQ` as ambiguous, yet an account's sub is base64url and one in 64 begins
 * with a dash. A word after a string option is its value unless it is one of the command's own
 * options (then the value is missing, as Node says).
 */
function joinDashedValues(args: readonly string[], options: OptionsConfig): string[] {
  const shorts = new Set(Object.values(options).flatMap((o) => (o.short ? [o.short] : [])));
  const isOwnOption = (word: string): boolean =>
    word === '--' || (word.startsWith('--') ? Object.hasOwn(options, word.slice(2).split('=')[0]!) : shorts.has(word.slice(1, 2)));
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    const next = args[i + 1];
    if (word === '--') return [...joined, ...args.slice(i)];
    const name = word.startsWith('--') && !word.includes('=') ? word.slice(2) : undefined;
    if (name !== undefined && Object.hasOwn(options, name) && options[name]!.type === 'string' && next?.startsWith('-') && !isOwnOption(next)) {
      joined.push(`${word}=${next}`);
      i++;
    } else {
      joined.push(word);
    }
  }
  return joined;
}

function parseProblem(e: unknown): string {
  const { code, message } = e as { code?: string; message?: string };
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      // Node quotes what was typed: never a value given with '=', but one typed with no space runs
      // into the option ("--citizen-id1101…", an ID number), so only the option's letters are repeated.
      const typed = /'([^']*)'/.exec(message ?? '')?.[1] ?? '';
      const name = /^--?[A-Za-z][A-Za-z-]*/.exec(typed)?.[0];
      if (name === typed) return `unknown option ${name}`;
      return `unknown option ${name ? `${name}…` : 'starting with a dash'}: a value follows its option after a space or '='`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return 'unexpected argument: every value follows its option, as in --name "Tax office"';
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      // "Option '--name <value>' argument missing", "Option '--json' does not take an argument".
      return (message ?? 'invalid option value').split('\n')[0]!.replace(/^Option/, 'option');
    default:
      throw e;
  }
}

/**
 * The ID a command takes before its options (`yihao credential revoke ID ...`), and the rest. A
 * random base64url id can begin with a dash, so only one of the command's own options (or `--help`,
 * `-h`, `--`) means the ID is missing.
 */
export function leadingArgument(command: string, args: readonly string[], options: OptionsConfig, what: string): [string, string[]] {
  const [first, ...rest] = args;
  const name = first?.startsWith('--') ? first.slice(2).split('=')[0]! : undefined;
  const isOption = first === '--' || first === '-h' || name === 'help' || (name !== undefined && Object.hasOwn(options, name));
  if (first === undefined || isOption) throw usageError(command, `the ${what} is required`);
  return [first, rest];
}

/** The value of a required option, or a usage error that names it. */
export function required<T>(command: string, value: T | undefined, option: string): T {
  if (value === undefined) throw usageError(command, `${option} is required`);
  return value;
}

/** Whether the arguments ask for help rather than for the command itself. */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}
