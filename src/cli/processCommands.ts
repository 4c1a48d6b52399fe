/**
 * PM2's process verbs that scripts and fingers know: pid, jlist, env, reset,
 * sendSignal.
 */
import { HerdClient } from '../client/client';
import { HerdError } from '../errors';
import { closest } from '../util/closest';
import { parseSignal, signalNames } from '../util/signals';
import { stringFlag, usage } from './args';
import { pm2List } from './jlist';
import { EXIT, printJson } from './output';
import { listedDetails, none, one, withClient, type Command } from './session';

/** `herd pid [name]`: the pid of every process of the app (or of every app), one a line, as `pm2 pid`. */
export const pid: Command = async (args) => {
  const [name, extra] = args.positionals;
  if (extra !== undefined) throw usage(`pid: unexpected argument "${extra}"`);
  const apps = (await HerdClient.checkDaemon()) ? await withClient((c) => c.request({ type: 'list' })) : [];
  const picked = name === undefined || name === 'all' ? apps : apps.filter((a) => a.name === name);
  if (name !== undefined && name !== 'all' && picked.length === 0) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  const pids = picked.flatMap((a) => a.workers.map((w) => w.pid)).filter((p): p is number => p !== null);
  if (pids.length > 0) process.stdout.write(`${pids.join('\n')}\n`);
  return EXIT.ok;
};

/** `herd jlist`: PM2's JSON process list (see jlist.ts for the shape). */
export const jlist: Command = async (args) => {
  none(args);
  process.stdout.write(`${JSON.stringify(pm2List(await listedDetails()))}\n`);
  return EXIT.ok;
};

/**
 * `herd env <name>`: the environment the app's workers get (the CLI's at
 * start plus the config's env), values as they are, secrets included: it is
 * printed only to the owner who asks, over the owner-only control socket,
 * and never logged. herd adds HERD_APP_NAME, HERD_WORKER_ID and
 * NODE_APP_INSTANCE per worker.
 */
export const env: Command = async (args) => {
  const name = one(args, 'app name');
  if (!(await HerdClient.checkDaemon())) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  const detail = await withClient(async (c) => {
    const names = (await c.request({ type: 'list' })).map((a) => a.name);
    if (!names.includes(name) && /^\d+$/.test(name)) {
      throw usage(`env: herd has no global process ids; give an app name (${names.join(', ') || 'no apps listed'})`);
    }
    return c.request({ type: 'describe', name });
  });
  const sorted = Object.keys(detail.env).sort();
  if (args.flags.json === true) printJson(Object.fromEntries(sorted.map((k) => [k, detail.env[k]])));
  else process.stdout.write(sorted.map((k) => `${k}=${detail.env[k] ?? ''}\n`).join(''));
  return EXIT.ok;
};

/** `herd reset <name|all>`: zero the restart counters. */
export const reset: Command = async (args) => {
  const target = one(args, 'app name (or all)');
  const { names } = await withClient((c) => c.request({ type: 'reset', target }));
  if (args.flags.json === true) printJson({ names });
  else process.stdout.write(names.length > 0 ? `reset ${names.join(', ')}\n` : 'no apps\n');
  return EXIT.ok;
};

/** `herd sendSignal <signal> <name> [--worker ID]`: PM2's order, signal first. */
export const sendSignal: Command = async (args) => {
  const [signalText, name, extra] = args.positionals;
  if (signalText === undefined || name === undefined) throw usage('sendSignal: expected `herd sendSignal <signal> <name>`');
  if (extra !== undefined) throw usage(`sendSignal: unexpected argument "${extra}"`);
  const signal = parseSignal(signalText);
  if (signal === null) {
    if (parseSignal(name) !== null) throw usage(`sendSignal: the signal comes first: herd sendSignal ${name} ${signalText}`);
    const near = closest(signalText.toUpperCase().startsWith('SIG') ? signalText.toUpperCase() : `SIG${signalText.toUpperCase()}`, signalNames());
    throw usage(`sendSignal: no signal named "${signalText}"${near === null ? '' : ` (did you mean ${near}?)`}`);
  }
  const workerFlag = stringFlag(args, 'worker');
  if (workerFlag !== undefined && !/^\d+$/.test(workerFlag)) throw usage(`sendSignal: --worker takes a worker id (a number); got "${workerFlag}"`);
  if (!(await HerdClient.checkDaemon())) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  const worker = workerFlag === undefined ? null : Number(workerFlag);
  const result = await withClient((c) => c.request({ type: 'signal', name, signal, worker }));
  if (args.flags.json === true) printJson(result);
  else process.stdout.write(`sent ${result.signal} to ${result.name}: pid ${result.pids.join(', ')}\n`);
  return EXIT.ok;
};
