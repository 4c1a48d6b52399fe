import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import type { AppMetricsView } from '../../src/metrics/view';
import { CLI, eventually, FIXTURES, NODE, freePort, get, herdHome, kill, list, type CliResult } from '../helpers';

type Herd = (args: string[], env?: Record<string, string>) => Promise<CliResult>;

async function metrics(herd: Herd, name: string, worker?: number): Promise<AppMetricsView> {
  const r = await herd(['metrics', name, '--json', ...(worker === undefined ? [] : ['--worker', String(worker)])]);
  if (r.code !== 0) throw new Error(`herd metrics failed: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as AppMetricsView;
}

/** Exactly `paths.length` requests, `lanes` at a time; every one must succeed. */
async function send(port: number, paths: string[], lanes = 4): Promise<void> {
  const queue = [...paths];
  await Promise.all(Array.from({ length: lanes }, async () => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      const reply = await get(port, p);
      assert.equal(reply.status, 200, `${p}: ${reply.body}`);
    }
  }));
}

/** Sum of every herd_http_requests_total series of one app. */
async function promRequests(promPort: number, app: string): Promise<number> {
  const text = (await get(promPort, '/metrics')).body;
  const re = /^herd_http_requests_total\{([^}]*)\} (\d+)$/gm;
  let sum = 0;
  for (const m of text.matchAll(re)) if ((m[1] ?? '').includes(`app="${app}"`)) sum += Number(m[2]);
  return sum;
}

function route(v: AppMetricsView, method: string, pattern: string) {
  return v.routes.find((r) => r.method === method && r.route === pattern);
}

test('exact request counts per app and route, /users/:id as a pattern, p50 of a 50 ms route, Prometheus agrees, totals survive a killed worker', async (t) => {
  const { home, herd } = herdHome(t);
  const [port, promPort] = [await freePort(), await freePort()];
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({
    metrics: { prometheus: { port: promPort } },
    apps: [{ name: 'api', script: path.join(FIXTURES, 'metrics-express.js'), instances: 2, env: { PORT: String(port) } }],
  }));
  const started = await herd(['start', config]);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, new RegExp(`prometheus metrics at http://127\\.0\\.0\\.1:${promPort}/metrics`));

  const before = await metrics(herd, 'api');
  const USERS = 60;
  const SLOW = 21;
  const N = USERS + SLOW;
  const paths = [
    ...Array.from({ length: USERS }, (_, i) => `/users/${i + 1}?page=${i}`),
    ...Array.from({ length: SLOW }, () => '/slow'),
  ];
  await send(port, paths);

  const after = await eventually(async () => {
    const v = await metrics(herd, 'api');
    return v.http.requests >= before.http.requests + N ? v : undefined;
  }, 15_000, `http.requests to reach ${before.http.requests + N}`);
  assert.equal(after.http.requests, before.http.requests + N, 'grows by exactly N');
  assert.equal(after.http.status['2xx'], before.http.status['2xx'] + N);
  assert.equal(route(after, 'GET', '/users/:id')?.requests, USERS, JSON.stringify(after.routes));
  assert.equal(route(after, 'GET', '/slow')?.requests, SLOW);
  const slowP50 = route(after, 'GET', '/slow')?.latency.p50 ?? 0;
  assert.ok(slowP50 >= 50 && slowP50 <= 60, `p50 of the 50 ms route: ${slowP50}`);
  assert.ok(after.http.latency.max >= 50);
  assert.equal(after.workers.length, 2);
  assert.equal(after.workers.reduce((n, w) => n + w.http.requests, 0), after.http.requests, 'workers add up to the app');
  assert.equal(await promRequests(promPort, 'api'), after.http.requests, 'Prometheus sums to http.requests');

  // Kill a worker; once its replacement is online nothing has gone down.
  const victim = (await list(herd))[0]?.workers[0]?.pid;
  assert.ok(victim);
  kill(victim);
  await eventually(async () => {
    const w = (await list(herd))[0]?.workers[0];
    return w && w.pid !== victim && w.status === 'online' ? true : undefined;
  }, 20_000, 'a replacement worker');
  const replaced = await metrics(herd, 'api');
  assert.ok(replaced.http.requests >= after.http.requests, `${replaced.http.requests} >= ${after.http.requests}`);
  assert.ok((route(replaced, 'GET', '/users/:id')?.requests ?? 0) >= USERS);
  assert.ok(replaced.restarts >= 1);
  assert.ok(await promRequests(promPort, 'api') >= after.http.requests);

  // ... and it keeps counting exactly.
  await send(port, ['/users/1', '/users/2', '/users/3', '/slow']);
  const more = await eventually(async () => {
    const v = await metrics(herd, 'api');
    return v.http.requests >= replaced.http.requests + 4 ? v : undefined;
  }, 15_000, 'four more requests');
  assert.equal(more.http.requests, replaced.http.requests + 4);
  assert.equal(await promRequests(promPort, 'api'), more.http.requests);
});

