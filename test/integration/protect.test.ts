import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { CLI, eventually, FIXTURES, freePort, get, herdHome, kill, list, load, NODE, runCli, type CliResult } from '../helpers';

type Herd = (args: string[], env?: Record<string, string>) => Promise<CliResult>;
interface Detail {
  events: { time: number; worker: number | null; message: string }[];
  workers: { id: number; pid: number | null; status: string; shed: number }[];
  lastStderr: string[];
}

/** An ecosystem file with one app in the test's home; `extra` is spliced into the app object. */
function config(home: string, script: string, port: number, extra: string): string {
  const file = path.join(home, 'herd.config.js');
  writeFileSync(file, `module.exports = { apps: [{ name: 'app', script: ${JSON.stringify(path.join(FIXTURES, script))}, env: { PORT: ${port} }, ${extra} }] };\n`);
  return file;
}

async function describe(herd: Herd, name = 'app'): Promise<Detail> {
  const r = await herd(['describe', name, '--json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Detail;
}

/** Time of the daemon event "pid <pid> online", once there is one. */
function onlineAt(d: Detail, pid: number): number | undefined {
  return d.events.find((e) => e.message.startsWith(`pid ${pid} online`))?.time;
}

test('stall watchdog: a worker blocked for ever is killed with its stack and replaced; the other keeps serving', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const stallTimeout = 3000;
  assert.equal((await herd(['start', config(home, 'stall.js', port, `instances: 2, stallTimeout: ${stallTimeout}`)])).code, 0);
  const [before] = await list(herd);
  const pids = before?.workers.map((w) => w.pid) ?? [];
  void get(port, '/block').catch(() => undefined);
  const blockedAt = await eventually(() => {
    const m = /blocking \d+ at (\d+)/.exec(readFileSync(path.join(home, 'logs', 'app-out.log'), 'utf8'));
    return m ? Number(m[1]) : undefined;
  }, 10_000, 'a worker to block');
  // Fresh connections all along: the stuck worker takes none, the other serves them.
  const traffic = load(port, 4, '/', false);
  const detail = await eventually(async () => {
    const d = await describe(herd);
    const fresh = d.workers.find((w) => w.status === 'online' && w.pid !== null && !pids.includes(w.pid));
    return fresh?.pid && onlineAt(d, fresh.pid) !== undefined ? { d, pid: fresh.pid } : undefined;
  }, 30_000, 'the stuck worker to be replaced');
  const stats = await traffic.stop();
  assert.ok(stats.ok > 0);
  assert.deepEqual({ failed: stats.failed, non2xx: stats.non2xx, errors: stats.errors }, { failed: 0, non2xx: 0, errors: [] });
  // The bound: replaced within the watchdog limit plus 2 s.
  const replacedAfter = (onlineAt(detail.d, detail.pid) ?? Infinity) - blockedAt;
  const timeline = detail.d.events.map((e) => `${e.time - blockedAt}ms ${e.message.split('\n')[0] ?? ''}`).join('; ');
  assert.ok(replacedAfter <= stallTimeout + 2000, `replaced ${replacedAfter}ms after it blocked: ${timeline}`);
  assert.match(detail.d.events.map((e) => e.message).join('\n'), /event loop stalled/);
  // Where it was stuck, from the inspector. The stack is read while the
  // replacement starts (up to 1 s), so it may be logged just after it is online.
  await eventually(async () => ((await describe(herd)).events.some((e) => /at spinForever \(.*stall\.js:4:/.test(e.message)) ? true : undefined), 10_000, 'the stuck worker\'s stack in the events');
  await eventually(() => (/at spinForever/.test(readFileSync(path.join(home, 'logs', 'app-err.log'), 'utf8')) ? true : undefined), 10_000, 'the stack in the err log');
});

test('health check: a worker whose health path answers 500 is replaced, new first', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const interval = 1000;
  const failures = 3;
  const file = config(home, 'health.js', port, `instances: 2, healthCheck: { path: '/health', interval: ${interval}, timeout: 1000, failures: ${failures} }`);
  assert.equal((await herd(['start', file])).code, 0);
  const [before] = await list(herd);
  const pids = before?.workers.map((w) => w.pid) ?? [];
  const traffic = load(port, 4);
  const sickAt = Date.now();
  const sickPid = Number((await get(port, '/sick')).body);
  assert.ok(pids.includes(sickPid));
  const found = await eventually(async () => {
    const d = await describe(herd);
    const started = d.events.find((e) => /^pid \d+ starting/.test(e.message) && e.time > sickAt);
    const fresh = d.workers.find((w) => w.status === 'online' && w.pid !== null && !pids.includes(w.pid));
    return started && fresh && !d.workers.some((w) => w.pid === sickPid) ? { d, started } : undefined;
  }, 30_000, 'the sick worker to be replaced');
  const stats = await traffic.stop();
  assert.deepEqual({ failed: stats.failed, errors: stats.errors }, { failed: 0, errors: [] });
  // Within interval x failures (plus the new worker's own boot, which the 'starting' event excludes).
  const detectedAfter = found.started.time - sickAt;
  assert.ok(detectedAfter <= interval * failures + 1000, `replacement started ${detectedAfter}ms after the worker turned sick`);
  const messages = found.d.events.map((e) => e.message).join('\n');
  assert.match(messages, new RegExp(`pid ${sickPid} health check failed \\(3/3\\): status 500`));
  assert.match(messages, /replacing pid \d+: 3 health checks failed in a row/);
  // The other worker was never touched.
  const [after] = await list(herd);
  assert.ok(after?.workers.some((w) => w.pid === pids.find((p) => p !== sickPid)));
});

test('maxMemory 120MB: a worker leaking 10 MB a second is replaced at its limit without a failed request', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  // 70 MB over a worker's ~50 MB at start: 7 s of leak (200MB took 15 s), well clear of the start.
  const limit = 120 * 1024 * 1024;
  assert.equal((await herd(['start', config(home, 'leak.js', port, "maxMemory: '120MB'")])).code, 0);
  const [first] = await list(herd);
  const pid = first?.workers[0]?.pid;
  const traffic = load(port, 8);
  let peak = 0;
  const replaced = await eventually(async () => {
    const [app] = await list(herd);
    for (const w of app?.workers ?? []) if (w.pid === pid) peak = Math.max(peak, w.memory);
    const w = app?.workers.find((x) => x.status === 'online');
    return w && w.pid !== pid && !app?.workers.some((x) => x.pid === pid) ? w : undefined;
  }, 60_000, 'the leaking worker to be replaced');
  const stats = await traffic.stop();
  assert.ok(stats.ok > 0);
  assert.deepEqual({ failed: stats.failed, non2xx: stats.non2xx, errors: stats.errors }, { failed: 0, non2xx: 0, errors: [] });
  assert.equal(replaced.restarts, 1);
  // Replaced at its limit: sampled every second, so at most a few seconds of leak (10 MB/s) past it.
  assert.ok(peak <= limit + 60 * 1024 * 1024, `peak RSS seen ${Math.round(peak / 1048576)}MB`);
  const d = await describe(herd);
  assert.ok(d.events.some((e) => /memory \d+MB over limit 120MB/.test(e.message)), JSON.stringify(d.events));
});

