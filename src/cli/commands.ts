import { herdPaths } from '../util/paths';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adoptLeftShims, clearDeadDaemon, HerdClient, launchDaemon, stopLeftShims } from '../client/client';
import { HerdError } from '../errors';
import type { AlertsView, AppDetail } from '../protocol/control';
import { stringFlag, usage, type CommandFlags, type FlagName } from './args';
import { actOnFile, isFileTarget, startOrReload, startOrRestart } from './fileCommands';
import { alertsText, describeText, listTable } from './format';
import { ignoredOptions } from './ignoredOptions';
import { metricsText } from './metricsText';
import { runMonit } from './monit';
import { jobs } from './jobs';
import { profile } from './profile';
import { heapCommand } from './heap';
import { EXIT, printJson, printWarnings } from './output';
import { flushCommand, logsCommand } from './logs';
import { env, jlist, pid, reset, sendSignal } from './processCommands';
import { serviceOf } from '../startup/systemd';
import type * as Run from './run';
import type * as Fleet from './fleet';
import type * as Lb from './lb';
import type * as Chaos from './chaos';
import type * as Bench from './bench';
import type * as Startup from './startup';
import { resurrect, save } from './saveCommands';
import { listedDetails, none, one, progressPrinter, withClient, type Command } from './session';
import { specsForApps, specsFromArgs } from './specs';
import { isLoopback } from '../util/loopback';

/**
 * `herd start <name|all>` of a listed app rather than a file: no file of
 * that name exists here and the daemon lists such an app.
 */
async function listedTarget(target: string): Promise<boolean> {
  if (fs.existsSync(path.resolve(target)) || !(await HerdClient.isRunning())) return false;
  const apps = await withClient((c) => c.request({ type: 'list' }));
  return target === 'all' ? apps.length > 0 : apps.some((a) => a.name === target);
}

const start: Command = async (args) => {
  const target = one(args, 'script or config file (or the name of a listed app)');
  const byName = await listedTarget(target);
  for (const flag of ['name', 'only'] as const) {
    if (byName && stringFlag(args, flag) !== undefined) throw usage(`start: --${flag} picks from a script or config file; "${target}" is a listed app`);
  }
  const loaded = byName ? null : await specsFromArgs(target, args);
  if (loaded) printWarnings(loaded.warnings);
  const settings = loaded?.settings ?? null;
  const result = await withClient(
    (c) => (loaded ? c.request({ type: 'start', apps: loaded.specs, settings }) : c.request({ type: 'startApp', target })),
    true,
  );
  printWarnings(result.warnings ?? []);
  for (const name of result.skipped) printWarnings(ignoredOptions(args, name, target, 'running'));
  if (byName) for (const name of result.started) printWarnings(ignoredOptions(args, name, target, 'restarted'));
  if (args.flags.json === true) {
    printJson(result);
    return EXIT.ok;
  }
  for (const name of result.started) process.stdout.write(`started ${name}\n`);
  for (const name of result.skipped) process.stdout.write(`${name} is already running (use herd reload ${name})\n`);
  if (settings?.prometheus && 'prometheus' in result && result.prometheus) process.stdout.write(`prometheus metrics at ${result.prometheus}\n`);
  if (settings?.dashboard && 'dashboard' in result && result.dashboard) process.stdout.write(`dashboard at ${result.dashboard}\n`);
  const names = new Set([...result.started, ...result.skipped]);
  const apps = await withClient((c) => c.request({ type: 'list' }));
  process.stdout.write(`${listTable(apps.filter((a) => names.has(a.name)))}\n`);
  const details = await withClient((c) => Promise.all(result.started.map((name) => c.request({ type: 'describe', name }))));
  for (const d of details) for (const w of d.warnings ?? []) process.stdout.write(`warning: ${d.name}: ${w}\n`);
  return EXIT.ok;
};

const simple = (type: 'stop' | 'delete', verb: string): Command => async (args) => {
  const target = one(args, 'app name (or all)');
  const { names } = await withClient((c) => c.request({ type, target }));
  if (args.flags.json === true) printJson({ names });
  else process.stdout.write(names.length > 0 ? `${verb} ${names.join(', ')}\n` : 'no apps\n');
  return EXIT.ok;
};