test('custom metrics, --worker, a Fastify route pattern, and an app with metrics: false', async (t) => {
  const { home, herd } = herdHome(t);
  const [ex, fa, off] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({ apps: [
    { name: 'ex', script: path.join(FIXTURES, 'metrics-express.js'), instances: 2, env: { PORT: String(ex) } },
    { name: 'fa', script: path.join(FIXTURES, 'metrics-fastify.js'), env: { PORT: String(fa) } },
    { name: 'off', script: path.join(FIXTURES, 'metrics-express.js'), env: { PORT: String(off) }, metrics: false },
  ] }));
  const started = await herd(['start', config]);
  assert.equal(started.code, 0, started.stderr);

  await send(ex, Array.from({ length: 12 }, (_, i) => `/users/${i}`));
  await send(fa, ['/items/1', '/items/2', '/items/abc']);
  await send(off, ['/users/1', '/users/2']);

  const v = await eventually(async () => {
    const m = await metrics(herd, 'ex');
    return m.custom.counters.users_served === 12 && m.http.requests === 12 ? m : undefined;
  }, 15_000, 'custom counter to reach 12');
  assert.ok(v.custom.gauges.last_user_id !== undefined);
  assert.equal(v.custom.histograms.user_lookup_ms?.count, 12);
  assert.equal(v.custom.histograms.user_lookup_ms?.p50, 2);

  const w0 = await metrics(herd, 'ex', 0);
  const w1 = await metrics(herd, 'ex', 1);
  assert.equal(w0.worker, 0);
  assert.deepEqual(w0.workers.map((w) => w.id), [0]);
  assert.equal(w0.http.requests + w1.http.requests, 12);
  const missing = await herd(['metrics', 'ex', '--worker', '7']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /HERD_ERR_WORKER_NOT_FOUND/);

  const f = await eventually(async () => {
    const m = await metrics(herd, 'fa');
    return m.http.requests === 3 ? m : undefined;
  }, 15_000, 'fastify requests');
  assert.deepEqual(f.routes.map((r) => [r.method, r.route, r.requests]), [['GET', '/items/:id', 3]]);

  // metrics: false: no request metrics, but CPU and memory from the daemon's sampling.
  const o = await eventually(async () => {
    const m = await metrics(herd, 'off');
    return m.memory.rss > 0 ? m : undefined;
  }, 15_000, 'memory of the metrics: false app');
  assert.equal(o.metrics, false);
  assert.equal(o.http.requests, 0);
  assert.deepEqual(o.routes, []);
  const text = await herd(['metrics', 'off']);
  assert.match(text.stdout, /metrics are off/);
});

test('herd monit needs a terminal, and in one it draws every app and quits cleanly on q', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const started = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'mon', '-i', '2'], { PORT: String(port) });
  assert.equal(started.code, 0, started.stderr);

  const piped = await herd(['monit']);
  assert.equal(piped.code, 2);
  assert.match(piped.stderr, /HERD_ERR_NOT_A_TERMINAL/);

  // A real terminal: util-linux `script` runs the command on a pty.
  if (spawnSync('script', ['--version']).status !== 0) {
    t.skip('util-linux script is not installed: only the non-terminal path was tested');
    return;
  }
  const child = spawn('script', ['-qfec', `${JSON.stringify(NODE)} ${JSON.stringify(CLI)} monit`, '/dev/null'], {
    env: { ...process.env, HERD_HOME: home, COLUMNS: '100', LINES: '30' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (screen += c));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await eventually(() => (/mon\s/.test(screen) && /worker/.test(screen) ? true : undefined), 15_000, 'monit to draw the app');
  assert.ok(screen.includes('\u001b[?1049h'), 'alternate screen');
  child.stdin.write('q');
  assert.equal(await exited, 0);
  const tail = screen.slice(screen.lastIndexOf('\u001b[?25h'));
  assert.ok(tail.includes('\u001b[?1049l'), 'cursor shown and main screen restored on quit');
});

test('a config file without metrics.prometheus leaves the endpoint serving', async (t) => {
  const { home, herd } = herdHome(t);
  const [portA, portB, promPort] = [await freePort(), await freePort(), await freePort()];
  const withProm = path.join(home, 'a.config.json');
  const without = path.join(home, 'b.config.json');
  writeFileSync(withProm, JSON.stringify({ metrics: { prometheus: { port: promPort } }, apps: [{ name: 'a', script: path.join(FIXTURES, 'hello.js'), env: { PORT: String(portA) } }] }));
  writeFileSync(without, JSON.stringify({ apps: [{ name: 'b', script: path.join(FIXTURES, 'hello.js'), env: { PORT: String(portB) } }] }));
  assert.equal((await herd(['start', withProm])).code, 0);
  assert.equal((await herd(['start', without])).code, 0);
  const scrape = await get(promPort, '/metrics');
  assert.equal(scrape.status, 200);
  assert.match(scrape.body, /app="b"/);
});
