import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, freePort, get, herdHome, kill, list, load, running as alive, type CliResult } from '../helpers';

type Herd = (args: string[], env?: Record<string, string>) => Promise<CliResult>;
interface Detail {
  shim: { pid: number } | null;
  reason: string;
  workers: { id: number; pid: number | null; status: string }[];
  events: { worker: number | null; message: string }[];
}

async function describe(herd: Herd, name: string): Promise<Detail> {
  const r = await herd(['describe', name, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Detail;
}

function daemonPid(home: string): number {
  return Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
}

async function killDaemon(home: string): Promise<number> {
  const pid = daemonPid(home);
  kill(pid);
  await eventually(() => (alive(pid) ? undefined : true), 10_000, 'the daemon to die');
  return pid;
}

/** The app in state.json: what a daemon killed right after a command might not have written yet (100 ms debounce). */
async function saved(home: string, name: string): Promise<void> {
  await eventually(() => (readFileSync(path.join(home, 'state.json'), 'utf8').includes(`"name":"${name}"`) ? true : undefined), 10_000, `${name} in state.json`);
}

/**
 * Every numbered line of numbered-lines.js in the app's log, per pid: the
 * numbers each pid printed must be 1..max, each once.
 */
function numberedLines(home: string, app: string): Map<number, { count: number; max: number; missing: number; repeated: number }> {
  const seen = new Map<number, Map<number, number>>();
  for (const line of readFileSync(path.join(home, 'logs', `${app}-out.log`), 'utf8').split('\n')) {
    const m = /pid=(\d+) n=(\d+)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const counts = seen.get(pid) ?? new Map<number, number>();
    counts.set(Number(m[2]), (counts.get(Number(m[2])) ?? 0) + 1);
    seen.set(pid, counts);
  }
  const result = new Map<number, { count: number; max: number; missing: number; repeated: number }>();
  for (const [pid, counts] of seen) {
    const max = Math.max(...counts.keys());
    let missing = 0;
    for (let n = 1; n <= max; n++) if (!counts.has(n)) missing++;
    const repeated = [...counts.values()].filter((c) => c > 1).length;
    result.set(pid, { count: counts.size, max, missing, repeated });
  }
  return result;
}

test('kill -9 of the daemon under load: 0 failed requests, a new daemon adopts the same workers, a reload after it loses nothing, and no log line is lost or doubled', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const r = await herd(['start', path.join(FIXTURES, 'numbered-lines.js'), '--name', 'num', '-i', '2'], { PORT: String(port) });
  assert.equal(r.code, 0, r.stderr);
  await saved(home, 'num');
  const before = (await list(herd))[0]?.workers.map((w) => w.pid) ?? [];
  const traffic = load(port, 50);
  const dead = await killDaemon(home);
  // The scenario: five seconds with no daemon at all (not a wait for anything), the workers serving and logging.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const apps = await list(herd);
  assert.deepEqual(apps[0]?.workers.map((w) => w.pid), before, 'the same workers, adopted');
  assert.ok(apps[0]?.workers.every((w) => w.status === 'online'), JSON.stringify(apps));
  assert.notEqual(daemonPid(home), dead, 'a new daemon');
  const d = await describe(herd, 'num');
  assert.match(d.reason, /adopted from shim pid \d+ by a new daemon \(the last daemon, pid \d+, did not shut down\)/);
  const reload = await herd(['reload', 'num']);
  assert.equal(reload.code, 0, reload.stderr);
  const after = (await list(herd))[0]?.workers.map((w) => w.pid) ?? [];
  assert.ok(after.every((pid) => !before.includes(pid)), 'the reload replaced both');
  const stats = await traffic.stop();
  assert.equal(stats.failed, 0, stats.errors.join('; '));
  assert.equal(stats.non2xx, 0);
  assert.ok(stats.ok > 0);
  // Stop the workers so that every line they printed is in the file, then read it.
  assert.equal((await herd(['stop', 'num'])).code, 0);
  const lines = numberedLines(home, 'num');
  for (const pid of [...before, ...after]) {
    const l = lines.get(pid as number);
    assert.ok(l && l.max > 0, `lines of pid ${pid}`);
    assert.equal(l.missing, 0, `pid ${pid}: ${l.missing} of ${l.max} numbered lines missing`);
    assert.equal(l.repeated, 0, `pid ${pid}: ${l.repeated} lines twice`);
  }
  // The dead time is in the log: each old worker printed its lines (200 a second) all through it.
  for (const pid of before) assert.ok((lines.get(pid as number)?.max ?? 0) > 5 * 100, `pid ${pid} logged through the 5 s`);
});

test('a worker killed while no daemon runs is replaced once a new one is up; one killed after adoption is replaced too', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) })).code, 0);
  // A reload counts a restart in each slot: the count survives the daemon (state.json keeps it).
  assert.equal((await herd(['reload', 'api'])).code, 0);
  await eventually(() => (readFileSync(path.join(home, 'state.json'), 'utf8').includes('"restarts":{"0":1,"1":1}') ? true : undefined), 10_000, 'restarts in state.json');
  const [w0, w1] = (await list(herd))[0]?.workers.map((w) => w.pid as number) ?? [];
  await killDaemon(home);
  kill(w0 as number);
  await eventually(() => (alive(w0 as number) ? undefined : true), 10_000, 'worker 0 to die');
  // Any command brings a daemon up, which adopts the app and replaces the dead worker.
  const replaced = await eventually(async () => {
    const ws = (await list(herd))[0]?.workers ?? [];
    return ws.length === 2 && ws.every((w) => w.status === 'online') && ws[0]?.pid !== w0 ? ws : undefined;
  }, 15_000, 'slot 0 replaced');
  assert.equal(replaced[1]?.pid, w1, 'worker 1 adopted as it was');
  assert.deepEqual(replaced.map((w) => w.restarts), [2, 1], 'restart counts go on from the saved ones');
  const d = await describe(herd, 'api');
  assert.ok(d.events.some((e) => e.worker === 0 && new RegExp(`pid ${w0} killed by SIGKILL while no daemon was running`).test(e.message)), JSON.stringify(d.events));
  // After adoption the new daemon hears of an exit from the shim at once (it is the worker's parent).
  kill(w1 as number);
  const again = await eventually(async () => {
    const ws = (await list(herd))[0]?.workers ?? [];
    return ws[1]?.pid !== w1 && ws[1]?.status === 'online' ? ws : undefined;
  }, 15_000, 'slot 1 replaced');
  assert.equal(again[0]?.pid, replaced[0]?.pid);
  assert.equal((await get(port)).status, 200);
});