/** The apps `target` names (an app, or all), in detail. */
async function detailsOf(target: string, listed: readonly AppDetail[]): Promise<AppDetail[]> {
  if (target === 'all') return [...listed];
  const app = listed.find((a) => a.name === target);
  if (!app) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name: target });
  return [app];
}

/**
 * `herd restart <name|all>`: with --update-env or --env the app restarts
 * with its config re-read (and the CLI's current environment for
 * --update-env), as PM2's `restart --update-env`; without, with the spec it has.
 */
const restart: Command = async (args) => {
  const target = one(args, 'app name, all, or config file');
  const listed = await listedDetails();
  if (isFileTarget(target, listed)) return actOnFile('restart', target, args, listed);
  const reread = args.flags['update-env'] === true || stringFlag(args, 'env') !== undefined;
  let specs = null;
  if (reread) {
    const loaded = await specsForApps(await detailsOf(target, listed), args);
    printWarnings(loaded.warnings);
    specs = loaded.specs;
  }
  const { names } = await withClient((c) => c.request({ type: 'restart', target, specs }));
  if (args.flags.json === true) printJson({ names });
  else process.stdout.write(names.length > 0 ? `restarted ${names.join(', ')}\n` : 'no apps\n');
  return EXIT.ok;
};

const reload: Command = async (args) => {
  const target = one(args, 'app name, all, or config file');
  const listed = await listedDetails();
  if (isFileTarget(target, listed)) return actOnFile('reload', target, args, listed);
  const { specs, warnings } = await specsForApps(await detailsOf(target, listed), args);
  printWarnings(warnings);
  const result = await withClient((c) => c.request({ type: 'reload', target, specs }, progressPrinter(args)));
  if (args.flags.json === true) printJson(result);
  else process.stdout.write(`reloaded ${result.names.join(', ') || 'nothing'}\n`);
  return EXIT.ok;
};

const scale: Command = async (args) => {
  const [name, count, extra] = args.positionals;
  if (name === undefined || count === undefined) throw usage('scale: expected `herd scale <name> <N|+N|-N|auto>`');
  if (extra !== undefined) throw usage(`scale: unexpected argument "${extra}"`);
  const result = await withClient((c) => c.request({ type: 'scale', name, count }, progressPrinter(args)));
  if (args.flags.json === true) printJson(result);
  else process.stdout.write(`${result.name}: ${result.from} -> ${result.to} workers${result.mode === undefined ? '' : result.mode === 'auto' ? ', scaling automatically' : `, fixed (herd scale ${result.name} auto resumes autoscaling)`}\n`);
  return EXIT.ok;
};

const list: Command = async (args) => {
  none(args);
  // No daemon means no apps; a read command never starts one.
  const apps = (await HerdClient.checkDaemon()) ? await withClient((c) => {
    for (const notice of c.daemon.notices ?? []) process.stderr.write(`herd: ${notice}\n`);
    return c.request({ type: 'list' });
  }) : [];
  if (args.flags.json === true) printJson(apps);
  else process.stdout.write(`${listTable(apps)}\n`);
  return EXIT.ok;
};

const describe: Command = async (args) => {
  const name = one(args, 'app name');
  if (!(await HerdClient.checkDaemon())) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  const detail = await withClient((c) => c.request({ type: 'describe', name }));
  if (args.flags.json === true) printJson(detail);
  else process.stdout.write(`${describeText(detail)}\n`);
  return EXIT.ok;
};

const metrics: Command = async (args) => {
  const name = one(args, 'app name');
  const workerFlag = stringFlag(args, 'worker');
  if (workerFlag !== undefined && !/^\d+$/.test(workerFlag)) throw usage(`metrics: --worker takes a worker id (a number); got "${workerFlag}"`);
  if (!(await HerdClient.checkDaemon())) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  const worker = workerFlag === undefined ? null : Number(workerFlag);
  const view = await withClient((c) => c.request({ type: 'metrics', name, worker }));
  if (args.flags.json === true) printJson(view);
  else process.stdout.write(`${metricsText(view)}\n`);
  return EXIT.ok;
};

