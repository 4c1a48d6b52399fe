import { HerdClient } from '../client/client';
import { HerdError } from '../errors';
import type { AlertsView, AppDetail } from '../protocol/control';
import { stringFlag, usage, type ParsedArgs } from './args';
import { alertsText, describeText, listTable } from './format';
import { metricsText } from './metricsText';
import { runMonit } from './monit';
import { EXIT, printJson, printWarnings } from './output';
import { flushCommand, logsCommand } from './logs';
import { runForeground } from './run';
import { specsForReload, specsFromArgs } from './specs';
import { isLoopback } from '../util/loopback';

export type Command = (args: ParsedArgs) => Promise<number>;

function one(args: ParsedArgs, what: string): string {
  const [value, extra] = args.positionals;
  if (value === undefined) throw usage(`${args.command}: missing ${what}`);
  if (extra !== undefined) throw usage(`${args.command}: unexpected argument "${extra}"`);
  return value;
}

const progressPrinter = (args: ParsedArgs) => (message: string) => {
  if (args.flags.json !== true) process.stdout.write(`${message}\n`);
};

async function withClient<T>(fn: (client: HerdClient) => Promise<T>, autoStart = false, anyVersion = false): Promise<T> {
  const client = await HerdClient.connect({ autoStart, anyVersion });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

const start: Command = async (args) => {
  const target = one(args, 'script or config file');
  const { specs, warnings, settings } = await specsFromArgs(target, args);
  printWarnings(warnings);
  const result = await withClient((c) => c.request({ type: 'start', apps: specs, settings }), true);
  if (args.flags.json === true) {
    printJson(result);
    return EXIT.ok;
  }
  for (const name of result.started) process.stdout.write(`started ${name}\n`);
  for (const name of result.skipped) process.stdout.write(`${name} is already running (use herd reload ${name})\n`);
  if (settings?.prometheus && result.prometheus) process.stdout.write(`prometheus metrics at ${result.prometheus}\n`);
  if (settings?.dashboard && result.dashboard) process.stdout.write(`dashboard at ${result.dashboard}\n`);
  const apps = await withClient((c) => c.request({ type: 'list' }));
  process.stdout.write(`${listTable(apps.filter((a) => specs.some((s) => s.name === a.name)))}\n`);
  const details = await withClient((c) => Promise.all(result.started.map((name) => c.request({ type: 'describe', name }))));
  for (const d of details) for (const w of d.warnings ?? []) process.stdout.write(`warning: ${d.name}: ${w}\n`);
  return EXIT.ok;
};

const simple = (type: 'stop' | 'restart' | 'delete', verb: string): Command => async (args) => {
  const target = one(args, 'app name (or all)');
  const { names } = await withClient((c) => c.request({ type, target }));
  if (args.flags.json === true) printJson({ names });
  else process.stdout.write(names.length > 0 ? `${verb} ${names.join(', ')}\n` : 'no apps\n');
  return EXIT.ok;
};

const reload: Command = async (args) => {
  const target = one(args, 'app name (or all)');
  return withClient(async (client) => {
    const names = target === 'all' ? (await client.request({ type: 'list' })).map((a) => a.name) : [target];
    const details: AppDetail[] = [];
    for (const name of names) details.push(await client.request({ type: 'describe', name }));
    const { specs, warnings } = await specsForReload(details, args);
    printWarnings(warnings);
    const result = await client.request({ type: 'reload', target, specs }, progressPrinter(args));
    if (args.flags.json === true) printJson(result);
    else process.stdout.write(`reloaded ${result.names.join(', ') || 'nothing'}\n`);
    return EXIT.ok;
  });
};

const scale: Command = async (args) => {
  const [name, count, extra] = args.positionals;
  if (name === undefined || count === undefined) throw usage('scale: expected `herd scale <name> <N|+N|-N>`');
  if (extra !== undefined) throw usage(`scale: unexpected argument "${extra}"`);
  const result = await withClient((c) => c.request({ type: 'scale', name, count }, progressPrinter(args)));
  if (args.flags.json === true) printJson(result);
  else process.stdout.write(`${result.name}: ${result.from} -> ${result.to} workers\n`);
  return EXIT.ok;
};

const list: Command = async (args) => {
  if (args.positionals.length > 0) throw usage(`list: unexpected argument "${args.positionals[0]}"`);
  // No daemon means no apps; a read command never starts one.
  const apps = (await HerdClient.isRunning()) ? await withClient((c) => c.request({ type: 'list' })) : [];
  if (args.flags.json === true) printJson(apps);
  else process.stdout.write(`${listTable(apps)}\n`);
  return EXIT.ok;
};

const describe: Command = async (args) => {
  const name = one(args, 'app name');
  if (!(await HerdClient.isRunning())) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  const detail = await withClient((c) => c.request({ type: 'describe', name }));
  if (args.flags.json === true) printJson(detail);
  else process.stdout.write(`${describeText(detail)}\n`);
  return EXIT.ok;
};

const metrics: Command = async (args) => {
  const name = one(args, 'app name');
  const workerFlag = stringFlag(args, 'worker');
  if (workerFlag !== undefined && !/^\d+$/.test(workerFlag)) throw usage(`metrics: --worker takes a worker id (a number); got "${workerFlag}"`);
  if (!(await HerdClient.isRunning())) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  const worker = workerFlag === undefined ? null : Number(workerFlag);
  const view = await withClient((c) => c.request({ type: 'metrics', name, worker }));
  if (args.flags.json === true) printJson(view);
  else process.stdout.write(`${metricsText(view)}\n`);
  return EXIT.ok;
};

const monit: Command = async (args) => {
  if (args.positionals.length > 0) throw usage(`monit: unexpected argument "${args.positionals[0]}"`);
  return runMonit();
};

const alerts: Command = async (args) => {
  if (args.positionals.length > 0) throw usage(`alerts: unexpected argument "${args.positionals[0]}"`);
  const view: AlertsView = (await HerdClient.isRunning())
    ? await withClient((c) => c.request({ type: 'alerts' }))
    : { webhook: null, rules: [], active: [], events: [] };
  if (args.flags.json === true) printJson(view);
  else process.stdout.write(`${alertsText(view)}\n`);
  return EXIT.ok;
};

const dashboard: Command = async (args) => {
  if (args.positionals.length > 0) throw usage(`dashboard: unexpected argument "${args.positionals[0]}"`);
  const portFlag = stringFlag(args, 'port');
  if (portFlag !== undefined && !(/^\d+$/.test(portFlag) && Number(portFlag) <= 65535)) throw usage(`dashboard: --port takes a port number (0-65535); got "${portFlag}"`);
  const host = stringFlag(args, 'host') ?? null;
  if (host !== null && host.trim() === '') throw usage('dashboard: --host takes an address, e.g. 127.0.0.1');
  const { url } = await withClient((c) => c.request({ type: 'dashboard', port: portFlag === undefined ? null : Number(portFlag), host }), true);
  if (args.flags.json === true) printJson({ url });
  else {
    process.stdout.write(`dashboard at ${url}\n`);
    if (host !== null && !isLoopback(host)) {
      process.stderr.write(`herd: the dashboard listens on ${host}, reachable from other machines; anyone with the URL can act on your apps\n`);
    }
  }
  return EXIT.ok;
};

const kill: Command = async (args) => {
  if (!(await HerdClient.isRunning())) {
    process.stdout.write('no daemon running\n');
    return EXIT.ok;
  }
  const result = await withClient((c) => c.request({ type: 'kill' }), false, true);
  if (args.flags.json === true) printJson(result);
  else process.stdout.write(`daemon stopped${result.stopped.length > 0 ? ` (stopped ${result.stopped.join(', ')})` : ''}\n`);
  return EXIT.ok;
};

const run: Command = async (args) => {
  const target = one(args, 'script or config file');
  return runForeground(target, args);
};

export const COMMANDS: Record<string, Command> = {
  start,
  run,
  stop: simple('stop', 'stopped'),
  restart: simple('restart', 'restarted'),
  delete: simple('delete', 'deleted'),
  reload,
  scale,
  list,
  ls: list,
  describe,
  show: describe,
  logs: logsCommand,
  flush: flushCommand,
  metrics,
  monit,
  alerts,
  dashboard,
  kill,
};
