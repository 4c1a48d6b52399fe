import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTarget } from '../../src/config/load';
import { specProblems } from '../../src/config/specCheck';
import type { AppSpec } from '../../src/config/types';
import { workerCommand, workerFiles } from '../../src/daemon/worker/workerCommand';
import { HerdError } from '../../src/errors';
import { findGroupIn, findUserIn, lookupUserSync } from '../../src/util/accounts';
import { configFiles } from '../configFiles';

const files = configFiles('config-user');

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  '# a comment',
  '+nisuser::::::',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
  '1000:x:2000:2000:a name made of digits:/home/1000:/bin/sh',
  'broken:x:notanumber:0::/:/bin/sh',
  'app:x:1000:1000:App:/home/app:/bin/bash',
].join('\n');

test('passwd and group lines: by name first, then by numeric id; comments, NIS markers and broken lines are skipped', () => {
  assert.deepEqual(findUserIn(PASSWD, 'www-data'), { name: 'www-data', uid: 33, gid: 33, home: '/var/www', shell: '/usr/sbin/nologin' });
  assert.equal(findUserIn(PASSWD, '33')?.name, 'www-data');
  assert.equal(findUserIn(PASSWD, '1000')?.name, '1000', 'a name made of digits wins over a uid, as chown reads it');
  assert.equal(findUserIn(PASSWD, 'broken'), null);
  assert.equal(findUserIn(PASSWD, '+nisuser'), null);
  assert.equal(findUserIn(PASSWD, 'nobody'), null);
  const groups = 'root:x:0:\nstaff:x:50:app,www-data\nbad:x::\n';
  assert.deepEqual(findGroupIn(groups, 'staff'), { name: 'staff', gid: 50 });
  assert.equal(findGroupIn(groups, '0')?.name, 'root');
  assert.equal(findGroupIn(groups, 'bad'), null);
  assert.equal(lookupUserSync('0')?.name, 'root', 'the machine\'s own files');
});

async function load(app: Record<string, unknown>, env: Record<string, string> = { HOME: '/home/cli', USER: 'cli', LOGNAME: 'cli', SHELL: '/bin/zsh', PATH: '/usr/bin' }) {
  const file = await files.write({ apps: [{ script: 'server.js', ...app }] });
  return loadTarget(file, { ...files.options(), env });
}

async function problems(app: Record<string, unknown>): Promise<string[]> {
  const err = await load(app).then(() => assert.fail('expected problems'), (e: unknown) => e);
  assert.ok(err instanceof HerdError && err.code === 'HERD_ERR_CONFIG_INVALID', String(err));
  return err.details;
}

test("user and group (PM2's uid and gid) are read as names or numeric ids; no user is the daemon's", async () => {
  const plain = (await load({})).specs[0] as AppSpec;
  assert.equal(plain.user, null);
  assert.equal(plain.group, null);
  const own = (await load({ user: 'root', group: 'root' })).specs[0] as AppSpec;
  assert.deepEqual([own.user, own.group], ['root', 'root']);
  const pm2 = await load({ uid: 0, gid: 0 });
  assert.deepEqual([pm2.specs[0]?.user, pm2.specs[0]?.group], ['0', '0']);
  assert.deepEqual(pm2.warnings, []);
  const both = await load({ user: 'root', uid: 'nobody' });
  assert.equal(both.specs[0]?.user, 'root');
  assert.match(both.warnings.join('\n'), /apps\[0\]\.uid: also set as 'user'; ignored/);
  assert.equal((await load({ user: null })).specs[0]?.user, null, 'null is not set, as PM2 reads it');
});

test("the user's HOME, USER, LOGNAME and SHELL replace the shell's, as systemd's User= sets them; the app's env still wins", async () => {
  const root = lookupUserSync('root');
  assert.ok(root);
  const spec = (await load({ user: 'root' })).specs[0] as AppSpec;
  assert.deepEqual([spec.env.HOME, spec.env.USER, spec.env.LOGNAME, spec.env.SHELL], [root.home, 'root', 'root', root.shell]);
  assert.equal(spec.env.PATH, '/usr/bin', 'the rest of the environment is the shell\'s');
  const mine = (await load({ user: 'root', env: { HOME: '/srv/app' } })).specs[0] as AppSpec;
  assert.equal(mine.env.HOME, '/srv/app');
  const groupOnly = (await load({ group: 'root' })).specs[0] as AppSpec;
  assert.equal(groupOnly.env.HOME, '/home/cli', 'a group alone keeps the user, and its environment');
});

