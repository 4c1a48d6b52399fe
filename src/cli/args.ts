import { HerdError } from '../errors';
import { closest } from '../util/closest';

/** A parsed command line: the verb, its positionals, its flags, and what follows `--`. */
export interface ParsedArgs {
  command: string;
  positionals: string[];
  flags: Partial<Record<FlagName, string | boolean>>;
  rest: string[];
  /** Whether the line had a `--` (even with nothing after it). */
  dashDash: boolean;
}

interface FlagSpec {
  /** Takes a value (`--name api`, `--name=api`). */
  value: boolean;
  alias?: string;
}

const FLAGS = {
  name: { value: true, alias: 'n' },
  instances: { value: true, alias: 'i' },
  env: { value: true },
  only: { value: true },
  worker: { value: true },
  json: { value: false },
  'update-env': { value: false, alias: 'a' },
  'node-args': { value: true },
  watch: { value: false },
  'max-memory-restart': { value: true },
  'exec-mode': { value: true },
  // PM2's -x: run in fork mode (it takes no value there either).
  'execute-command': { value: false, alias: 'x' },
  lines: { value: true },
  follow: { value: false, alias: 'f' },
  err: { value: false },
  out: { value: false },
  grep: { value: true },
  since: { value: true },
  port: { value: true },
  host: { value: true },
  // PM2's `pm2 startup -u user`.
  user: { value: true, alias: 'u' },
  print: { value: false },
  force: { value: false },
  // `herd fleet reload`
  batch: { value: true },
  drain: { value: false },
  'expect-revision': { value: true },
  settle: { value: true },
  timeout: { value: true },
  // herd lb
  backend: { value: true },
  socket: { value: true },
  sync: { value: false },
  once: { value: false },
  static: { value: true },
  'static-prefix': { value: true },
  // herd chaos
  every: { value: true },
  for: { value: true },
  kill: { value: true },
  signal: { value: true },
  seed: { value: true },
  connections: { value: true, alias: 'c' },
  baseline: { value: true },
  expect: { value: true },
  url: { value: true },
  'no-probe': { value: false },
  // herd profile
  duration: { value: true, alias: 'd' },
  // herd bench
  path: { value: true },
  rate: { value: true },
  report: { value: true },
  // herd heap
  diff: { value: true },
  help: { value: false, alias: 'h' },
  version: { value: false, alias: 'v' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;


/** Accepted by every command. */
const GLOBAL_FLAGS: readonly FlagName[] = ['help', 'version'];

const ALIASES: Record<string, FlagName> = Object.fromEntries(
  Object.entries(FLAGS as Record<FlagName, FlagSpec>).filter(([, s]) => s.alias).map(([name, s]) => [s.alias as string, name as FlagName]),
);

/**
 * Flags that take a value for one command and none for the others:
 * `herd profile --out DIR` and `herd heap --out FILE`, where `herd logs --out`
 * picks the stdout stream.
 */
const VALUE_FOR: Partial<Record<string, readonly FlagName[]>> = { profile: ['out'], heap: ['out'] };

function isFlag(name: string): name is FlagName {
  return Object.prototype.hasOwnProperty.call(FLAGS, name);
}

/** How a flag is written in messages: `--follow (-f)`. */
export function flagText(name: FlagName): string {
  const alias = (FLAGS[name] as FlagSpec).alias;
  return alias ? `--${name} (-${alias})` : `--${name}`;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags: ParsedArgs['flags'] = {};
  let rest: string[] = [];
  let dashDash = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest = argv.slice(i + 1);
      dashDash = true;
      break;
    }
    if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      const body = arg.replace(/^--?/, '');
      const eq = body.indexOf('=');
      const rawName = eq === -1 ? body : body.slice(0, eq);
      const name = arg.startsWith('--') ? rawName : (ALIASES[rawName] ?? rawName);
      if (!isFlag(name)) {
        const near = closest(rawName, Object.keys(FLAGS));
        throw usage(`unknown option ${arg}${near === null ? '' : ` (did you mean --${near}?)`}`);
      }
      // The command is the first positional, so a flag before it keeps its usual kind.
      if (!FLAGS[name].value && !(VALUE_FOR[positionals[0] ?? '']?.includes(name) ?? false)) {
        flags[name] = true;
        continue;
      }
      const value = eq !== -1 ? body.slice(eq + 1) : argv[++i];
      if (value === undefined) throw usage(`option ${arg} needs a value`);
      flags[name] = value;
      continue;
    }
    positionals.push(arg);
  }
  const command = positionals.shift() ?? '';
  return { command, positionals, flags, rest, dashDash };
}

/** What a command accepts beyond its positionals. */
export interface CommandFlags {
  flags: readonly FlagName[];
  /** Takes app arguments after `--`. */
  rest?: boolean;
}

/**
 * A flag the command does not act on is an error, never silently accepted:
 * `herd restart api --follow` must not print "restarted" as if it had done
 * something with it.
 */
export function checkFlags(args: ParsedArgs, accepts: CommandFlags): void {
  const given = Object.keys(args.flags) as FlagName[];
  const own = accepts.flags.filter((f) => !GLOBAL_FLAGS.includes(f));
  const takes = own.length === 0 ? `${args.command} takes no options` : `${args.command} takes ${own.map((f) => `--${f}`).join(', ')}`;
  for (const flag of given) {
    if (GLOBAL_FLAGS.includes(flag) || accepts.flags.includes(flag)) continue;
    throw usage(`${args.command} does not take ${flagText(flag)}; ${takes}`);
  }
  if (args.dashDash && accepts.rest !== true) {
    throw usage(`${args.command} takes no app arguments after --`);
  }
}

/** "unknown command" with the nearest known one, if the word looks like a typo of it. */
export function unknownCommand(command: string, known: Iterable<string>): HerdError {
  const near = closest(command, known);
  return usage(`unknown command "${command}"${near === null ? '' : ` (did you mean "${near}"?)`}`);
}

export function usage(message: string): HerdError {
  return new HerdError('HERD_ERR_USAGE', { message }, ['run `herd --help` for usage']);
}

export function stringFlag(args: ParsedArgs, name: FlagName): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}
