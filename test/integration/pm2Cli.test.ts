import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, freePort, get, herdHome, list, type CliResult } from '../helpers';

type Herd = (args: string[], env?: Record<string, string>) => Promise<CliResult>;

interface Printed { greeting?: string; fromCli?: string; pid: number }

async function printed(port: number): Promise<Printed> {
  return JSON.parse((await get(port)).body) as Printed;
}

/** The fields of one answer, compared with `want`. */
async function expectPrinted(port: number, want: Partial<Printed>): Promise<void> {
  const got = await printed(port);
  assert.deepEqual({ ...got, ...want }, got);
}

async function ok(herd: Herd, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await herd(args, env);
  assert.equal(r.code, 0, `herd ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** An ecosystem file with one print-env app, rewritten by tests to change its env. */
function writeConfig(file: string, port: number, greeting: string, instances = 1): void {
  writeFileSync(file, `module.exports = { apps: [{ name: 'envy', script: ${JSON.stringify(path.join(FIXTURES, 'print-env.js'))}, instances: ${instances}, env: { PORT: ${port}, GREETING: '${greeting}' }, env_production: { GREETING: 'prod ${greeting}' } }] };\n`);
}

async function pids(herd: Herd, name: string): Promise<number[]> {
  const app = (await list(herd)).find((a) => a.name === name);
  return (app?.workers ?? []).map((w) => w.pid).filter((p): p is number => p !== null);
}

test('restart --update-env restarts a script app with the CLI\'s current environment', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  await ok(herd, ['start', path.join(FIXTURES, 'print-env.js'), '--name', 'envy'], { PORT: String(port), FROM_CLI: 'one' });
  assert.equal((await printed(port)).fromCli, 'one');
  // Without --update-env the environment captured at start stays.
  await ok(herd, ['restart', 'envy'], { PORT: String(port), FROM_CLI: 'two' });
  assert.equal((await printed(port)).fromCli, 'one');
  const r = await ok(herd, ['restart', 'envy', '--update-env'], { PORT: String(port), FROM_CLI: 'two' });
  assert.match(r.stdout, /restarted envy/);
  assert.equal((await printed(port)).fromCli, 'two');
});

test('restart --update-env of a config app: the CLI environment plus the file\'s env, re-read; --env picks a section', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'ecosystem.config.js');
  writeConfig(config, port, 'dev');
  await ok(herd, ['start', config], { FROM_CLI: 'one' });
  writeConfig(config, port, 'edited');
  await ok(herd, ['restart', 'envy', '--update-env'], { FROM_CLI: 'two' });
  await expectPrinted(port, { fromCli: 'two', greeting: 'edited' });
  await ok(herd, ['restart', 'envy', '--env', 'production'], { FROM_CLI: 'three' });
  await expectPrinted(port, { fromCli: 'two', greeting: 'prod edited' });
  assert.equal((await herd(['restart', 'nope', '--update-env'])).code, 1);
});

test('reload --update-env of a script app takes the CLI\'s current environment too', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  await ok(herd, ['start', path.join(FIXTURES, 'print-env.js'), '--name', 'envy', '-i', '2'], { PORT: String(port), FROM_CLI: 'one' });
  await ok(herd, ['scale', 'envy', '3']);
  await ok(herd, ['reload', 'envy', '--update-env'], { PORT: String(port), FROM_CLI: 'two' });
  assert.equal((await printed(port)).fromCli, 'two');
  // The same script and options, the number of workers it had.
  assert.equal((await pids(herd, 'envy')).length, 3);
});

test('flags a command does not take are usage errors naming the flag and the command; typos get a suggestion', async (t) => {
  const { herd } = herdHome(t);
  let r = await herd(['describe', 'x', '--worker', '1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /describe does not take --worker/);
  r = await herd(['stop', 'x', '--follow']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /stop does not take --follow/);
  r = await herd(['logs', '--folow']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option --folow.*did you mean --follow/);
  r = await herd(['restrat', 'api']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "restrat".*did you mean "restart"/);
});

test('start of an app that runs already says which options were ignored and how to apply them', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  const script = path.join(FIXTURES, 'hello.js');
  await ok(herd, ['start', script, '--name', 'api'], { PORT: String(port) });
  const r = await ok(herd, ['start', script, '--name', 'api', '-i', '4'], { PORT: String(port) });
  assert.match(r.stdout, /api is already running/);
  assert.match(r.stderr, /-i 4 ignored/);
  assert.match(r.stderr, /herd scale api 4/);
  assert.equal((await pids(herd, 'api')).length, 1);
});

test('herd start <name> starts a listed app that is stopped', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  await ok(herd, ['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) });
  await ok(herd, ['stop', 'api']);
  assert.equal((await list(herd))[0]?.status, 'stopped');
  const r = await ok(herd, ['start', 'api']);
  assert.match(r.stdout, /started api/);
  assert.equal((await list(herd))[0]?.status, 'online');
  assert.equal((await get(port)).status, 200);
});

test('reset zeroes the restart counters', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  await ok(herd, ['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) });
  await ok(herd, ['restart', 'api']);
  assert.deepEqual((await list(herd))[0]?.workers.map((w) => w.restarts), [1, 1]);
  const r = await ok(herd, ['reset', 'api']);
  assert.match(r.stdout, /reset api/);
  assert.deepEqual((await list(herd))[0]?.workers.map((w) => w.restarts), [0, 0]);
  assert.equal((await herd(['reset', 'nope'])).code, 1);
});

test('sendSignal <signal> <name> signals every worker; a bad signal name is a usage error', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  await ok(herd, ['start', path.join(FIXTURES, 'signal-logger.js'), '--name', 'sig', '-i', '2'], { PORT: String(port) });
  const workers = await pids(herd, 'sig');
  const r = await ok(herd, ['sendSignal', 'SIGUSR2', 'sig']);
  assert.match(r.stdout, /SIGUSR2/);
  await eventually(async () => {
    const logs = (await herd(['logs', 'sig', '--lines', '50'])).stdout;
    return workers.every((pid) => logs.includes(`got SIGUSR2 pid ${pid}`)) ? true : undefined;
  }, 15_000, 'both workers to log SIGUSR2');
  // One worker only, by its id.
  await ok(herd, ['sendSignal', 'SIGHUP', 'sig', '--worker', '1']);
  await eventually(async () => ((await herd(['logs', 'sig', '--lines', '50'])).stdout.includes(`got SIGHUP pid ${workers[1]}`) ? true : undefined));
  assert.ok(!(await herd(['logs', 'sig', '--lines', '50'])).stdout.includes(`got SIGHUP pid ${workers[0]}`));
  assert.deepEqual(await pids(herd, 'sig'), workers);
  const bad = await herd(['sendSignal', 'SIGFOO', 'sig']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /SIGFOO/);
});

test('pid prints the pids one a line; jlist prints PM2-shaped processes; env prints the environment', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  await ok(herd, ['start', path.join(FIXTURES, 'print-env.js'), '--name', 'envy', '-i', '2'], { PORT: String(port), GREETING: 'hi there' });
  const live = await pids(herd, 'envy');
  assert.deepEqual((await ok(herd, ['pid', 'envy'])).stdout.trim().split('\n').map(Number), live);
  assert.deepEqual((await ok(herd, ['pid'])).stdout.trim().split('\n').map(Number), live);
  const jlist = JSON.parse((await ok(herd, ['jlist'])).stdout) as { pm_id: number; name: string; pid: number; pm2_env: { status: string; restart_time: number }; monit: { memory: number } }[];
  assert.equal(jlist.length, 2);
  assert.deepEqual(jlist.map((p) => [p.pm_id, p.name, p.pid, p.pm2_env.status, p.pm2_env.restart_time]), [[0, 'envy', live[0], 'online', 0], [1, 'envy', live[1], 'online', 0]]);
  assert.equal(typeof jlist[0]?.monit.memory, 'number');
  const env = (await ok(herd, ['env', 'envy'])).stdout.split('\n');
  assert.ok(env.includes('GREETING=hi there'), env.join('\n'));
  assert.ok(env.includes(`PORT=${port}`));
  assert.equal((await herd(['pid', 'nope'])).code, 1);
});

test('startOrReload starts the file\'s apps the first time and reloads them (new pids, file re-read) the second', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'ecosystem.config.js');
  writeConfig(config, port, 'first', 2);
  const first = await ok(herd, ['startOrReload', config], { FROM_CLI: 'one' });
  assert.match(first.stdout, /started envy/);
  const before = await pids(herd, 'envy');
  assert.equal(before.length, 2);
  assert.equal((await printed(port)).greeting, 'first');
  writeConfig(config, port, 'second', 2);
  const second = await ok(herd, ['startOrReload', config], { FROM_CLI: 'two' });
  assert.match(second.stdout, /reloaded envy/);
  const after = await pids(herd, 'envy');
  assert.equal(after.length, 2);
  for (const pid of after) assert.ok(!before.includes(pid), `pid ${pid} is new`);
  // The file re-read over the environment captured at start; --update-env takes the CLI's.
  await expectPrinted(port, { greeting: 'second', fromCli: 'one' });
  await ok(herd, ['startOrReload', config, '--update-env'], { FROM_CLI: 'two' });
  assert.equal((await printed(port)).fromCli, 'two');
  const bad = await herd(['startOrReload', path.join(FIXTURES, 'hello.js')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /takes a config file/);
});

test('startOrRestart restarts the running apps of the file with the file re-read', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'ecosystem.config.js');
  writeConfig(config, port, 'first');
  assert.match((await ok(herd, ['startOrRestart', config])).stdout, /started envy/);
  writeConfig(config, port, 'second');
  assert.match((await ok(herd, ['startOrRestart', config])).stdout, /restarted envy/);
  assert.equal((await printed(port)).greeting, 'second');
});

test('reload <config> and restart <config> act on the file\'s apps with the file re-read', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'ecosystem.config.js');
  writeConfig(config, port, 'first');
  await ok(herd, ['start', config]);
  const before = await printed(port);
  writeConfig(config, port, 'second');
  assert.match((await ok(herd, ['reload', config])).stdout, /reloaded envy/);
  const after = await printed(port);
  assert.equal(after.greeting, 'second');
  assert.notEqual(after.pid, before.pid);
  writeConfig(config, port, 'third');
  assert.match((await ok(herd, ['restart', config])).stdout, /restarted envy/);
  assert.equal((await printed(port)).greeting, 'third');
});