test('an unknown user or group, or a value that is neither a name nor an id, is a problem on its key', async () => {
  assert.deepEqual(await problems({ user: 'herd-no-such-user' }),
    ['apps[0].user: no user "herd-no-such-user" on this machine (looked up in /etc/passwd and with getent)']);
  assert.deepEqual(await problems({ uid: 'root', gid: 'herd-no-such-group' }),
    ['apps[0].gid: no group "herd-no-such-group" on this machine (looked up in /etc/group and with getent)']);
  for (const bad of ['', 'two words', 'a:b', '-rf', -1, 1.5, true, {}]) {
    assert.match((await problems({ user: bad })).join(), /^apps\[0\]\.user: must be a user or group name, or a numeric id; got /, String(bad));
  }
});

test('the spec check refuses a user or group the loader would not write', () => {
  const spec = { user: 'nobody', group: null };
  const check = (value: unknown) => specProblems({ ...spec, user: value }, 'a').filter((p) => p.startsWith('a.user'));
  assert.deepEqual(check('nobody'), []);
  assert.deepEqual(check(null), []);
  assert.match(check(65534).join(), /a\.user must be a string: a user or group name, or a numeric id/);
  assert.match(check('x y').join(), /a\.user must be a string/);
});

function spec(extra: Partial<AppSpec>): AppSpec {
  return {
    name: 'api', script: '/srv/app/server.js', args: ['--port', '80'], cwd: '/srv/app', instances: 1, execMode: 'cluster', env: { A: 'b' },
    nodeArgs: ['--max-old-space-size=256'], interpreter: '/usr/bin/node', runner: 'node', instanceVar: 'NODE_APP_INSTANCE', user: 'app', group: null,
    ...extra,
  } as AppSpec;
}

const RUN_AS = { user: 'app', uid: 1000, group: 'app', gid: 1000, setpriv: '/usr/bin/setpriv' };

test('a worker with a user runs under setpriv (groups from initgroups, then gid and uid), which execs the same command in place', () => {
  const node = workerCommand(spec({}), 0, 7, RUN_AS);
  const bare = workerCommand(spec({}), 0, 7);
  assert.equal(node.file, '/usr/bin/setpriv');
  assert.deepEqual(node.args, ['--reuid=1000', '--regid=1000', '--init-groups', '--', bare.file, ...bare.args]);
  assert.deepEqual(node.env, bare.env, 'the environment is the app\'s, unchanged');
  assert.deepEqual(node.stdio, bare.stdio, 'the IPC channel and pipes pass through setpriv');
  assert.equal(node.agent, true);

  const py = workerCommand(spec({ runner: 'exec', execMode: 'fork', interpreter: '/usr/bin/python3', script: '/srv/app/app.py', nodeArgs: ['-u'] }), 1, 8, RUN_AS);
  assert.deepEqual([py.file, ...py.args], ['/usr/bin/setpriv', '--reuid=1000', '--regid=1000', '--init-groups', '--', '/usr/bin/python3', '-u', '/srv/app/app.py', '--port', '80']);
  const own = workerCommand(spec({ runner: 'exec', execMode: 'fork', interpreter: '', script: '/usr/bin/npm', args: ['start'] }), 1, 8, RUN_AS);
  assert.deepEqual([own.file, ...own.args].slice(4), ['--', '/usr/bin/npm', 'start']);
});

test('what a worker must reach as its user: node, herd\'s agent, the script, the cwd (an interpreter or the script itself without the agent)', () => {
  const node = workerFiles(spec({}));
  assert.deepEqual(node.run.map((f) => f.path), ['/usr/bin/node']);
  assert.deepEqual(node.read.map((f) => f.path)[1], '/srv/app/server.js');
  assert.match(node.read[0]?.path ?? '', /agent[/\\]main\.(js|ts)$/);
  assert.equal(node.cwd, '/srv/app');
  const sh = workerFiles(spec({ runner: 'exec', interpreter: '', script: '/srv/app/run.sh' }));
  assert.deepEqual([sh.run.map((f) => f.path), sh.read], [['/srv/app/run.sh'], []]);
});
