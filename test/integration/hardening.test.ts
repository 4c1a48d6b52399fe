import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HerdClient } from '../../src/client/client';
import { loadTarget } from '../../src/config/load';
import type { AppSpec } from '../../src/config/types';
import { alive, CLI, eventually, FIXTURES, freePort, get, herdHome, kill, list, NODE, runAs, secondUserProblem, type CliResult, running } from '../helpers';

interface Detail { events: { time: number; worker: number | null; message: string }[] }

test('a healthy worker killed with -9 again and again is replaced at once each time; backoff does not grow', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'chaos.config.json');
  // A long initial delay: with backoff doubling on every kill, the 4th kill would wait 8 s.
  writeFileSync(config, JSON.stringify({
    apps: [{
      name: 'api', script: path.join(FIXTURES, 'hello.js'), instances: 1, env: { PORT: String(port) },
      backoff: { initial: '1s', factor: 2 }, crashLoop: { minUptime: '200ms' },
    }],
  }));
  assert.equal((await herd(['start', config])).code, 0);
  for (let round = 0; round < 4; round++) {
    // Killed once it has served (been ready) for twice minUptime, as the
    // restart policy counts it: from its `online` event, not from its spawn
    // (on a loaded machine a worker can take longer than minUptime to get ready).
    const victim = await eventually(async () => {
      const w = (await list(herd))[0]?.workers[0];
      if (!w || w.status !== 'online') return undefined;
      const d = JSON.parse((await herd(['describe', 'api', '--json'])).stdout) as Detail;
      const online = d.events.filter((e) => e.message.startsWith(`pid ${w.pid} online`)).at(-1);
      return online && Date.now() - online.time >= 400 ? w : undefined;
    }, 15_000, 'a worker that has served');
    kill(victim.pid as number);
    await eventually(async () => {
      const w = (await list(herd))[0]?.workers[0];
      return w && w.pid !== victim.pid && w.status === 'online' ? w : undefined;
    }, 15_000, `replacement ${round + 1} online`);
  }
  const d = JSON.parse((await herd(['describe', 'api', '--json'])).stdout) as Detail;
  const decisions = d.events.map((e) => e.message).filter((m) => /^(replacing it at once|restarting it in)/.test(m));
  assert.equal(decisions.length, 4, decisions.join('\n'));
  for (const m of decisions) assert.match(m, /^replacing it at once \(it served \d/);
});

test('a worker that crashes at boot still backs off, growing, into the crash loop', async (t) => {
  const { herd } = herdHome(t);
  const r = await herd(['start', path.join(FIXTURES, 'crash-at-boot.js'), '--name', 'boom']);
  assert.equal(r.code, 1);
  const d = JSON.parse((await herd(['describe', 'boom', '--json'])).stdout) as Detail;
  const delays = d.events.map((e) => /^restarting it in (\d+)ms$/.exec(e.message)?.[1]).filter((x) => x !== undefined).map(Number);
  assert.ok(delays.length >= 2, d.events.map((e) => e.message).join('\n'));
  for (let i = 1; i < delays.length; i++) assert.ok((delays[i] as number) > (delays[i - 1] as number), delays.join());
});

test('herd list after the daemon and its apps died (a shim killed too) says so, with its pid and the apps herd remembers, and exits 1; herd kill forgets it, herd resurrect brings them back', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  const daemonPid = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  const detail = JSON.parse((await herd(['describe', 'api', '--json'])).stdout) as { shim: { pid: number } };
  const workers = (await list(herd))[0]?.workers.map((w) => w.pid as number) ?? [];
  t.after(() => workers.forEach((pid) => kill(pid)));
  await eventually(() => (/"name":"api"/.test(readFileSync(path.join(home, 'state.json'), 'utf8')) ? true : undefined), 10_000, 'api in state.json');
  kill(daemonPid);
  // With its shim alive, the next command would start a daemon that adopts the app; with the shim gone too, there is nothing to adopt.
  kill(detail.shim.pid);
  await eventually(() => (running(daemonPid) || running(detail.shim.pid) || workers.some(running) ? undefined : true), 15_000, 'the daemon, shim and worker to be gone');
  const r = await herd(['list']);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /HERD_ERR_DAEMON_DIED/);
  assert.match(r.stderr, new RegExp(`pid ${daemonPid}`));
  assert.match(r.stderr, /its apps went down with it/);
  assert.match(r.stderr, /1 app\(s\) remembered in .*state\.json; 1 ran: api\. `herd resurrect` starts them again/);
  const d = await herd(['describe', 'api']);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /HERD_ERR_DAEMON_DIED/);
  const k = await herd(['kill']);
  assert.equal(k.code, 0);
  assert.match(k.stdout, /had died/);
  const after = await herd(['list', '--json']);
  assert.equal(after.code, 0, after.stderr);
  assert.deepEqual(JSON.parse(after.stdout), []);
  const back = await herd(['resurrect']);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /started api/);
  assert.equal((await list(herd))[0]?.status, 'online');
  assert.equal((await get(port)).status, 200);
});