test('overload: an event loop over maxEventLoopDelay sheds with 503 + Retry-After, exempt paths pass, it recovers', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const file = config(home, 'cpu.js', port, "overload: { maxEventLoopDelay: '100ms', retryAfter: '2s' }, healthCheck: { path: '/healthz', interval: '1s' }");
  assert.equal((await herd(['start', file])).code, 0);
  assert.equal((await get(port)).status, 200);
  const busy = get(port, '/busy?ms=5000');
  const shed = await eventually(async () => {
    const r = await get(port);
    return r.status === 503 ? r : undefined;
  }, 10_000, 'a 503 while the loop is busy');
  assert.equal(shed.headers['retry-after'], '2');
  // Health and readiness paths are never shed: the default list and the health-check path.
  for (const exempt of ['/health', '/ready', '/healthz?full=1']) assert.equal((await get(port, exempt)).status, 200, exempt);
  assert.equal((await busy).status, 200);
  // Back under the limit: served again without intervention.
  await eventually(async () => ((await get(port)).status === 200 ? true : undefined), 10_000, 'recovery');
  const d = await eventually(async () => {
    const x = await describe(herd);
    return (x.workers[0]?.shed ?? 0) > 0 ? x : undefined;
  }, 5000, 'the shed count in describe');
  assert.ok((d.workers[0]?.shed ?? 0) >= 1);
  // Shedding is not a failed health check: the worker was never replaced.
  assert.ok(!d.events.some((e) => /health check failed|replacing/.test(e.message)), JSON.stringify(d.events));
});