test('a fork-mode app and a stopped app come back after kill -9: the fork worker adopted and reloaded on its port, the stopped one listed as stopped', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'forked', '-x'], { PORT: String(port) })).code, 0);
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'idle'], { PORT: String(await freePort()) })).code, 0);
  assert.equal((await herd(['stop', 'idle'])).code, 0);
  await eventually(() => (/"name":"idle","spec".*"stopped":true/.test(readFileSync(path.join(home, 'state.json'), 'utf8')) ? true : undefined), 10_000, 'idle stopped in state.json');
  const pid = (await list(herd)).find((a) => a.name === 'forked')?.workers[0]?.pid;
  await killDaemon(home);
  const apps = await list(herd);
  assert.equal(apps.find((a) => a.name === 'forked')?.workers[0]?.pid, pid);
  assert.equal(apps.find((a) => a.name === 'forked')?.status, 'online');
  assert.equal(apps.find((a) => a.name === 'idle')?.status, 'stopped');
  const traffic = load(port, 10);
  const reload = await herd(['reload', 'forked']);
  assert.equal(reload.code, 0, reload.stderr);
  const stats = await traffic.stop();
  assert.equal(stats.failed, 0, stats.errors.join('; '));
  assert.notEqual((await list(herd)).find((a) => a.name === 'forked')?.workers[0]?.pid, pid);
});