test("another user's herd list gets permission denied on HERD_HOME, not 'no apps'", { skip: secondUserProblem() }, async (t) => {
  const { home, herd } = herdHome(t);
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(await freePort()) })).code, 0);
  const r = await runAs('nobody', ['list'], { HERD_HOME: home });
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /HERD_ERR_PERMISSION/);
  assert.match(r.stderr, /permission denied/);
});

test('waitReady: a worker that never signals ready fails herd start after listenTimeout, with the reason', async (t) => {
  const { home, herd } = herdHome(t);
  const config = path.join(home, 'never.config.json');
  writeFileSync(config, JSON.stringify({
    apps: [{ name: 'never', script: path.join(FIXTURES, 'never-ready.js'), waitReady: true, listenTimeout: '1s', crashLoop: { maxCrashes: 2 } }],
  }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /HERD_ERR_START_FAILED/);
  assert.match(r.stderr, /no ready signal within 1s/);
  const [app] = await list(herd);
  assert.notEqual(app?.status, 'online');
  assert.ok(app?.workers.every((w) => w.status !== 'online'));
});

test('bad specs on the control socket are refused before anything changes; a runaway instances count in under a second', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  const { specs } = await loadTarget(path.join(FIXTURES, 'hello.js'), { cwd: FIXTURES, env: { PORT: String(port) }, envName: null, overrides: {}, interpreter: NODE, cpus: 2 });
  const good = specs[0] as AppSpec;
  const client = await HerdClient.connect({ home });
  t.after(() => client.close());
  const refuse = async (spec: unknown, pattern: RegExp) => {
    const started = Date.now();
    await assert.rejects(client.request({ type: 'start', apps: [spec as AppSpec], settings: null }), (err: Error & { code?: string }) => {
      assert.match(err.message, pattern);
      return true;
    });
    return Date.now() - started;
  };
  const runaway = await refuse({ ...good, name: 'many', instances: 100_000 }, /instances 100000 is more than the limit of 1024/);
  assert.ok(runaway < 1000, `refused in ${runaway} ms`);
  await refuse({ ...good, name: 'args', nodeArgs: [1, 2] }, /nodeArgs must be an array of strings/);
  await refuse({ ...good, name: 'env', env: { PORT: {} } }, /env\.PORT must be a string/);
  await refuse({ ...good, name: 'big', env: { BIG: 'x'.repeat(8 * 1024 * 1024) } }, /env\.BIG is too big \(8\.0MB\)/);
  const mem = Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) * 1024;
  const tooMany = Math.ceil(mem / (25 * 1024 * 1024)) + 1;
  if (tooMany <= 1024) await refuse({ ...good, name: 'capacity', instances: tooMany }, /HERD_ERR_CAPACITY|need at least \d+MB/);
  // Nothing changed: the one good app, alone, still serving.
  const apps = await list(herd);
  assert.deepEqual(apps.map((a) => a.name), ['api']);
  assert.equal(apps[0]?.status, 'online');
});

