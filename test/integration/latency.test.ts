import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import type { AppMetricsView } from '../../src/metrics/view';
import { eventually, FIXTURES, freePort, herdHome, load } from '../helpers';

test('behind a busy loop, latency includes the wait for the loop and service time does not; the kernel queue shows', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  // One worker, a 25 ms synchronous route, 12 keep-alive clients: each request waits for the ~11 before it.
  const started = await herd(['start', path.join(FIXTURES, 'cpu.js'), '--name', 'busy', '-i', '1'], { PORT: String(port), WORK_MS: '25' });
  assert.equal(started.code, 0, started.stderr);
  const metrics = async (): Promise<AppMetricsView> => {
    const r = await herd(['metrics', 'busy', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as AppMetricsView;
  };
  await eventually(async () => ((await metrics()).status === 'online' ? true : undefined), 15_000, 'app online');

  const traffic = load(port, 12, '/work');
  let stopped = false;
  t.after(async () => {
    if (!stopped) await traffic.stop();
  });
  // Requests sent while the worker serves others sit unread in the kernel: the daemon sees them.
  const queued = await eventually(async () => {
    const v = await metrics();
    return v.http.queue && v.http.queue.unread > 0 && v.http.requests >= 60 ? v : undefined;
  }, 20_000, 'unread connections in http.queue and 60 requests');
  stopped = true;
  const result = await traffic.stop();
  assert.equal(result.failed + result.non2xx, 0, result.errors.join('; '));
  assert.equal(typeof queued.http.queue?.accept, 'number');

  const v = await metrics();
  assert.ok(v.http.serviceTime.p99 >= 20, `service p99 ${v.http.serviceTime.p99} ms covers the 25 ms handler`);
  assert.ok(v.http.latency.p50 > 3 * v.http.serviceTime.p50, `latency p50 ${v.http.latency.p50} ms vs service p50 ${v.http.serviceTime.p50} ms`);
  assert.ok(v.http.latency.p99 > 3 * v.http.serviceTime.p99, `latency p99 ${v.http.latency.p99} ms vs service p99 ${v.http.serviceTime.p99} ms`);
  const work = v.routes.find((r) => r.route === '/work');
  assert.ok(work && work.latency.p99 > 3 * work.serviceTime.p99, `route /work: ${JSON.stringify(work)}`);
  assert.equal(v.workers[0]?.http.queue, undefined, 'the queue is the app\'s, not a worker\'s');

  const text = await herd(['metrics', 'busy']);
  assert.match(text.stdout, /^ {2}service p50 /m);
  assert.match(text.stdout, /queued: accept \d+ {2}unread \d+/);
});