test('state.json corrupt when a daemon died: the new daemon still adopts the app from its shim (reload and scale work), and its log names the file', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) })).code, 0);
  await saved(home, 'api');
  const before = (await list(herd))[0]?.workers.map((w) => w.pid);
  await killDaemon(home);
  writeFileSync(path.join(home, 'state.json'), '{"version":1,"kind":"herd-state","apps":[{"na');
  const r = await herd(['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const apps = JSON.parse(r.stdout) as { name: string; workers: { pid: number }[] }[];
  assert.deepEqual(apps[0]?.workers.map((w) => w.pid), before);
  assert.match(r.stderr, /state\.json.*truncated/);
  assert.match(readFileSync(path.join(home, 'daemon.log'), 'utf8'), /state\.json.*truncated/);
  // Its spec came from the shim: a reload and a scale work with it.
  assert.equal((await herd(['reload', 'api'])).code, 0);
  const up = await herd(['scale', 'api', '3']);
  assert.equal(up.code, 0, up.stderr);
  const three = (await list(herd))[0]?.workers ?? [];
  assert.equal(three.filter((w) => w.status === 'online').length, 3, JSON.stringify(three));
  assert.equal((await herd(['scale', 'api', '1'])).code, 0);
  assert.equal((await list(herd))[0]?.workers.length, 1);
  assert.equal((await get(port)).status, 200);
});

test('herd kill after the daemon died: a new daemon adopts the apps, then stops them; nothing of this HERD_HOME is left', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) })).code, 0);
  await saved(home, 'api');
  const shim = (await describe(herd, 'api')).shim?.pid as number;
  const workers = (await list(herd))[0]?.workers.map((w) => w.pid as number) ?? [];
  await killDaemon(home);
  const k = await herd(['kill']);
  assert.equal(k.code, 0, k.stderr);
  assert.match(k.stdout, /daemon stopped \(stopped api\)/);
  for (const pid of [shim, ...workers]) assert.equal(alive(pid), false, `pid ${pid} is gone`);
  assert.deepEqual(readdirSync(path.join(home, 'run')), []);
  // The list is kept: resurrect starts it again.
  const back = await herd(['resurrect']);
  assert.equal(back.code, 0, back.stderr);
  assert.equal((await list(herd))[0]?.status, 'online');
});

test('kill -9 of the daemon: the new daemon serves /ready and /metrics again where the last one did (settings kept in state.json)', async (t) => {
  const { home, herd } = herdHome(t);
  const [app, health, metrics] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(home, 'herd.config.js');
  writeFileSync(config, `module.exports = ${JSON.stringify({
    // shutdownDelay: the test's `herd kill` holds /ready at 503 that long (5 s by default) before the apps drain.
    health: { port: health, shutdownDelay: '200ms' },
    metrics: { prometheus: { port: metrics } },
    apps: [{ name: 'api', script: path.join(FIXTURES, 'hello.js'), instances: 1, env: { PORT: String(app) } }],
  })};\n`);
  assert.equal((await herd(['start', config])).code, 0);
  await eventually(() => (/"settings":\{"health":\{/.test(readFileSync(path.join(home, 'state.json'), 'utf8')) ? true : undefined), 10_000, 'the settings in state.json');
  await killDaemon(home);
  assert.equal((await list(herd)).find((a) => a.name === 'api')?.status, 'online');
  const ready = await get(health, '/ready');
  assert.equal(ready.status, 200, ready.body);
  const scraped = await get(metrics, '/metrics');
  assert.match(scraped.body, /herd_/);
  assert.match(readFileSync(path.join(home, 'daemon.log'), 'utf8'), /settings of the last daemon applied again: health, prometheus/);
});
