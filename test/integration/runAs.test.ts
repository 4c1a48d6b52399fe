import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { HerdClient } from '../../src/client/client';
import { loadTarget } from '../../src/config/load';
import type { AppSpec } from '../../src/config/types';
import { CLI, eventually, FIXTURES, freePort, get, herdHome, list, NODE, ROOT, runAs, type CliResult } from '../helpers';

/**
 * Workers as an unprivileged user (`user` / PM2's `uid`, `group` / `gid`):
 * the daemon runs as root here (CI does), binds the listening sockets
 * itself, and starts each worker as the user with all its groups.
 */

interface Detail {
  runAs: { user: string; uid: number; group: string; gid: number; daemons: boolean };
  events: { worker: number | null; message: string }[];
}

/** Why the tests that switch users cannot run here, or false when they can. */
function runAsProblem(user = 'nobody'): string | false {
  if (process.getuid?.() !== 0) return 'needs root: only a daemon running as root can start workers as another user';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'setpriv (util-linux) is not installed';
  const agent = path.join(ROOT, 'dist', 'agent', 'main.js');
  if (spawnSync('runuser', ['-u', user, '--', 'test', '-r', agent]).status !== 0) return `user ${user} cannot read ${agent} (a directory above it is not searchable by other users)`;
  if (spawnSync('runuser', ['-u', user, '--', NODE, '--version']).status !== 0) return `user ${user} cannot run ${NODE}`;
  return false;
}

/** The credentials of a process as the kernel has them: real, effective, saved and fs ids must all be the user's. */
function credentials(pid: number): { uid: string; gid: string; groups: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  const all = (ids: string[]) => (new Set(ids).size === 1 ? ids[0] as string : `mixed ${ids.join(' ')}`);
  return { uid: all(field('Uid')), gid: all(field('Gid')), groups: field('Groups').sort((a, b) => Number(a) - Number(b)).join(' ') };
}

