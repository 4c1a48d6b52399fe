import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { HerdClient } from '../../src/client/client';
import { alive, eventually, FIXTURES, freePort, get, herdHome, kill, list, NODE, ROOT, type CliResult, running } from '../helpers';

interface Detail { reason: string; instances: number; env: Record<string, string> }
type Herd = (args: string[], env?: Record<string, string>) => Promise<CliResult>;

async function describe(herd: Herd, name: string): Promise<Detail> {
  const r = await herd(['describe', name, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Detail;
}

/** `api`: print-env.js scaled from 2 to 3 workers with GREETING; `batch`: stopped on purpose. */
async function twoApps(herd: Herd): Promise<{ port: number; other: number }> {
  const port = await freePort();
  const other = await freePort();
  const api = await herd(['start', path.join(FIXTURES, 'print-env.js'), '--name', 'api', '-i', '2'], { PORT: String(port), GREETING: 'hello from the env' });
  assert.equal(api.code, 0, api.stderr);
  assert.equal((await herd(['scale', 'api', '3'])).code, 0);
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'batch'], { PORT: String(other) })).code, 0);
  assert.equal((await herd(['stop', 'batch'])).code, 0);
  return { port, other };
}

/** Every app the daemon lists, by name. */
async function byName(herd: Herd) {
  return new Map((await list(herd)).map((a) => [a.name, a]));
}

async function assertBack(herd: Herd, port: number, other: number): Promise<void> {
  const apps = await byName(herd);
  const api = apps.get('api');
  assert.equal(api?.status, 'online');
  assert.equal(api?.workers.length, 3, 'instances as scaled');
  assert.ok(api?.workers.every((w) => w.status === 'online'));
  const body = JSON.parse((await get(port)).body) as { greeting: string; pid: number };
  assert.equal(body.greeting, 'hello from the env');
  assert.ok(api?.workers.some((w) => w.pid === body.pid), 'served by a resurrected worker');
  assert.equal(apps.get('batch')?.status, 'stopped', 'stopped on purpose stays stopped');
  await assert.rejects(get(other), 'the stopped app does not listen');
}

function noTempFiles(home: string): void {
  assert.deepEqual(readdirSync(home).filter((f) => f.endsWith('.tmp')), []);
}

test('herd kill, then herd resurrect: every app not stopped on purpose is back with its instances and env, from state.json or the dump', async (t) => {
  const { home, herd } = herdHome(t);
  const { port, other } = await twoApps(herd);
  const k = await herd(['kill']);
  assert.equal(k.code, 0, k.stderr);
  assert.match(k.stdout, /the app list is kept/);
  await assert.rejects(get(port));

  // No dump: the list herd kept.
  const r = await herd(['resurrect']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`no dump at .*; starting the apps herd remembers \\(${path.join(home, 'state.json')}\\)`));
  assert.match(r.stdout, /started api/);
  assert.match(r.stdout, /stopped on purpose, left stopped: batch/);
  await assertBack(herd, port, other);

  // Again: the apps already running are left alone.
  const again = await herd(['resurrect', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout).skipped, ['api']);

  // PM2's flow: save, then the dump is what resurrect starts (scaled down after the save: the dump's 3 win).
  const s = await herd(['save']);
  assert.equal(s.code, 0, s.stderr);
  const dump = path.join(home, 'dump.herd.json');
  assert.match(s.stdout, new RegExp(`saved 2 app\\(s\\) to ${dump}: api, batch; stopped, and kept stopped by herd resurrect: batch`));
  assert.equal((await herd(['scale', 'api', '1'])).code, 0);
  assert.equal((await herd(['kill'])).code, 0);
  const fromDump = await herd(['resurrect']);
  assert.equal(fromDump.code, 0, fromDump.stderr);
  assert.match(fromDump.stdout, new RegExp(`resurrecting from ${dump} \\(saved .*, 2 app\\(s\\)\\)`));
  await assertBack(herd, port, other);

  // Both files hold environments: the owner's alone, and nothing half-written left beside them.
  assert.equal(statSync(dump).mode & 0o777, 0o600);
  assert.equal(statSync(path.join(home, 'state.json')).mode & 0o777, 0o600);
  assert.equal(statSync(path.join(home, 'daemon.pid')).mode & 0o777, 0o600);
  noTempFiles(home);
  assert.match(readFileSync(dump, 'utf8'), /"GREETING":"hello from the env"/);
});