const monit: Command = async (args) => {
  none(args);
  return runMonit();
};

const alerts: Command = async (args) => {
  none(args);
  const view: AlertsView = (await HerdClient.checkDaemon())
    ? await withClient((c) => c.request({ type: 'alerts' }))
    : { webhook: null, rules: [], active: [], events: [] };
  if (args.flags.json === true) printJson(view);
  else process.stdout.write(`${alertsText(view)}\n`);
  return EXIT.ok;
};

const dashboard: Command = async (args) => {
  none(args);
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
  none(args);
  // Apps a dead daemon left serving are taken over first, so they stop like any other (and state.json says who stopped them).
  if (!(await HerdClient.isRunning()) && !(await adoptLeftShims(herdPaths()))) {
    const dead = clearDeadDaemon();
    const shims = await stopLeftShims();
    const stopped = shims > 0 ? `; ${shims} app shim(s) it left running stopped` : '';
    process.stdout.write(dead === null ? `no daemon running${stopped}\n` : `no daemon running (the last one, pid ${dead}, had died${stopped}; its pid file is removed, the app list kept)\n`);
    return EXIT.ok;
  }
  const result = await withClient((c) => {
    warnIfRestarted(c.daemon.pid);
    return c.request({ type: 'kill' });
  }, false, true);
  if (args.flags.json === true) printJson(result);
  else {
    process.stdout.write(`daemon stopped${result.stopped.length > 0 ? ` (stopped ${result.stopped.join(', ')})` : ''}\n`);
    // PM2's kill keeps dump.pm2; herd keeps its app list the same way.
    if (result.stopped.length > 0) process.stdout.write('the app list is kept: `herd resurrect` starts the apps again, `herd delete` forgets one\n');
  }
  return EXIT.ok;
};

/**
 * `herd update` (PM2's verb): the running daemon is replaced by the herd
 * this CLI belongs to, the one installed now; every app keeps its workers
 * (their pids do not change) and its sockets. With no daemon running there
 * is nothing to replace: the next command starts the installed one anyway.
 */
const update: Command = async (args) => {
  none(args);
  if (!(await HerdClient.isRunning()) && !(await adoptLeftShims(herdPaths()))) {
    process.stdout.write('no daemon running; the next command starts the installed herd\n');
    return EXIT.ok;
  }
  const daemonMain = require.resolve('../daemon/main');
  const result = await withClient((c) => {
    // `update` came with protocol 6: an older daemon cannot hand over, and is not restarted behind the user's back.
    if (c.daemon.protocol < 6) {
      throw new HerdError('HERD_ERR_UPDATE_FAILED', { pid: c.daemon.pid, reason: `the running daemon is herd ${c.daemon.version}, which cannot hand over its apps` },
        ['`herd save && herd kill && herd resurrect` restarts every app under the installed herd (new pids)']);
    }
    return c.request({ type: 'update', execPath: process.execPath, daemonMain }, progressPrinter(args));
  }, false, true);
  if (args.flags.json === true) printJson(result);
  else {
    process.stdout.write(`herd ${result.from.version} -> ${result.to.version}: daemon pid ${result.from.pid} -> ${result.to.pid}; ` +
      `${result.apps} app(s), ${result.workers} worker(s) kept (pids unchanged)\n`);
  }
  return EXIT.ok;
};

/** `herd daemon`: the background daemon without apps (systemd's ExecStart); exits once it answers. */
const daemon: Command = async (args) => {
  none(args);
  const pid = await launchDaemon();
  if (args.flags.json === true) printJson({ pid });
  else process.stdout.write(`daemon started (pid ${pid})\n`);
  return EXIT.ok;
};

/**
 * A daemon that a systemd unit runs is started again by it (Restart=always,
 * then `herd resurrect`): `herd kill` is then a restart, unless it is the
 * unit's own ExecStop (run in the unit's control group).
 */
function warnIfRestarted(daemonPid: number): void {
  const unit = serviceOf(daemonPid);
  if (unit === null || !/^herd-.+\.service$/.test(unit) || unit === serviceOf('self')) return;
  process.stderr.write(`herd: the daemon runs under systemd (${unit}), which starts it again with the saved apps; to stop it: systemctl stop ${unit}\n`);
}

