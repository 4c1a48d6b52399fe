import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkFlags, parseArgs, unknownCommand } from '../../src/cli/args';
import { COMMANDS } from '../../src/cli/commands';
import { HELP } from '../../src/cli/help';
import { pm2List } from '../../src/cli/jlist';
import { overridesFrom } from '../../src/cli/specs';
import { closest } from '../../src/util/closest';
import { parseSignal } from '../../src/util/signals';
import { requestProblem } from '../../src/daemon/control/requestShape';
import { parseScale } from '../../src/daemon/supervision/supervisor';
import { HerdError } from '../../src/errors';
import type { AppDetail, WorkerInfo } from '../../src/protocol/control';

test('flags, aliases, values and app args after --', () => {
  const a = parseArgs(['start', 'app.js', '-i', 'max', '--name=api', '--json', '--', '--port', '80']);
  assert.equal(a.command, 'start');
  assert.deepEqual(a.positionals, ['app.js']);
  assert.deepEqual(a.flags, { instances: 'max', name: 'api', json: true });
  assert.deepEqual(a.rest, ['--port', '80']);
});

test('negative numbers are positionals (scale api -1)', () => {
  assert.deepEqual(parseArgs(['scale', 'api', '-1']).positionals, ['api', '-1']);
});

test('unknown options and missing values are usage errors', () => {
  assert.throws(() => parseArgs(['list', '--bogus']), (e: unknown) => e instanceof HerdError && e.code === 'HERD_ERR_USAGE');
  assert.throws(() => parseArgs(['start', 'x', '--name']), /needs a value/);
});

test('scale takes N, +N and -N and never goes below zero', () => {
  assert.equal(parseScale('4', 2), 4);
  assert.equal(parseScale('+2', 2), 4);
  assert.equal(parseScale('-1', 2), 1);
  assert.throws(() => parseScale('-3', 2), /below 0/);
  assert.throws(() => parseScale('many', 2), /expected N/);
});

function usageError(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof HerdError && e.code === 'HERD_ERR_USAGE' && pattern.test(e.message);
}

function check(argv: string[]): void {
  const args = parseArgs(argv);
  const def = COMMANDS[args.command];
  assert.ok(def, `command ${args.command}`);
  checkFlags(args, def);
}

test('each command accepts only the flags it acts on, naming the flag and the command', () => {
  assert.throws(() => check(['describe', 'x', '--worker', '1']), usageError(/^describe does not take --worker; describe takes --json$/));
  assert.throws(() => check(['stop', 'x', '--follow']), usageError(/stop does not take --follow \(-f\)/));
  assert.throws(() => check(['stop', 'x', '-f']), usageError(/stop does not take --follow/));
  assert.throws(() => check(['list', '--update-env']), usageError(/list does not take --update-env/));
  assert.throws(() => check(['jlist', '--json']), usageError(/jlist takes no options/));
  assert.throws(() => check(['reload', 'x', '-i', '4']), usageError(/reload does not take --instances/));
  assert.throws(() => check(['restart', 'x', '--', '--port', '1']), usageError(/restart takes no app arguments after --/));
  check(['restart', 'x', '--update-env', '--env', 'production', '--json']);
  check(['metrics', 'x', '--worker', '1']);
  check(['logs', 'x', '-f', '--lines', '5', '--grep', 'a', '--err']);
  check(['start', 'app.js', '-i', '2', '--watch', '--node-args', '--max-old-space-size=512', '--max-memory-restart=200M', '-x', '--', 'a']);
  check(['sendSignal', 'SIGUSR2', 'api', '--worker', '0']);
  check(['describe', 'x', '--help']);
});

test('every command in the table is in the help', () => {
  for (const name of Object.keys(COMMANDS)) assert.match(HELP, new RegExp(`\\b${name}\\b`), name);
});

test('unknown commands and options suggest the nearest known one', () => {
  assert.throws(() => parseArgs(['logs', '--folow']), usageError(/unknown option --folow \(did you mean --follow\?\)/));
  assert.throws(() => parseArgs(['start', 'a.js', '--update-emv']), usageError(/did you mean --update-env/));
  assert.throws(() => parseArgs(['list', '--bogus']), usageError(/^unknown option --bogus$/));
  assert.match(unknownCommand('restrat', Object.keys(COMMANDS)).message, /unknown command "restrat" \(did you mean "restart"\?\)/);
  assert.match(unknownCommand('startorreload', Object.keys(COMMANDS)).message, /did you mean "startOrReload"/);
  assert.equal(unknownCommand('frobnicate', Object.keys(COMMANDS)).message, 'unknown command "frobnicate"');
  assert.match(unknownCommand('resurect', Object.keys(COMMANDS)).message, /did you mean "resurrect"/);
  assert.equal(closest('lenght', ['length', 'lines']), 'length');
  assert.equal(closest('ab', ['xyz']), null);
});

