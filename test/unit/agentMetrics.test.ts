import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import type { CompletedRequest, HttpProbe, RequestListener } from '../../src/agent/httpProbe';
import { MAX_ROUTES, MetricsCollector } from '../../src/agent/metrics';
import type { MetricsReport } from '../../src/metrics/report';

/** A probe the test feeds by hand. */
function fakeProbe(): { probe: HttpProbe; emit: (r: Omit<Partial<CompletedRequest>, 'request'> & { request?: object }) => void } {
  let listener: RequestListener | null = null;
  const probe = { inFlight: 0, add: (l: RequestListener) => { listener = l; return () => { listener = null; }; } } as unknown as HttpProbe;
  return {
    probe,
    emit: (r) => listener?.({
      request: (r.request ?? {}) as IncomingMessage, response: {} as ServerResponse, method: r.method ?? 'GET', url: r.url ?? '/',
      status: r.status ?? 200, durationMs: r.durationMs ?? 1, waitMs: r.waitMs ?? 0, aborted: r.aborted ?? false,
    }),
  };
}

test('the collector reports deltas: each report holds only what happened since the last one', (t) => {
  const { probe, emit } = fakeProbe();
  const sent: MetricsReport[] = [];
  const c = new MetricsCollector(probe, (r) => sent.push(r));
  c.start();
  t.after(() => c.stop());
  emit({ url: '/users/1', status: 200, durationMs: 50 });
  emit({ url: '/users/2?x=1', status: 503, durationMs: 5 });
  emit({ url: '/x', request: { route: { path: '/users/:id' }, baseUrl: '/api' }, status: 404 });
  emit({ url: '/gone', status: 0, aborted: true });
  c.custom('counter', 'jobs', 2);
  c.custom('counter', 'bad name', 1);
  c.custom('gauge', 'depth', 7);
  c.custom('histogram', 'size', 10);
  const first = c.report();
  assert.equal(first.http.requests, 4);
  assert.deepEqual(first.http.status, [1, 0, 1, 0, 1, 1]);
  const routes = first.routes.map((r) => `${r.method} ${r.route} ${r.cls} ${r.latency.n}`).sort();
  assert.deepEqual(routes, ['GET /api/users/:id 4 1', 'GET /gone 0 1', 'GET /users/:id 2 1', 'GET /users/:id 5 1']);
  assert.deepEqual(first.custom.counters, [['jobs', 2]]);
  assert.deepEqual(first.custom.gauges, [['depth', 7]]);
  assert.equal(first.custom.histograms[0]?.[1].n, 1);
  assert.ok(first.process.rss > 0 && first.process.heapUsed > 0);

  const second = c.report();
  assert.equal(second.http.requests, 0);
  assert.deepEqual(second.routes, []);
  assert.deepEqual(second.custom.counters, []);
  assert.deepEqual(second.custom.gauges, [['depth', 7]], 'a gauge keeps its value');
});

test('routes are bounded per worker; the overflow counts as other', (t) => {
  const { probe, emit } = fakeProbe();
  const c = new MetricsCollector(probe, () => {});
  c.start();
  t.after(() => c.stop());
  for (let i = 0; i < MAX_ROUTES + 20; i++) emit({ url: `/page-${i}` });
  const r = c.report();
  assert.equal(r.routes.length, MAX_ROUTES + 1);
  assert.equal(r.routes.find((x) => x.route === 'other')?.latency.n, 20);
  assert.equal(r.routes.reduce((n, x) => n + x.latency.n, 0), MAX_ROUTES + 20);
});
