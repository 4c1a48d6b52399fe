import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppMetrics, type AppContext } from '../../src/metrics/aggregate';
import { Histogram } from '../../src/metrics/histogram';
import { escapeLabel, renderPrometheus, type PromApp } from '../../src/metrics/prometheus';
import type { MetricsReport } from '../../src/metrics/report';

function report(requests: [string, number, number, number][], extra: Partial<MetricsReport> = {}): MetricsReport {
  const latency = new Histogram();
  const status = [0, 0, 0, 0, 0, 0];
  const routes = requests.map(([route, cls, count, ms]) => {
    const h = new Histogram();
    for (let i = 0; i < count; i++) {
      h.observe(ms);
      latency.observe(ms);
    }
    status[cls] = (status[cls] ?? 0) + count;
    return { method: 'GET', route, cls, latency: h.toWire() };
  });
  return {
    intervalMs: 1000,
    http: { requests: requests.reduce((n, r) => n + r[2], 0), latency: latency.toWire(), status, inFlight: 1, connections: 2 },
    routes,
    process: { cpuMs: 10, rss: 1, heapUsed: 100, heapTotal: 200, gcPauseMs: 1, gcCount: 1, activeHandles: 3 },
    eventLoop: { p50: 1, p99: 5, max: 9, utilization: 0.5 },
    custom: { counters: [['jobs', 2]], gauges: [['depth', 4]], histograms: [] },
    ...extra,
  };
}

function ctx(workers: { id: number; pid: number | null }[]): AppContext {
  return {
    name: 'api', status: 'online', metrics: true, uptimeMs: 1000, restarts: 0,
    workers: workers.map((w) => ({ ...w, status: 'online', restarts: 0, uptimeMs: 1000, cpu: 5, rss: 1000 })),
  };
}

test('app totals are sums of worker deltas and survive a worker exit', () => {
  const m = new AppMetrics();
  m.ingest(0, 100, report([['/a', 2, 10, 50]]));
  m.ingest(1, 101, report([['/a', 2, 5, 52], ['/b', 5, 1, 1]]));
  let v = m.view(ctx([{ id: 0, pid: 100 }, { id: 1, pid: 101 }]));
  assert.equal(v.http.requests, 16);
  assert.equal(v.http.status['2xx'], 15);
  assert.equal(v.http.status['5xx'], 1);
  assert.deepEqual(v.routes.map((r) => [r.route, r.requests, r.errors]), [['/a', 15, 0], ['/b', 1, 1]]);
  assert.ok(v.routes[0] && v.routes[0].latency.p50 >= 50 && v.routes[0].latency.p50 < 52);
  assert.equal(v.custom.counters.jobs, 4);
  assert.equal(v.custom.gauges.depth, 8);
  assert.equal(v.http.inFlight, 2);
  assert.equal(v.eventLoop.delay.p99, 5);

  m.workerExited(100);
  m.ingest(0, 102, report([['/a', 2, 1, 50]]));
  v = m.view(ctx([{ id: 0, pid: 102 }, { id: 1, pid: 101 }]));
  assert.equal(v.http.requests, 17, 'the dead worker took nothing with it');
  assert.equal(v.routes[0]?.requests, 16);
  assert.equal(v.custom.counters.jobs, 6);
  assert.equal(v.custom.gauges.depth, 8, 'gauges of the dead worker are gone');

  const w = m.view(ctx([{ id: 0, pid: 102 }, { id: 1, pid: 101 }]), 1);
  assert.equal(w.worker, 1);
  assert.equal(w.http.requests, 6);
  assert.equal(w.workers.length, 1);
});

test('routes past the limit count as other, nothing is lost', () => {
  const m = new AppMetrics();
  const many: [string, number, number, number][] = Array.from({ length: 250 }, (_, i) => [`/r${i}`, 2, 1, 1]);
  m.ingest(0, 1, report(many));
  const v = m.view(ctx([{ id: 0, pid: 1 }]));
  assert.equal(v.routes.length, 201);
  assert.equal(v.routes.reduce((n, r) => n + r.requests, 0), 250);
  assert.equal(v.routes.find((r) => r.route === 'other')?.requests, 50);
});

test('the series tick turns deltas into per-second points and rps', () => {
  const m = new AppMetrics();
  m.ingest(0, 1, report([['/a', 2, 30, 5]]));
  m.tick(1000, 10, 500);
  m.ingest(0, 1, report([['/a', 2, 10, 5]]));
  m.tick(2000, 10, 500);
  assert.deepEqual(m.seriesView('seconds', 10).rps, [30, 10]);
  assert.equal(m.rps(), 20);
});

function promApp(m: AppMetrics, name = 'api'): PromApp {
  return {
    app: name, status: 'online', metrics: true, restarts: 1, uptimeMs: 5000, routes: m.http.routes.values(), inFlight: 0, connections: 0, queue: null, shed: m.http.shed,
    cpuMs: m.cpuMs, gcPauseMs: m.gcPauseMs, gcCount: m.gcCount, workers: [{ worker: 0, cpuPercent: 3, rss: 10, report: null }],
    counters: m.counters, gauges: m.gauges(), histograms: m.histograms,
  };
}

test('Prometheus: request counters sum to the total, histogram buckets are cumulative, names and labels are valid', () => {
  const m = new AppMetrics();
  m.ingest(0, 1, report([['/users/:id', 2, 7, 3], ['/slow', 2, 3, 55], ['/x"y', 5, 2, 700]]));
  const text = renderPrometheus([promApp(m)]);
  const total = [...text.matchAll(/^herd_http_requests_total\{[^}]*app="api"[^}]*\} (\d+)$/gm)].reduce((n, x) => n + Number(x[1]), 0);
  assert.equal(total, 12);
  assert.match(text, /# TYPE herd_http_request_duration_seconds histogram/);
  assert.match(text, /herd_http_request_duration_seconds_bucket\{app="api",route="\/slow",method="GET",status_class="2xx",le="0\.05"\} 0/);
  assert.match(text, /herd_http_request_duration_seconds_bucket\{app="api",route="\/slow",method="GET",status_class="2xx",le="0\.1"\} 3/);
  assert.match(text, /herd_http_request_duration_seconds_count\{app="api",route="\/slow",method="GET",status_class="2xx"\} 3/);
  assert.match(text, /route="\/x\\"y",method="GET",status_class="5xx"/);
  assert.match(text, /^jobs_total\{app="api"\} 2$/m);
  assert.match(text, /^herd_app_restarts_total\{app="api"\} 1$/m);
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? [-+0-9.eInf]+$/, line);
  }
  // le buckets never decrease
  const buckets = [...text.matchAll(/route="\/users\/:id".*le="([^"]+)"\} (\d+)/g)].map((x) => Number(x[2]));
  for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i] as number) >= (buckets[i - 1] as number));
  assert.equal(escapeLabel('a\\b\n"'), 'a\\\\b\\n\\"');
});

test('Prometheus: an app with metrics off still shows status, restarts, cpu and memory', () => {
  const text = renderPrometheus([{ ...promApp(new AppMetrics(), 'quiet'), metrics: false }]);
  assert.match(text, /herd_app_up\{app="quiet"\} 1/);
  assert.match(text, /herd_process_resident_memory_bytes\{app="quiet",worker="0"\} 10/);
  assert.doesNotMatch(text, /herd_http_requests_total/);
});
