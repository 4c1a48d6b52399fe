import { HerdClient } from '../client/client';
import { HerdError } from '../errors';
import type { LogLine, Stream } from '../logs/format';
import { appsWithLogs, readHistory } from '../logs/history';
import { removeLogFiles } from '../logs/remove';
import { parseDuration } from '../util/units';
import { herdPaths } from '../util/paths';
import { stringFlag, usage, type ParsedArgs } from './args';
import { EXIT, printError, printJson } from './output';

const DEFAULT_LINES = 15;
const PALETTE = ['36', '32', '35', '34', '33', '96', '92', '95'];

interface Options {
  app: string | null;
  streams: Stream[];
  lines: number | null;
  since: number | null;
  grep: RegExp | null;
  json: boolean;
  follow: boolean;
}

function options(args: ParsedArgs): Options {
  const [app, extra] = args.positionals;
  if (extra !== undefined) throw usage(`logs: unexpected argument "${extra}"`);
  const linesFlag = stringFlag(args, 'lines');
  let lines: number | null = DEFAULT_LINES;
  if (linesFlag !== undefined) {
    if (!/^\d+$/.test(linesFlag)) throw usage(`--lines: expected a number of lines; got "${linesFlag}"`);
    lines = Number(linesFlag);
  }
  const sinceFlag = stringFlag(args, 'since');
  let since: number | null = null;
  if (sinceFlag !== undefined) {
    const ago = parseDuration(sinceFlag);
    const at = Date.parse(sinceFlag);
    if (ago !== null) since = Date.now() - ago;
    else if (!Number.isNaN(at)) since = at;
    else throw usage(`--since: expected a duration like '10m' or a date; got "${sinceFlag}"`);
    // --since without --lines means everything since then.
    if (linesFlag === undefined) lines = null;
  }
  const grepFlag = stringFlag(args, 'grep');
  let grep: RegExp | null = null;
  if (grepFlag !== undefined) {
    try {
      grep = new RegExp(grepFlag);
    } catch (err) {
      throw usage(`--grep: not a regular expression: ${(err as Error).message}`);
    }
  }
  if (args.flags.err === true && args.flags.out === true) throw usage('logs: --err and --out exclude each other');
  const streams: Stream[] = args.flags.err === true ? ['err'] : args.flags.out === true ? ['out'] : ['out', 'err', 'access'];
  return { app: app === undefined || app === 'all' ? null : app, streams, lines, since, grep, json: args.flags.json === true, follow: args.flags.follow === true };
}

function printer(json: boolean): (line: LogLine) => void {
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR && !json;
  const colors = new Map<string, string>();
  return (line) => {
    if (json) {
      process.stdout.write(`${JSON.stringify({ time: new Date(line.time).toISOString(), app: line.app, worker: line.worker, stream: line.stream, msg: line.msg })}\n`);
      return;
    }
    const mark = line.stream === 'err' ? '!' : line.stream === 'access' ? '>' : '';
    let prefix = `${line.app}[${line.worker}]${mark}`;
    if (color) {
      let c = colors.get(line.app);
      if (c === undefined) {
        c = PALETTE[colors.size % PALETTE.length] as string;
        colors.set(line.app, c);
      }
      prefix = `\u001b[90m${new Date(line.time).toISOString()}\u001b[0m \u001b[${line.stream === 'err' ? '31' : c}m${prefix}\u001b[0m`;
    } else {
      prefix = `${new Date(line.time).toISOString()} ${prefix}`;
    }
    process.stdout.write(`${prefix} ${line.msg}\n`);
  };
}

/**
 * `herd logs`: history from the files (no daemon needed), then with --follow
 * new lines streamed by the daemon, which sees them before they reach the
 * disk and across rotations.
 */
export async function logsCommand(args: ParsedArgs): Promise<number> {
  const o = options(args);
  const dir = herdPaths().logs;
  const match = (l: LogLine) => o.grep === null || o.grep.test(l.msg);
  const print = printer(o.json);
  const running = await HerdClient.isRunning();

  if (o.app !== null && !appsWithLogs(dir).includes(o.app)) {
    const known = running ? (await withClient((c) => c.request({ type: 'list' }))).some((a) => a.name === o.app) : false;
    if (!known) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name: o.app }, [`no log files for it in ${dir}`]);
  }
  const history = () => readHistory(dir, { app: o.app, streams: o.streams, since: o.since, match, limit: o.lines });

  if (!o.follow) {
    for (const line of history()) print(line);
    return EXIT.ok;
  }
  if (!running) throw new HerdError('HERD_ERR_DAEMON_UNREACHABLE', { socket: herdPaths().socket, reason: 'no daemon is running, so there is nothing to follow' }, ['without --follow, herd logs reads the files']);
  return follow(o, history, match, print);
}

async function follow(o: Options, history: () => LogLine[], match: (l: LogLine) => boolean, print: (l: LogLine) => void): Promise<number> {
  const client = await HerdClient.connect();
  // `herd logs --follow | head`: once the reader is gone there is nothing to follow for.
  process.stdout.once('error', () => process.exit(EXIT.ok));
  // Lines streamed before the history is printed wait here; those the history
  // already holds (written between subscribing and reading) are skipped.
  let pending: LogLine[] | null = [];
  let subscribedAt = 0;
  const subscribed = new Promise<void>((resolve) => {
    const done = client.request({ type: 'logs', name: o.app, streams: o.streams }, () => {
      subscribedAt = Date.now() - 1;
      resolve();
    }, (line) => {
      if (!match(line)) return;
      if (pending) pending.push(line);
      else print(line);
    });
    done.then(() => process.exit(EXIT.ok), (err: unknown) => {
      // The daemon went away: nothing more to follow.
      if (err instanceof HerdError && err.code === 'HERD_ERR_DAEMON_UNREACHABLE') process.exit(EXIT.ok);
      printError(err, o.json);
      process.exit(EXIT.failed);
    });
  });
  await subscribed;
  const past = history();
  const seen = new Map<string, number>();
  for (const l of past) {
    print(l);
    if (l.time >= subscribedAt) seen.set(lineKey(l), (seen.get(lineKey(l)) ?? 0) + 1);
  }
  for (const l of pending ?? []) {
    const n = seen.get(lineKey(l)) ?? 0;
    if (n > 0) seen.set(lineKey(l), n - 1);
    else print(l);
  }
  pending = null;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  client.close();
  return EXIT.ok;
}

function lineKey(l: LogLine): string {
  return `${l.time}\0${l.app}\0${l.worker}\0${l.stream}\0${l.msg}`;
}

async function withClient<T>(fn: (client: HerdClient) => Promise<T>): Promise<T> {
  const client = await HerdClient.connect();
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** `herd flush [name]`: through the daemon when one runs (it has the files open), else directly. */
export async function flushCommand(args: ParsedArgs): Promise<number> {
  const [name, extra] = args.positionals;
  if (extra !== undefined) throw usage(`flush: unexpected argument "${extra}"`);
  const target = name ?? 'all';
  let names: string[];
  if (await HerdClient.isRunning()) {
    names = (await withClient((c) => c.request({ type: 'flush', target }))).names;
  } else {
    names = await removeLogFiles(herdPaths().logs, target === 'all' ? null : target);
  }
  if (args.flags.json === true) printJson({ names });
  else process.stdout.write(names.length > 0 ? `flushed ${names.join(', ')}\n` : 'no logs\n');
  return EXIT.ok;
}
