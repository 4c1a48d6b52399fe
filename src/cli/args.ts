import { HerdError } from '../errors';

/** A parsed command line: the verb, its positionals, its flags, and what follows `--`. */
export interface ParsedArgs {
  command: string;
  positionals: string[];
  flags: Record<string, string | boolean>;
  rest: string[];
}

interface FlagSpec {
  /** Takes a value (`--name api`, `--name=api`). */
  value: boolean;
  alias?: string;
}

const FLAGS: Record<string, FlagSpec> = {
  name: { value: true },
  instances: { value: true, alias: 'i' },
  env: { value: true },
  only: { value: true },
  worker: { value: true },
  json: { value: false },
  'update-env': { value: false },
  lines: { value: true },
  follow: { value: false, alias: 'f' },
  err: { value: false },
  out: { value: false },
  grep: { value: true },
  since: { value: true },
  port: { value: true },
  host: { value: true },
  help: { value: false, alias: 'h' },
  version: { value: false, alias: 'v' },
};

const ALIASES: Record<string, string> = Object.fromEntries(
  Object.entries(FLAGS).filter(([, s]) => s.alias).map(([name, s]) => [s.alias as string, name]),
);

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | boolean> = {};
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      const body = arg.replace(/^--?/, '');
      const eq = body.indexOf('=');
      const rawName = eq === -1 ? body : body.slice(0, eq);
      const name = arg.startsWith('--') ? rawName : (ALIASES[rawName] ?? rawName);
      const spec = FLAGS[name];
      if (!spec) throw usage(`unknown option ${arg}`);
      if (!spec.value) {
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
  return { command, positionals, flags, rest };
}

export function usage(message: string): HerdError {
  return new HerdError('HERD_ERR_USAGE', { message }, ['run `herd --help` for usage']);
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}