test("the inspector opened for a stack capture hands its URL to no other local user (/json/list)", { skip: secondUserProblem() }, async (t) => {
  const { home, herd } = herdHome(t);
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(await freePort()) })).code, 0);
  const pid = (await list(herd))[0]?.workers[0]?.pid as number;
  // Open the worker's inspector as the stall watchdog does (SIGUSR1); the test, not herd, asked, so its line is logged.
  kill(pid, 'SIGUSR1');
  const port = await eventually(() => {
    const m = /Debugger listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(readFileSync(path.join(home, 'logs', 'api-err.log'), 'utf8'));
    return m ? Number(m[1]) : undefined;
  }, 10_000, 'the inspector to open');
  const probe = `require('http').get('http://127.0.0.1:${port}/json/list', (r) => { let b = ''; r.on('data', (c) => b += c); r.on('end', () => console.log(r.statusCode, b.includes('webSocketDebuggerUrl'))); }).on('error', (e) => console.log('error', e.code))`;
  const r = await runAsNode('nobody', ['-e', probe]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /true/, 'the WebSocket URL was served');
  assert.match(r.stdout, /^(404 false|error)/);
});

/** node as another local user. */
function runAsNode(user: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('runuser', ['-u', user, '--', NODE, ...args], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('a log directory every user can write is refused; in a sticky one a planted symlink is never written through', { skip: secondUserProblem() }, async (t) => {
  const { home, herd } = herdHome(t);
  const open = mkdtempSync(path.join(tmpdir(), 'herd-openlogs-'));
  t.after(() => rmSync(open, { recursive: true, force: true }));
  chmodSync(open, 0o777);
  const port = String(await freePort());
  const refused = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: port, HERD_LOG_DIR: open });
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(refused.stderr, /HERD_ERR_LOG_DIR_UNSAFE/);
  assert.match(refused.stderr, /writable by every user/);

  // Sticky and owned by the daemon's user (root), like /tmp: allowed. Another user plants a link where api-out.log goes.
  const sticky = mkdtempSync(path.join(tmpdir(), 'herd-stickylogs-'));
  t.after(() => rmSync(sticky, { recursive: true, force: true }));
  chmodSync(sticky, 0o1777);
  const target = path.join(sticky, 'victim.txt');
  writeFileSync(target, 'precious\n');
  const planted = await runAsNode('nobody', ['-e', `require('fs').symlinkSync(${JSON.stringify(target)}, ${JSON.stringify(path.join(sticky, 'api-out.log'))})`]);
  assert.equal(planted.code, 0, planted.stderr);
  await runCliIn(home, ['kill']);
  const r = await herd(['start', path.join(FIXTURES, 'log-server.js'), '--name', 'api'], { PORT: port, HERD_LOG_DIR: sticky });
  assert.equal(r.code, 0, r.stderr);
  await get(Number(port), '/say?msg=hello');
  await eventually(async () => {
    const d = JSON.parse((await herd(['describe', 'api', '--json'], { HERD_LOG_DIR: sticky })).stdout) as { logLinesDropped: number };
    return d.logLinesDropped > 0 ? true : undefined;
  }, 10_000, 'the lines meant for the planted link to be counted as dropped');
  assert.equal(readFileSync(target, 'utf8'), 'precious\n');
  assert.ok(lstatSync(path.join(sticky, 'api-out.log')).isSymbolicLink());
});

function runCliIn(home: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(NODE, [CLI, ...args], { env: { ...process.env, HERD_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('a worker whose app closed its server while the process lives on is not online and is replaced, new first, without a health check', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'close-server.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  const before = (await list(herd))[0]?.workers[0]?.pid as number;
  t.after(() => kill(before));
  assert.equal((await get(port, '/close')).body, 'closing\n');
  const replaced = await eventually(async () => {
    const w = (await list(herd))[0]?.workers.find((x) => x.id === 0);
    return w && w.pid !== before && w.status === 'online' ? w : undefined;
  }, 20_000, 'a new worker in place of the one that serves nothing');
  assert.equal(Number((await get(port)).body), replaced.pid);
  const d = JSON.parse((await herd(['describe', 'api', '--json'])).stdout) as Detail;
  assert.ok(d.events.some((e) => /the app closed its listening server \(pid \d+ still runs, serving nothing\)/.test(e.message)), d.events.map((e) => e.message).join('\n'));
});