// The foreground supervisor and the service-unit writer are loaded only by
// the commands that use them: every other command would pay for loading the
// whole daemon (about 100 ms) on each invocation.
const run: Command = async (args) => {
  const target = one(args, 'script or config file');
  const { runForeground } = require('./run') as typeof Run;
  return runForeground(target, args);
};

const startup: Command = (args) => (require('./startup') as typeof Startup).startup(args);
const unstartup: Command = (args) => (require('./startup') as typeof Startup).unstartup(args);

export interface CommandDef extends CommandFlags {
  run: Command;
}

/** What shapes an app at start: `start`, `run`, `startOrReload`, `startOrRestart`. */
const SHAPING: readonly FlagName[] = ['name', 'instances', 'env', 'only', 'node-args', 'watch', 'max-memory-restart', 'exec-mode', 'execute-command'];
const LOGS: readonly FlagName[] = ['lines', 'follow', 'err', 'out', 'grep', 'since', 'json'];

const cmd = (runCommand: Command, flags: readonly FlagName[], rest = false): CommandDef => ({ run: runCommand, flags, rest });

/** Every verb with the flags it acts on; any other flag is a usage error (checked in main). */
export const COMMANDS: Record<string, CommandDef> = {
  start: cmd(start, [...SHAPING, 'json'], true),
  run: cmd(run, SHAPING, true),
  startOrReload: cmd(startOrReload, [...SHAPING, 'update-env', 'json'], true),
  startOrRestart: cmd(startOrRestart, [...SHAPING, 'update-env', 'json'], true),
  stop: cmd(simple('stop', 'stopped'), ['json']),
  restart: cmd(restart, ['update-env', 'env', 'json']),
  reload: cmd(reload, ['update-env', 'env', 'json']),
  delete: cmd(simple('delete', 'deleted'), ['json']),
  scale: cmd(scale, ['json']),
  reset: cmd(reset, ['json']),
  sendSignal: cmd(sendSignal, ['worker', 'json']),
  list: cmd(list, ['json']),
  ls: cmd(list, ['json']),
  jlist: cmd(jlist, []),
  pid: cmd(pid, []),
  describe: cmd(describe, ['json']),
  show: cmd(describe, ['json']),
  info: cmd(describe, ['json']),
  desc: cmd(describe, ['json']),
  env: cmd(env, ['json']),
  logs: cmd(logsCommand, LOGS),
  flush: cmd(flushCommand, ['json']),
  metrics: cmd(metrics, ['json', 'worker']),
  monit: cmd(monit, []),
  alerts: cmd(alerts, ['json']),
  jobs: cmd(jobs, ['json']),
  profile: cmd(profile, ['worker', 'duration', 'out', 'json']),
  heap: cmd(heapCommand, ['worker', 'out', 'diff', 'force', 'json']),
  dashboard: cmd(dashboard, ['port', 'host', 'json']),
  save: cmd(save, ['force', 'json']),
  // PM2's `pm2 dump` is its `save`.
  dump: cmd(save, ['force', 'json']),
  resurrect: cmd(resurrect, ['json']),
  kill: cmd(kill, ['json']),
  update: cmd(update, ['json']),
  fleet: cmd((args) => (require('./fleet') as typeof Fleet).fleet(args), ['json', 'host', 'batch', 'drain', 'expect-revision', 'settle', 'timeout']),
  lb: cmd((args) => (require('./lb') as typeof Lb).lb(args), ['port', 'backend', 'socket', 'sync', 'once', 'static', 'static-prefix']),
  chaos: cmd((args) => (require('./chaos') as typeof Chaos).chaos(args),
    ['every', 'for', 'kill', 'signal', 'seed', 'connections', 'baseline', 'expect', 'url', 'no-probe', 'timeout', 'json']),
  // Loaded only here: it brings autocannon.
  bench: cmd((args) => (require('./bench') as typeof Bench).bench(args), ['path', 'connections', 'duration', 'rate', 'expect', 'report', 'port', 'json']),
  daemon: cmd(daemon, ['json']),
  startup: cmd(startup, ['user', 'print']),
  unstartup: cmd(unstartup, ['user']),
};
