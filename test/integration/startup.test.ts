import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { systemdRunning } from '../../src/startup/systemd';
import { alive, CLI, herdHome, list, NODE, runCli, secondUserProblem, type CliResult } from '../helpers';

/** systemd-analyze comes with Debian's systemd package; CI installs it (.ci/run). */
const ANALYZE = spawnSync('systemd-analyze', ['--version']).error === undefined;
const noAnalyze = !ANALYZE && !process.env.CI && 'no systemd-analyze here (apt-get install systemd); CI installs it';

/** `systemd-analyze verify` of a unit file: exit code and everything it said. */
function verify(file: string): { status: number | null; said: string } {
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  return { status: r.status, said: `${r.stdout}${r.stderr}`.trim() };
}

test('herd startup --print: a unit that systemd-analyze verify accepts without a word, for this user and with --user', { skip: noAnalyze }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const me = userInfo().username;
  // A HERD_HOME with a blank and a % in it: both need escaping in a unit.
  const home = path.join(dir, 'state dir %x');
  const r = await runCli(['startup', '--print'], { HERD_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const file = path.join(dir, `herd-${me}.service`);
  writeFileSync(file, r.stdout);
  assert.match(r.stdout, /^KillMode=process$/m);
  assert.match(r.stdout, new RegExp(`^User=${me}$`, 'm'));
  // The executables are the real ones: verify checks that they exist.
  assert.match(r.stdout, new RegExp(`^ExecStart=${realpathSync(NODE).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ${CLI.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} daemon$`, 'm'));
  const v = verify(file);
  assert.equal(v.status, 0, v.said);
  assert.equal(v.said, '', 'no warning either');

  // --user: that user's ~/.herd (HERD_HOME unset), written as that user.
  const env = { ...process.env };
  delete env.HERD_HOME;
  const other = await new Promise<CliResult>((resolve) => {
    const child = spawn(NODE, [CLI, 'startup', 'systemd', '--user', 'root', '--print'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /^User=root$/m);
  assert.match(other.stdout, /^Environment=HERD_HOME=\/root\/\.herd$/m);
  const rootFile = path.join(dir, 'herd-root.service');
  writeFileSync(rootFile, other.stdout);
  const w = verify(rootFile);
  assert.equal(w.status, 0, w.said);
  assert.equal(w.said, '');
});

test('herd startup: bad platform or user exit 2; without root it says what to run and writes nothing', async () => {
  const platform = await runCli(['startup', 'upstart', '--print'], {});
  assert.equal(platform.code, 2);
  assert.match(platform.stderr, /systemd units only; got "upstart"/);
  const user = await runCli(['startup', '--user', 'no-such-user-here', '--print'], {});
  assert.equal(user.code, 2);
  assert.match(user.stderr, /--user no-such-user-here: no such user/);
  const extra = await runCli(['unstartup', 'systemd', 'more'], {});
  assert.equal(extra.code, 2);
});

test('herd startup as a user other than root: exit 1, the sudo command with absolute paths, nothing written', { skip: secondUserProblem() }, async () => {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', NODE, CLI, 'startup'], { encoding: 'utf8', cwd: '/', env: { ...process.env, HERD_HOME: '/tmp/herd-nobody-home' } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /writing \/etc\/systemd\/system\/herd-nobody\.service needs root \[HERD_ERR_STARTUP_ROOT\]/);
  assert.ok(r.stderr.includes(`run: sudo env HERD_HOME=/tmp/herd-nobody-home ${NODE} ${CLI} startup systemd --user nobody`), r.stderr);
  assert.equal(existsSync('/etc/systemd/system/herd-nobody.service'), false);
  const u = spawnSync('runuser', ['-u', 'nobody', '--', NODE, CLI, 'unstartup'], { encoding: 'utf8', cwd: '/' });
  assert.equal(u.status, 1);
  assert.match(u.stderr, /HERD_ERR_STARTUP_ROOT/);
});

test('herd startup as root writes /etc/systemd/system/herd-<user>.service (0644, verified), says it could not enable it without systemd; herd unstartup removes it', { skip: rootWriteProblem() }, async (t) => {
  const me = userInfo().username;
  const file = `/etc/systemd/system/herd-${me}.service`;
  t.after(() => rmSync(file, { force: true }));
  const home = mkdtempSync(path.join(tmpdir(), 'herd-startup-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const r = await runCli(['startup'], { HERD_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`wrote ${file}: at boot, herd's daemon runs as ${me} with HERD_HOME=${home}`));
  assert.match(r.stdout, /systemd is not running on this machine .* the unit is not enabled; where it runs: systemctl daemon-reload && systemctl enable herd-/);
  assert.equal(statSync(file).mode & 0o777, 0o644);
  const printed = await runCli(['startup', '--print'], { HERD_HOME: home });
  assert.equal(readFileSync(file, 'utf8'), printed.stdout);
  if (ANALYZE) {
    const v = verify(file);
    assert.equal(v.status, 0, v.said);
  }
  const again = await runCli(['startup'], { HERD_HOME: home });
  assert.equal(again.code, 0, 'writing it again replaces it');

  const u = await runCli(['unstartup'], {});
  assert.equal(u.code, 0, u.stderr);
  assert.match(u.stdout, new RegExp(`removed ${file} \\(systemd is not running`));
  assert.equal(existsSync(file), false);
  const none = await runCli(['unstartup', 'systemd'], {});
  assert.equal(none.code, 0);
  assert.match(none.stdout, /nothing to remove/);
});

test('herd daemon (the unit\'s ExecStart): returns once the daemon answers and its pid file is written; a second one is an error', async (t) => {
  const { home, herd } = herdHome(t);
  const r = await herd(['daemon']);
  assert.equal(r.code, 0, r.stderr);
  const pid = Number(/daemon started \(pid (\d+)\)/.exec(r.stdout)?.[1]);
  // What systemd's Type=forking reads when ExecStart has exited.
  assert.equal(Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8')), pid);
  assert.ok(alive(pid));
  assert.deepEqual(await list(herd), []);
  const second = await herd(['daemon']);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /already running .* \[HERD_ERR_DAEMON_RUNNING\]/);
  assert.match(second.stderr, new RegExp(`its pid is ${pid}`));
  const json = await herd(['kill']);
  assert.equal(json.code, 0);
  const again = await herd(['daemon', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(Number.isInteger((JSON.parse(again.stdout) as { pid: number }).pid));
});

/** Why this machine cannot take the root test, or false. */
function rootWriteProblem(): string | false {
  if (process.getuid?.() !== 0) return 'needs root: it writes in /etc/systemd/system';
  // On a machine booted with systemd it would enable a real unit.
  if (systemdRunning()) return 'systemd runs this machine: the test would enable a real unit';
  if (!existsSync('/etc/systemd/system')) return 'no /etc/systemd/system (apt-get install systemd)';
  const file = `/etc/systemd/system/herd-${userInfo().username}.service`;
  return existsSync(file) ? `${file} exists already: not the test's to replace` : false;
}

