import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, freePort, get, herdHome, list, load, type CliResult } from '../helpers';

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
    const m = /blocking at (\d+)/.exec(readFileSync(path.join(home, 'logs', 'app-out.log'), 'utf8'));
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
  assert.ok(replacedAfter <= stallTimeout + 2000, `replaced ${replacedAfter}ms after it blocked`);
  const messages = detail.d.events.map((e) => e.message).join('\n');
  assert.match(messages, /event loop stalled/);
  // Where it was stuck, from the inspector.
  assert.match(messages, /at spinForever \(.*stall\.js:4:/);
  assert.match(readFileSync(path.join(home, 'logs', 'app-err.log'), 'utf8'), /at spinForever/);
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

test('maxMemory 200MB: a worker leaking 10 MB a second is replaced at its limit without a failed request', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const limit = 200 * 1024 * 1024;
  assert.equal((await herd(['start', config(home, 'leak.js', port, "maxMemory: '200MB'")])).code, 0);
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
  assert.ok(d.events.some((e) => /memory \d+MB over limit 200MB/.test(e.message)), JSON.stringify(d.events));
});