/** What `id` says the user's process should have: `group` replaces the primary group, the supplementary ones stay (initgroups). */
function expected(user: string, group?: string): { uid: string; gid: string; groups: string } {
  const id = (...args: string[]) => spawnSync('id', [...args, user], { encoding: 'utf8' }).stdout.trim();
  const gid = group === undefined ? id('-g') : spawnSync('getent', ['group', group], { encoding: 'utf8' }).stdout.split(':')[2] as string;
  return { uid: id('-u'), gid, groups: id('-G').split(/\s+/).sort((a, b) => Number(a) - Number(b)).join(' ') };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

async function detail(herd: (args: string[]) => Promise<CliResult>, name: string): Promise<Detail> {
  const r = await herd(['describe', name, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Detail;
}

/** A local user with a supplementary group of its own, removed after the test whatever happens. */
function temporaryUser(t: TestContext): { user: string; extra: string } {
  const suffix = `${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  const user = `herdu${suffix}`;
  const extra = `herdg${suffix}`;
  t.after(() => {
    const gone = spawnSync('userdel', [user], { encoding: 'utf8' });
    spawnSync('groupdel', [user]);
    spawnSync('groupdel', [extra]);
    assert.equal(gone.status, 0, `userdel ${user}: ${gone.stderr}`);
  });
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  run('groupadd', [extra]);
  // -U: a primary group of its own; -G: the supplementary group that libuv's uid/gid spawn options would drop.
  run('useradd', ['-M', '-U', '-G', extra, '-d', '/nonexistent', '-s', '/bin/sh', user]);
  return { user, extra };
}

test("a cluster-mode app as user 'nobody' serves on port 80: the daemon binds the port, every worker has nobody's uid, gid and groups, a reload keeps them, logs stay the daemon's", { skip: runAsProblem() }, async (t) => {
  if (!(await portFree(80))) return t.skip('port 80 is in use on this machine');
  const { home, herd } = herdHome(t);
  const config = path.join(home, 'web.config.json');
  writeFileSync(config, JSON.stringify({ apps: [{ name: 'web', script: path.join(FIXTURES, 'hello.js'), instances: 2, cwd: FIXTURES, user: 'nobody', env: { PORT: '80', ANNOUNCE: '1' } }] }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /run as root/);

  const want = expected('nobody');
  const check = async () => {
    const workers = (await list(herd))[0]?.workers ?? [];
    assert.equal(workers.length, 2);
    for (const w of workers) assert.deepEqual(credentials(w.pid as number), want, `worker ${w.id}`);
    const pids = workers.map((w) => w.pid as number);
    const reply = await get(80);
    assert.equal(reply.status, 200);
    assert.ok(pids.includes(Number(reply.body.trim())), `answered by a worker (${reply.body.trim()} in ${pids.join(', ')})`);
    return pids;
  };
  const before = await check();
  const d = await detail(herd, 'web');
  assert.deepEqual(d.runAs, { user: 'nobody', uid: Number(want.uid), group: spawnSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).stdout.trim(), gid: Number(want.gid), daemons: false });

  const reload = await herd(['reload', 'web']);
  assert.equal(reload.code, 0, reload.stderr);
  const after = await check();
  assert.ok(after.every((pid) => !before.includes(pid)), 'every worker was replaced');

  // The worker writes nothing itself: its output reaches the daemon through pipes, into files of the daemon's user.
  const out = path.join(home, 'logs', 'web-out.log');
  await eventually(() => (/listening 80 pid/.test(readFileSync(out, 'utf8')) ? true : undefined), 10_000, 'the workers\' lines in the log');
  assert.equal(statSync(out).uid, 0);
  assert.equal(statSync(home).mode & 0o777, 0o700, 'HERD_HOME stays private to the daemon');
});

test('a user with a supplementary group: Node and bash workers get every group (initgroups), gid from `gid`, and HOME, USER, LOGNAME, SHELL of the user', { skip: runAsProblem() }, async (t) => {
  // The daemon's cleanup is registered first so that it runs first: userdel refuses a user whose processes still run.
  if (spawnSync('useradd', ['--help']).error || spawnSync('groupadd', ['--help']).error) return t.skip('useradd and groupadd (shadow) are not installed');
  const { home, herd } = herdHome(t);
  const { user, extra } = temporaryUser(t);
  const problem = runAsProblem(user);
  if (problem) return t.skip(problem);
  const port = await freePort();
  const config = path.join(home, 'ecosystem.config.js');
  writeFileSync(config, `module.exports = { apps: [
    { name: 'api', script: ${JSON.stringify(path.join(FIXTURES, 'print-env.js'))}, cwd: ${JSON.stringify(FIXTURES)}, user: ${JSON.stringify(user)}, env: { PORT: '${port}' } },
    { name: 'fork', script: ${JSON.stringify(path.join(FIXTURES, 'hello.js'))}, cwd: ${JSON.stringify(FIXTURES)}, exec_mode: 'fork', uid: ${JSON.stringify(user)}, gid: ${JSON.stringify(extra)}, env: { PORT: '${await freePort()}' } },
    { name: 'sh', script: ${JSON.stringify(path.join(FIXTURES, 'idle.sh'))}, cwd: ${JSON.stringify(FIXTURES)}, uid: ${JSON.stringify(user)} },
  ] };\n`);
  const r = await herd(['start', config]);
  assert.equal(r.code, 0, r.stderr);

  const apps = await list(herd);
  const pidOf = (name: string) => apps.find((a) => a.name === name)?.workers[0]?.pid as number;
  assert.deepEqual(credentials(pidOf('api')), expected(user));
  assert.ok(expected(user).groups.split(' ').length >= 2, 'the user has a supplementary group');
  assert.deepEqual(credentials(pidOf('fork')), expected(user, extra));
  assert.deepEqual(credentials(pidOf('sh')), expected(user));

  const env = JSON.parse((await get(port, '/?vars=HOME,USER,LOGNAME,SHELL')).body) as { vars: Record<string, string> };
  assert.deepEqual(env.vars, { HOME: '/nonexistent', USER: user, LOGNAME: user, SHELL: '/bin/sh' });
  const d = await detail(herd, 'fork');
  assert.equal(d.runAs.user, user);
  assert.equal(d.runAs.group, extra);
});

test('a fork-mode app as nobody binds its own socket: port 80 fails with permission denied, said as such', { skip: runAsProblem() }, async (t) => {
  if (!(await portFree(80))) return t.skip('port 80 is in use on this machine');
  const { home, herd } = herdHome(t);
  const config = path.join(home, 'fork.config.json');
  writeFileSync(config, JSON.stringify({
    apps: [{ name: 'fork80', script: path.join(FIXTURES, 'hello.js'), cwd: FIXTURES, exec_mode: 'fork', user: 'nobody', env: { PORT: '80' }, crashLoop: { maxCrashes: 1 } }],
  }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /cannot listen on (port )?\S*80: permission denied \(a port below 1024 needs root or CAP_NET_BIND_SERVICE\)/);
});

test("a user that cannot read the app's script or enter its cwd is refused when the app starts, with the path; nothing starts", { skip: runAsProblem() }, async (t) => {
  const { home, herd } = herdHome(t);
  const privateDir = mkdtempSync(path.join(tmpdir(), 'herd-private-'));
  t.after(() => rmSync(privateDir, { recursive: true, force: true }));
  const script = path.join(privateDir, 'hello.js');
  writeFileSync(script, readFileSync(path.join(FIXTURES, 'hello.js')));
  const config = path.join(home, 'private.config.json');
  const port = String(await freePort());
  writeFileSync(config, JSON.stringify({ apps: [{ name: 'hidden', script, cwd: FIXTURES, user: 'nobody', env: { PORT: port } }] }));
  const unreadable = await herd(['start', config]);
  assert.equal(unreadable.code, 2, unreadable.stdout);
  assert.match(unreadable.stderr, new RegExp(`app "hidden": user "nobody": cannot read ${script} \\(the app's script\\): nobody needs read access to it and search \\(x\\) access to every directory above it \\[HERD_ERR_USER\\]`));

  writeFileSync(config, JSON.stringify({ apps: [{ name: 'hidden', script: path.join(FIXTURES, 'hello.js'), cwd: privateDir, user: 'nobody', env: { PORT: port } }] }));
  const closed = await herd(['start', config]);
  assert.equal(closed.code, 2, closed.stdout);
  assert.match(closed.stderr, new RegExp(`cannot enter ${privateDir} \\(the app's cwd\\)`));
  assert.deepEqual(await list(herd), [], 'nothing was started');
});

test('an unknown user or group is a config error naming the field, exit 2, and nothing starts', async (t) => {
  const { home, herd } = herdHome(t);
  const config = path.join(home, 'bad.config.json');
  writeFileSync(config, JSON.stringify({
    apps: [
      { name: 'a', script: path.join(FIXTURES, 'hello.js'), user: 'herd-no-such-user' },
      { name: 'b', script: path.join(FIXTURES, 'hello.js'), gid: 'herd-no-such-group' },
    ],
  }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /HERD_ERR_CONFIG_INVALID/);
  assert.match(r.stderr, /apps\[0\]\.user: no user "herd-no-such-user" on this machine/);
  assert.match(r.stderr, /apps\[1\]\.gid: no group "herd-no-such-group" on this machine/);
  assert.equal(await HerdClient.isRunning(home), false, 'no daemon was started for a bad config');
});

test('a spec with an unknown user sent to the control socket is refused with the field named; nothing changes', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  const { specs } = await loadTarget(path.join(FIXTURES, 'hello.js'), { cwd: FIXTURES, env: { PORT: String(port) }, envName: null, overrides: {}, interpreter: NODE, cpus: 2 });
  const client = await HerdClient.connect({ home });
  t.after(() => client.close());
  await assert.rejects(client.request({ type: 'start', apps: [{ ...specs[0] as AppSpec, name: 'ghost', user: 'herd-no-such-user' }], settings: null }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HERD_ERR_USER');
      assert.match(err.message, /app "ghost": user "herd-no-such-user": no such user on this machine/);
      return true;
    });
  assert.deepEqual((await list(herd)).map((a) => a.name), ['api']);
});

test('a daemon that is not root refuses another user with a clear error, and runs its own user as asked', { skip: runAsProblem() }, async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-test-'));
  chownSync(home, 65534, 65534);
  const asNobody = (args: string[]) => runAs('nobody', args, { HERD_HOME: home });
  t.after(async () => {
    await asNobody(['kill']);
    rmSync(home, { recursive: true, force: true });
  });
  const config = path.join(home, 'apps.config.json');
  const port = await freePort();
  writeFileSync(config, JSON.stringify({ apps: [{ name: 'root-app', script: path.join(FIXTURES, 'hello.js'), user: 'root', env: { PORT: String(port) } }] }));
  const refused = await asNobody(['start', config]);
  assert.equal(refused.code, 2, refused.stdout);
  assert.match(refused.stderr, /HERD_ERR_USER/);
  assert.match(refused.stderr, /app "root-app": user "root": the daemon runs as nobody \(uid 65534\); only a daemon running as root can start workers as another user/);

  writeFileSync(config, JSON.stringify({ apps: [{ name: 'own', script: path.join(FIXTURES, 'hello.js'), user: 'nobody', env: { PORT: String(port) } }] }));
  const own = await asNobody(['start', config]);
  assert.equal(own.code, 0, own.stderr);
  assert.equal((await get(port)).status, 200);
});

test('a daemon running as root warns once that workers of an app with no user run as root', { skip: process.getuid?.() === 0 ? false : 'needs a daemon running as root' }, async (t) => {
  const { herd } = herdHome(t);
  const first = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'one'], { PORT: String(await freePort()) });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /herd: warning: herd runs as root and one sets no user: its workers run as root; set user \(PM2: uid\)/);
  const second = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'two'], { PORT: String(await freePort()) });
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /run as root/, 'said once per daemon');
  const d = await detail(herd, 'two');
  assert.equal(d.runAs.user, 'root');
  assert.equal(d.runAs.daemons, true);
  assert.ok(d.events.some((e) => /workers run as root/.test(e.message)), JSON.stringify(d.events));
});

