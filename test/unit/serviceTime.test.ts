import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import type { HttpProbe, RequestListener } from '../../src/agent/httpProbe';
import { MetricsCollector } from '../../src/agent/metrics';
import { AppMetrics, type AppContext } from '../../src/metrics/aggregate';
import { renderPrometheus } from '../../src/metrics/prometheus';
import type { MetricsReport } from '../../src/metrics/report';

const CTX: AppContext = { name: 'api', status: 'online', metrics: true, uptimeMs: 1, restarts: 0, workers: [{ id: 0, pid: 7, status: 'online', restarts: 0, uptimeMs: 1, cpu: 0, rss: 0 }] };

function collect(requests: { url: string; durationMs: number; waitMs: number }[]): MetricsReport {
  let listener: RequestListener | null = null;
  const probe = { inFlight: 0, add: (l: RequestListener) => { listener = l; return () => { listener = null; }; } } as unknown as HttpProbe;
  const c = new MetricsCollector(probe, () => {});
  c.start();
  try {
    for (const r of requests) {
      (listener as RequestListener | null)?.({
        request: {} as IncomingMessage, response: {} as ServerResponse, method: 'GET', url: r.url, status: 200, durationMs: r.durationMs, waitMs: r.waitMs, aborted: false,
      });
    }
    return c.report();
  } finally {
    c.stop();
  }
}

test('latency is the loop wait plus the service time; service time is kept apart, per app and per route', () => {
  const report = collect([
    { url: '/work', durationMs: 20, waitMs: 0 },
    { url: '/work', durationMs: 20, waitMs: 400 },
    { url: '/fast', durationMs: 1, waitMs: 100 },
  ]);
  assert.equal(report.http.latency.max, 420);
  assert.equal(report.http.serviceTime?.max, 20);
  const work = report.routes.find((r) => r.route === '/work');
  assert.equal(work?.latency.max, 420);
  assert.equal(work?.serviceTime?.max, 20);

  const m = new AppMetrics();
  m.ingest(0, 7, report);
  const view = m.view(CTX);
  assert.equal(view.http.latency.max, 420);
  assert.equal(view.http.serviceTime.max, 20);
  const route = view.routes.find((r) => r.route === '/work');
  assert.equal(route?.latency.max, 420);
  assert.equal(route?.serviceTime.max, 20);
  assert.equal(m.recent(5).latency.max, 0, 'alerts read closed seconds');
  m.tick(1000, 0, 0);
  assert.equal(m.recent(5).latency.max, 420, 'alerts judge the latency clients waited');
});

test('an agent from before the split: its latency is its service time', () => {
  const report = collect([{ url: '/a', durationMs: 30, waitMs: 0 }]);
  delete report.http.serviceTime;
  for (const r of report.routes) delete r.serviceTime;
  const m = new AppMetrics();
  m.ingest(0, 7, report);
  const view = m.view(CTX);
  assert.equal(view.http.serviceTime.max, 30);
  assert.equal(view.routes[0]?.serviceTime.max, 30);
});

test('Prometheus: service time per route, and the kernel queues only for an app that has them', () => {
  const m = new AppMetrics();
  m.ingest(0, 7, collect([{ url: '/work', durationMs: 20, waitMs: 400 }]));
  const base = {
    app: 'api', status: 'online', metrics: true, restarts: 0, uptimeMs: 1, routes: m.http.routes.values(), inFlight: 0, connections: 0, shed: 0,
    cpuMs: 0, gcPauseMs: 0, gcCount: 0, workers: [], counters: new Map(), gauges: new Map(), histograms: new Map(),
  };
  const text = renderPrometheus([{ ...base, queue: { accept: 3, unread: 7 } }]);
  assert.match(text, /herd_http_request_service_seconds_count\{app="api",route="\/work",method="GET"\} 1/);
  assert.match(text, /herd_http_request_duration_seconds_bucket\{app="api",route="\/work",method="GET",status_class="2xx",le="0.25"\} 0/);
  assert.match(text, /herd_http_accept_queue\{app="api"\} 3/);
  assert.match(text, /herd_http_unread_connections\{app="api"\} 7/);
  const none = renderPrometheus([{ ...base, routes: m.http.routes.values(), queue: null }]);
  assert.doesNotMatch(none, /herd_http_accept_queue|herd_http_unread_connections/);
});

test('the app view shows the queues when the daemon sampled them, never in a worker view', () => {
  const m = new AppMetrics();
  assert.equal(m.view(CTX).http.queue, undefined);
  m.queue = { accept: 2, unread: 5 };
  assert.deepEqual(m.view(CTX).http.queue, { accept: 2, unread: 5 });
  assert.equal(m.view(CTX, 0).http.queue, undefined);
});
