import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { orphanZombies, readStat } from '../../src/cli/pidOne';
import { parsePasswdLine } from '../../src/startup/serviceUser';
import { serviceOf } from '../../src/startup/systemd';
import { renderUnit, servicePath, unitName, type UnitInputs } from '../../src/startup/systemdUnit';

const INPUTS: UnitInputs = {
  user: 'alice',
  herdHome: '/home/alice/.herd',
  logDir: null,
  node: '/opt/node/bin/node',
  cli: '/usr/lib/node_modules/herd-runtime/dist/cli/main.js',
  path: servicePath('/opt/node/bin'),
  stopTimeoutSec: 120,
  documentation: null,
};

/** `Key=value` lines of the unit, comments and sections left out. */
function settings(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
}

test('the unit: forking daemon, resurrect after start, drain on stop, what crash survival needs', () => {
  const s = settings(renderUnit(INPUTS));
  const one = (key: string) => {
    const v = s.get(key);
    assert.equal(v?.length, 1, `${key}: ${JSON.stringify(v)}`);
    return v?.[0];
  };
  assert.equal(unitName('alice'), 'herd-alice.service');
  assert.equal(one('Type'), 'forking');
  assert.equal(one('User'), 'alice');
  assert.equal(one('PIDFile'), '/home/alice/.herd/daemon.pid');
  assert.equal(one('ExecStart'), '/opt/node/bin/node /usr/lib/node_modules/herd-runtime/dist/cli/main.js daemon');
  assert.equal(one('ExecStartPost'), '-/opt/node/bin/node /usr/lib/node_modules/herd-runtime/dist/cli/main.js resurrect');
  assert.equal(one('ExecReload'), '/opt/node/bin/node /usr/lib/node_modules/herd-runtime/dist/cli/main.js reload all');
  assert.equal(one('ExecStop'), `/bin/sh -c 'test -z "$$MAINPID" || exec "$$0" "$$1" kill' /opt/node/bin/node /usr/lib/node_modules/herd-runtime/dist/cli/main.js`);
  assert.equal(one('KillMode'), 'process');
  assert.equal(one('Restart'), 'always');
  assert.equal(one('TimeoutStopSec'), '120');
  assert.equal(one('LimitNOFILE'), '1048576');
  assert.equal(one('WantedBy'), 'multi-user.target');
  assert.deepEqual(s.get('Environment'), ['HERD_HOME=/home/alice/.herd', 'PATH=/opt/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  assert.equal(s.get('Documentation'), undefined);
});

test('the ExecStop script drains only while systemd knows a main process', async () => {
  // What /bin/sh receives once systemd has turned $$ into $.
  const { spawnSync } = await import('node:child_process');
  const script = 'test -z "$MAINPID" || exec "$0" "$1" kill';
  const run = (env: Record<string, string>) => spawnSync('/bin/sh', ['-c', script, '/bin/echo', 'herd'], { env, encoding: 'utf8' });
  assert.equal(run({ MAINPID: '4242' }).stdout, 'herd kill\n');
  const gone = run({});
  assert.equal(gone.status, 0);
  assert.equal(gone.stdout, '');
});

test('paths with blanks, % and $ are quoted and escaped for systemd; HERD_LOG_DIR is carried', () => {
  const unit = renderUnit({
    ...INPUTS,
    herdHome: '/srv/my apps/%h/.herd',
    logDir: '/var/log/herd',
    node: '/opt/node $1/bin/node',
    cli: '/opt/herd/dist/cli/main.js',
    documentation: 'file:///opt/herd/docs/systemd%20page.md',
  });
  const s = settings(unit);
  assert.deepEqual(s.get('Environment')?.slice(0, 2), ['"HERD_HOME=/srv/my apps/%%h/.herd"', 'HERD_LOG_DIR=/var/log/herd']);
  assert.deepEqual(s.get('PIDFile'), ['/srv/my apps/%%h/.herd/daemon.pid']);
  assert.deepEqual(s.get('ExecStart'), ['"/opt/node $$1/bin/node" /opt/herd/dist/cli/main.js daemon']);
  assert.deepEqual(s.get('Documentation'), ['file:///opt/herd/docs/systemd%%20page.md']);
  assert.throws(() => renderUnit({ ...INPUTS, herdHome: '/a\nExecStart=/bin/evil' }), /line break/);
  assert.throws(() => renderUnit({ ...INPUTS, user: 'a b' }), /user name/);
});

test('the PATH puts the node binary first, once', () => {
  assert.equal(servicePath('/usr/bin'), '/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin');
});

test('passwd lines', () => {
  assert.deepEqual(parsePasswdLine('alice:x:1000:1000:Alice A,,,:/home/alice:/bin/bash'), { name: 'alice', uid: 1000, home: '/home/alice' });
  assert.equal(parsePasswdLine('garbage'), null);
  assert.equal(parsePasswdLine(''), null);
});

test('zombies of a parent, read from /proc/PID/stat even when the name holds ") "', (t) => {
  const proc = mkdtempSync(path.join(tmpdir(), 'herd-proc-'));
  t.after(() => rmSync(proc, { recursive: true, force: true }));
  const add = (pid: number, line: string) => {
    mkdirSync(path.join(proc, String(pid)));
    writeFileSync(path.join(proc, String(pid), 'stat'), line);
  };
  add(7, '7 (sleep) Z 1 7 1 0 -1');
  add(8, '8 (odd) name) Z 1 8 1 0 -1');
  add(9, '9 (node) S 1 9 1 0 -1');
  add(10, '10 (sh) Z 9 10 1 0 -1');
  mkdirSync(path.join(proc, 'self'));
  assert.deepEqual(orphanZombies(1, proc).sort((a, b) => a - b), [7, 8]);
  assert.deepEqual(readStat(path.join(proc, '8', 'stat')), { state: 'Z', ppid: 1 });
  assert.equal(readStat(path.join(proc, 'nope', 'stat')), null);
});

test('the systemd service a process runs in, from /proc/PID/cgroup (unified or hybrid)', (t) => {
  const proc = mkdtempSync(path.join(tmpdir(), 'herd-proc-'));
  t.after(() => rmSync(proc, { recursive: true, force: true }));
  const add = (pid: number, text: string) => {
    mkdirSync(path.join(proc, String(pid)));
    writeFileSync(path.join(proc, String(pid), 'cgroup'), text);
  };
  add(1, '0::/system.slice/herd-alice.service\n');
  add(2, '12:pids:/system.slice/herd-alice.service\n1:name=systemd:/system.slice/herd-bob.service\n0::/\n');
  add(3, '0::/user.slice/user-1000.slice/session-2.scope\n');
  add(4, '0::/\n');
  assert.equal(serviceOf(1, proc), 'herd-alice.service');
  assert.equal(serviceOf(2, proc), 'herd-bob.service');
  assert.equal(serviceOf(3, proc), null);
  assert.equal(serviceOf(4, proc), null);
  assert.equal(serviceOf(5, proc), null);
});