test('overload: maxInFlight caps the requests a worker works on at once', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', config(home, 'cpu.js', port, 'overload: { maxInFlight: 2 }')])).code, 0);
  const held = [get(port, '/hold?ms=5000'), get(port, '/hold?ms=5000')];
  const rejected = await eventually(async () => {
    const r = await get(port);
    return r.status === 503 ? r : undefined;
  }, 10_000, 'a 503 with two requests in flight');
  assert.equal(rejected.headers['retry-after'], '1');
  assert.equal((await get(port, '/health')).status, 200);
  // The requests admitted finish normally, and then the worker takes new ones again.
  for (const r of await Promise.all(held)) assert.equal(r.status, 200);
  assert.equal((await get(port)).status, 200);
});

test('readiness: /ready is 200 with every app ready, 503 for shutdownDelay after SIGTERM while the app still serves; /live stays 200', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-ready-'));
  const port = await freePort();
  const healthPort = await freePort();
  const file = path.join(home, 'herd.config.js');
  writeFileSync(file, `module.exports = {
    health: { port: ${healthPort}, shutdownDelay: '3s' },
    apps: [{ name: 'api', script: ${JSON.stringify(path.join(FIXTURES, 'hello.js'))}, instances: 2, minReady: 2, env: { PORT: ${port} } }],
  };\n`);
  const child = spawn(NODE, [CLI, 'run', file], { env: { ...process.env, HERD_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await eventually(() => (stderr.includes('running api') ? true : undefined), 15_000, 'herd run to start');

  const ready = await get(healthPort, '/ready');
  assert.equal(ready.status, 200, ready.body);
  assert.deepEqual(JSON.parse(ready.body), { ready: true, apps: [{ name: 'api', ready: 2, needed: 2 }] });
  assert.equal((await get(healthPort, '/live')).status, 200);
  assert.equal((await get(healthPort, '/nope')).status, 404);

  // One worker down: fewer than minReady, not ready until it is back.
  const [app] = JSON.parse((await runCli(['list', '--json'], { HERD_HOME: home })).stdout) as { workers: { pid: number }[] }[];
  kill(app?.workers[0]?.pid ?? 0);
  await eventually(async () => ((await get(healthPort, '/ready')).status === 503 ? true : undefined), 10_000, '/ready 503 with a worker down');
  await eventually(async () => ((await get(healthPort, '/ready')).status === 200 ? true : undefined), 10_000, '/ready 200 again');

  child.kill('SIGTERM');
  await eventually(async () => ((await get(healthPort, '/ready')).status === 503 ? true : undefined), 2000, '/ready 503 at once');
  // Within shutdownDelay nothing drains yet: the app still serves, and the supervisor is live.
  assert.equal((await get(port)).status, 200);
  assert.equal((await get(healthPort, '/live')).status, 200);
  assert.equal(await exited, 0);
});

test('readiness: herd start with a health endpoint in the daemon; a taken port is an error', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const healthPort = await freePort();
  const file = path.join(home, 'herd.config.js');
  writeFileSync(file, `module.exports = { health: { port: ${healthPort}, shutdownDelay: 0 }, apps: [{ name: 'api', script: ${JSON.stringify(path.join(FIXTURES, 'hello.js'))}, env: { PORT: ${port} } }] };\n`);
  assert.equal((await herd(['start', file])).code, 0);
  assert.equal((await get(healthPort, '/ready')).status, 200);
  // A stopped app needs no workers.
  assert.equal((await herd(['stop', 'api'])).code, 0);
  assert.equal((await get(healthPort, '/ready')).status, 200);
  const other = path.join(home, 'other.config.js');
  writeFileSync(other, `module.exports = { health: { port: ${port} }, apps: [{ name: 'b', script: ${JSON.stringify(path.join(FIXTURES, 'hello.js'))}, env: { PORT: ${port} } }] };\n`);
  assert.equal((await herd(['restart', 'api'])).code, 0);
  const taken = await herd(['start', other]);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /HERD_ERR_HEALTH_LISTEN/);
  // The endpoint already serving stays.
  assert.equal((await get(healthPort, '/ready')).status, 200);
});