test('PM2 spellings: -n, -a, -x and --max-memory-restart=200M', () => {
  const a = parseArgs(['start', 'app.js', '-n', 'api', '-x', '--max-memory-restart=200M', '--node-args', '--inspect --trace-warnings', '--watch']);
  assert.deepEqual(overridesFrom(a), { name: 'api', nodeArgs: '--inspect --trace-warnings', maxMemory: '200M', watch: true, execMode: 'fork' });
  assert.equal(parseArgs(['restart', 'api', '-a']).flags['update-env'], true);
  assert.deepEqual(overridesFrom(parseArgs(['start', 'a.js', '--exec-mode', 'cluster_mode', '-i', '2'])), { instances: '2', execMode: 'cluster' });
  assert.throws(() => overridesFrom(parseArgs(['start', 'a.js', '--exec-mode', 'threads'])), usageError(/--exec-mode: expected fork or cluster; got "threads"/));
  assert.throws(() => overridesFrom(parseArgs(['start', 'a.js', '-x', '--exec-mode', 'cluster'])), usageError(/exclude each other/));
});

test('signal names: SIG prefix optional, any case, numbers map to names, unknown ones are null', () => {
  assert.equal(parseSignal('SIGUSR2'), 'SIGUSR2');
  assert.equal(parseSignal('usr2'), 'SIGUSR2');
  assert.equal(parseSignal('sighup'), 'SIGHUP');
  assert.equal(parseSignal('15'), 'SIGTERM');
  assert.equal(parseSignal('SIGFOO'), null);
  assert.equal(parseSignal('999'), null);
  assert.equal(parseSignal(''), null);
  // The daemon checks them too: a program on the socket gets a bad request, never a crash.
  assert.equal(requestProblem({ type: 'signal', name: 'api', signal: 'SIGUSR2', worker: null }), null);
  assert.match(requestProblem({ type: 'signal', name: 'api', signal: 'SIGFOO', worker: null }) ?? '', /no signal named "SIGFOO"/);
  assert.match(requestProblem({ type: 'signal', name: 'api', signal: 'SIGHUP', worker: 'one' }) ?? '', /signal\.worker/);
  assert.match(requestProblem({ type: 'restart', target: 'api', specs: 'no' }) ?? '', /restart\.specs/);
  assert.equal(requestProblem({ type: 'restart', target: 'api' }), null);
  assert.match(requestProblem({ type: 'reset' }) ?? '', /reset\.target/);
});

test('jlist: one PM2-shaped entry per process, PM2 statuses, pid 0 and pm_id null where nothing runs', () => {
  const worker = (id: number, pid: number | null, status: WorkerInfo['status']): WorkerInfo => ({ id, pid, status, restarts: id, uptimeMs: 1000, cpu: 5, memory: 100, shed: 0, reason: status });
  const app = (name: string, workers: WorkerInfo[], status: AppDetail['status']): AppDetail => ({
    name, status, workers, reason: 'r', script: `/srv/${name}.js`, cwd: '/srv', execMode: 'cluster', instances: workers.length,
    interpreter: 'node', nodeArgs: [], args: ['a'], restarts: 0, createdAt: 5, configFile: null, envName: null, cliOverrides: {},
    env: { SECRET: 'x' }, listening: [], logLinesDropped: 0, lastStderr: [], events: [], retryAt: null, metrics: true,
    cron: null, watch: null, logFiles: { out: null, err: null, combined: null }, sticky: null, warnings: [],
    runAs: { user: 'root', uid: 0, group: 'root', gid: 0, daemons: true }, shim: null,
  });
  const list = pm2List([
    app('api', [worker(0, 11, 'online'), worker(1, null, 'backoff'), worker(1, 12, 'draining')], 'online'),
    app('idle', [], 'stopped'),
  ], 10_000);
  assert.deepEqual(list.map((p) => [p.name, p.pm_id, p.pid, p.pm2_env.status, p.pm2_env.restart_time]), [
    ['api', 0, 11, 'online', 0], ['api', 1, 0, 'waiting restart', 1], ['api', 1, 12, 'stopping', 1], ['idle', null, 0, 'stopped', 0],
  ]);
  assert.deepEqual(list[0]?.pm2_env, {
    name: 'api', pm_id: 0, status: 'online', restart_time: 0, pm_uptime: 9000, created_at: 5, exec_mode: 'cluster_mode', instances: 3,
    pm_cwd: '/srv', pm_exec_path: '/srv/api.js', node_args: [], args: ['a'], NODE_APP_INSTANCE: 0,
  });
  assert.deepEqual(list[0]?.monit, { memory: 100, cpu: 5 });
  // The environment stays out of jlist (`herd env` prints it).
  assert.ok(!JSON.stringify(list).includes('SECRET'));
});