test('a dump that is empty, truncated, not JSON, of another version or with a bad spec is refused, names the file and the problem, and changes nothing', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  assert.equal((await herd(['save'])).code, 0);
  const dump = path.join(home, 'dump.herd.json');
  const good = readFileSync(dump, 'utf8');
  assert.equal((await herd(['delete', 'all'])).code, 0);

  // An empty list does not replace the dump unless forced.
  const empty = await herd(['save']);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /HERD_ERR_DUMP_EMPTY/);
  assert.match(empty.stderr, /the dump is left as it was, with its 1 app\(s\)/);
  assert.equal(readFileSync(dump, 'utf8'), good);

  const cases: [string, string, RegExp][] = [
    ['empty', '', /it is empty \(0 bytes\)/],
    ['truncated', good.slice(0, Math.floor(good.length * 0.6)), /it is truncated/],
    ['not JSON', good.replace('"kind"', 'kind'), /it is not valid JSON/],
    ['another version', good.replace('"version":1', '"version":7'), /"version" is 7 .*this herd reads version 1 only/],
    ['a bad spec', good.replace(/"killTimeout":\d+/, '"killTimeout":"soon"'), /apps\[0\]\.spec\.killTimeout must be a number >= 0/],
  ];
  for (const [what, text, problem] of cases) {
    writeFileSync(dump, text, { mode: 0o600 });
    const r = await herd(['resurrect']);
    assert.equal(r.code, 2, `${what}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /HERD_ERR_DUMP_INVALID/, what);
    assert.match(r.stderr, new RegExp(`cannot resurrect from ${dump}: `), what);
    assert.match(r.stderr, problem, what);
    assert.match(r.stderr, /nothing was started or changed/, what);
    assert.deepEqual(await list(herd), [], `${what}: nothing started`);
    assert.equal(readFileSync(dump, 'utf8'), text, `${what}: the dump is left as it was`);
  }
  await assert.rejects(get(port));

  // A list saved empty on purpose resurrects nothing, and says so.
  assert.equal((await herd(['save', '--force'])).code, 0);
  const none = await herd(['resurrect']);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /lists no app: nothing to start/);
  noTempFiles(home);
});

test('state.json survives kill -9 of the daemon: a new daemon lists the apps stopped, says why, and resurrect starts them', async (t) => {
  const { home, herd } = herdHome(t);
  const { port, other } = await twoApps(herd);
  const state = path.join(home, 'state.json');
  // Written within the debounce of the last change: wait until it has both apps as they are.
  await eventually(() => {
    const text = readFileSync(state, 'utf8');
    return /"name":"api".*"instances":3.*"stopped":false/.test(text) && /"name":"batch".*"stopped":true/.test(text) ? true : undefined;
  }, 10_000, 'state.json with both apps');
  const daemonPid = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  const workers = (await list(herd)).flatMap((a) => a.workers.map((w) => w.pid)).filter((p): p is number => p !== null);
  t.after(() => workers.forEach((pid) => kill(pid)));
  // A reboot: the daemon, the shims and the workers all gone, state.json is what is left.
  const shims = readdirSync(path.join(home, 'run')).filter((n) => n.endsWith('.json'))
    .map((n) => (JSON.parse(readFileSync(path.join(home, 'run', n), 'utf8')) as { pid: number }).pid);
  for (const pid of [daemonPid, ...shims, ...workers]) kill(pid);
  await eventually(() => ([daemonPid, ...shims, ...workers].some(running) ? undefined : true), 10_000, 'every process to die');

  // A new daemon (as systemd's Restart= would start one), before any resurrect.
  // Its output goes to daemon.log as `herd start` sends it: if it fails to start, the log says why.
  const logFd = openSync(path.join(home, 'daemon.log'), 'a');
  const daemon = spawn(NODE, [path.join(ROOT, 'dist', 'daemon', 'main.js')], { env: { ...process.env, HERD_HOME: home }, detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  daemon.unref();
  const exited = new Promise<string>((resolve) => daemon.once('exit', (code, signal) => resolve(`the new daemon exited (${signal ?? code})`)));
  const daemonLog = () => readFileSync(path.join(home, 'daemon.log'), 'utf8').slice(-3000);
  // Up means done listing the remembered apps: it writes its pid file then (its socket answers before).
  const up = eventually(() => (readFileSync(path.join(home, 'daemon.pid'), 'utf8').trim() === String(daemon.pid) ? true : undefined), 10_000, 'the new daemon');
  up.catch(() => {}); // a daemon that exited first is the failure said below
  const outcome = await Promise.race([up.then(() => null), exited]);
  if (outcome !== null) throw new Error(`${outcome}\ndaemon.log:\n${daemonLog()}`);
  assert.ok(await HerdClient.isRunning(home));
  const apps = await byName(herd).catch((err: Error) => {
    throw new Error(`${err.message}\ndaemon.log:\n${readFileSync(path.join(home, 'daemon.log'), 'utf8').slice(-3000)}`);
  });
  assert.deepEqual([...apps.keys()].sort(), ['api', 'batch']);
  assert.equal(apps.get('api')?.status, 'stopped');
  const api = await describe(herd, 'api');
  assert.match(api.reason, new RegExp(`not running: the daemon restarted at .* \\(the previous one, pid ${daemonPid}, did not shut down\\); herd resurrect`));
  assert.equal(api.instances, 3);
  assert.equal(api.env.GREETING, 'hello from the env');
  assert.equal((await describe(herd, 'batch')).reason, 'stopped by user');
  const l = await herd(['list']);
  assert.match(l.stderr, /herd: not running since the daemon restarted at .*: api; `herd resurrect` starts them/);

  const r = await herd(['resurrect']);
  assert.equal(r.code, 0, r.stderr);
  await assertBack(herd, port, other);
  assert.equal((await herd(['list'])).stderr, '', 'nothing waits any more');
});

test('a state.json that cannot be read is moved aside, not overwritten, and said so in the daemon log and herd list', async (t) => {
  const { home, herd } = herdHome(t);
  const state = path.join(home, 'state.json');
  const garbage = '{"version":1,"kind":"herd-state","apps":[{"name":"api","spec":{"name":"ap';
  writeFileSync(state, garbage, { mode: 0o600 });
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'fresh'], { PORT: String(port) })).code, 0);
  const aside = readdirSync(home).filter((f) => f.startsWith('state.json.rejected-'));
  assert.equal(aside.length, 1, readdirSync(home).join(', '));
  assert.equal(readFileSync(path.join(home, aside[0] as string), 'utf8'), garbage);
  const log = readFileSync(path.join(home, 'daemon.log'), 'utf8');
  assert.match(log, new RegExp(`herd's app list ${state} cannot be used: it is truncated.*moved to ${path.join(home, aside[0] as string)}`));
  const l = await herd(['list']);
  assert.equal(l.code, 0);
  assert.match(l.stderr, /herd: herd's app list .*state\.json cannot be used: it is truncated/);
  // The new list is written beside it, and holds what runs now.
  await eventually(() => (/"name":"fresh"/.test(readFileSync(state, 'utf8')) ? true : undefined), 10_000, 'a new state.json');
});

test('a state.json that cannot be written is logged once, tried again on the next change, and fails no command', async (t) => {
  const { home, herd } = herdHome(t);
  const state = path.join(home, 'state.json');
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  await eventually(() => (/"name":"api"/.test(readFileSync(state, 'utf8')) ? true : undefined), 10_000, 'state.json');
  // A directory where the file goes: every rename onto it fails (EISDIR), as a read-only or full disk would fail the write.
  rmSync(state);
  mkdirSync(state);
  const failures = () => readFileSync(path.join(home, 'daemon.log'), 'utf8').split('\n').filter((l) => l.includes(`cannot write ${state}`));
  for (const args of [['stop', 'api'], ['start', 'api'], ['scale', 'api', '2']]) {
    const r = await herd(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    await eventually(() => (failures().length > 0 ? true : undefined), 10_000, 'the failure in the daemon log');
  }
  assert.equal((await list(herd))[0]?.workers.length, 2);
  assert.equal(failures().length, 1, failures().join('\n'));
  assert.match(failures()[0] as string, /EISDIR|EEXIST|ENOTEMPTY|is a directory/i);
  noTempFiles(home);
  // Room again: the next change is written, and the log says so.
  rmSync(state, { recursive: true });
  assert.equal((await herd(['scale', 'api', '3'])).code, 0);
  await eventually(() => {
    try {
      return /"instances":3/.test(readFileSync(state, 'utf8')) ? true : undefined;
    } catch {
      return undefined;
    }
  }, 10_000, 'state.json written again');
  // The log line follows the write's completion: waited for, not assumed to be there with the file.
  const recovered = new RegExp(`${state.replace(/[.]/g, '\\.')} is written again`);
  await eventually(() => (recovered.test(readFileSync(path.join(home, 'daemon.log'), 'utf8')) ? true : undefined), 10_000, 'the recovery in the daemon log');
  assert.match(readFileSync(path.join(home, 'daemon.log'), 'utf8'), recovered);
});

