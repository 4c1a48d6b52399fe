import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { EngineRecorder } from '../../src/bench/engine';
import { evaluate, ExpectError, parseExpect, type ExpectSummary } from '../../src/bench/expect';
import { benchHtml } from '../../src/bench/html';
import { correctedLatency, dueBy, intendedAt, plannedRequests, runOpenLoop } from '../../src/bench/openLoop';
import { benchDuration, BenchOptionError, defaultReportName, parseBenchOptions, parseRate } from '../../src/bench/options';
import { BenchRecorder, errorKind } from '../../src/bench/recorder';
import { cpuPercent, expectSummary, invalidReason, totalsOf, type BenchResult } from '../../src/bench/result';
import { targetOf } from '../../src/bench/run';
import { downsample, MAX_POINTS, niceMax } from '../../src/bench/svgChart';
import type { AppMetricsView, WorkerMetricsView } from '../../src/metrics/view';
import { NODE } from '../helpers';

const summary = (over: Partial<ExpectSummary> = {}): ExpectSummary => ({
  requests: 10_000,
  errors: 5,
  errorRate: 0.0005,
  rps: 2000,
  latency: { p50: 3, p90: 8, p99: 150, p999: 400, max: 900, mean: 5 },
  restarts: 0,
  peak: { cpu: 85, elu: 0.7, loopP99: 30 },
  ...over,
});

test('--expect: thresholds with their units, aliases and spacing', () => {
  const t = parseExpect(' p99<200ms, errors<0.1% ,p50 <= 1s,max<500us,errors<10,rps>=1000,elu<90%,cpu<80,loop_p99<50,p999<1,restarts<1');
  assert.deepEqual(t.map((x) => [x.metric, x.op, x.value, x.percent]), [
    ['p99', '<', 200, false], ['errors', '<', 0.1, true], ['p50', '<=', 1000, false], ['max', '<', 0.5, false],
    ['errors', '<', 10, false], ['rps', '>=', 1000, false], ['elu', '<', 0.9, false], ['cpu', '<', 80, false],
    ['loop_p99', '<', 50, false], ['p99.9', '<', 1, false], ['restarts', '<', 1, false],
  ]);
  assert.equal(t[0]?.text, 'p99<200ms');
});

test('--expect: a bad expression names itself and what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /no threshold given/],
    ['p99<200ms,,errors<1%', /threshold 2 is empty/],
    ['p99', /"p99": expected <metric><op><value>/],
    ['p99<', /"p99<": "" is not a number/],
    ['p98<200ms', /unknown metric "p98" \(did you mean p90\?\)/],
    ['latency<200ms', /unknown metric "latency".*metrics: p50, p90/],
    ['p99<2%', /"p99<2%": p99 is latency p99; unit "%" does not apply/],
    ['errors<5ms', /errors is errors; unit "ms" does not apply \(give a count, or a rate of requests in %\)/],
    ['p99==200', /operator "==" is not supported/],
    ['elu<2', /elu is a fraction 0\.\.1 \(or write 2%\)/],
    ['errors<101%', /above 100%/],
    ['rps>fast', /"fast" is not a number/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseExpect(text), (err: unknown) => err instanceof ExpectError && message.test(err.message), text);
});

test('--expect: evaluation against a run, strict and inclusive bounds, the error rate in %', () => {
  const results = evaluate(parseExpect('p99<200ms,p99<150,p99<=150,errors<0.1%,errors<0.01%,errors<5,rps>1999,elu<0.5,restarts<1'), summary());
  assert.deepEqual(results.map((r) => [r.expression, r.pass]), [
    ['p99<200ms', true], ['p99<150', false], ['p99<=150', true], ['errors<0.1%', true], ['errors<0.01%', false],
    ['errors<5', false], ['rps>1999', true], ['elu<0.5', false], ['restarts<1', true],
  ]);
  assert.equal(results[0]?.actualText, '150ms');
  assert.equal(results[3]?.actualText, '0.05%');
  assert.equal(results[3]?.actual, 0.05);
});

test('durations, rates and the other flags of herd bench', () => {
  assert.equal(benchDuration('30s'), 30_000);
  assert.equal(benchDuration('2m'), 120_000);
  assert.equal(benchDuration('10'), 10_000, 'a bare number is seconds');
  assert.equal(benchDuration('1.5'), 1500);
  assert.equal(benchDuration('1500ms'), 1500);
  for (const bad of ['0.5s', '999ms', 'abc', '-1', '25h', '', '3x']) assert.throws(() => benchDuration(bad), BenchOptionError, bad);
  assert.equal(parseRate('500'), 500);
  assert.equal(parseRate('500/s'), 500);
  assert.equal(parseRate('6000/m'), 100);
  assert.equal(parseRate('0.5'), 0.5);
  for (const bad of ['0', 'x', '-5', '5/h', '2000000']) assert.throws(() => parseRate(bad), /--rate takes requests per second/, bad);

  const d = parseBenchOptions('api', {});
  assert.deepEqual({ ...d, thresholds: d.thresholds.length }, { app: 'api', path: '/', connections: 50, durationMs: 30_000, rate: null, thresholds: 0, report: null, port: null });
  const o = parseBenchOptions('api', { path: '/users/1', connections: '8', duration: '3s', rate: '200', expect: 'p99<5ms', report: 'x.html', port: '3000' });
  assert.deepEqual([o.path, o.connections, o.durationMs, o.rate, o.thresholds.length, o.report, o.port], ['/users/1', 8, 3000, 200, 1, 'x.html', 3000]);
  assert.throws(() => parseBenchOptions('api', { path: 'users' }), /--path takes a request path starting with \/.*"users"/);
  assert.throws(() => parseBenchOptions('api', { path: '/a b' }), /cannot hold spaces/);
  assert.throws(() => parseBenchOptions('api', { connections: '0' }), /-c \(--connections\) takes a whole number from 1/);
  assert.throws(() => parseBenchOptions('api', { connections: '2.5' }), /-c \(--connections\)/);
  assert.throws(() => parseBenchOptions('api', { expect: 'p99<2%' }), (err: unknown) => err instanceof BenchOptionError && /--expect "p99<2%"/.test(err.message));
  assert.throws(() => parseBenchOptions('api', { report: ' ' }), /--report takes a file name/);
  assert.throws(() => parseBenchOptions('api', { port: '70000' }), /--port takes a port number/);
  assert.equal(defaultReportName('my api/x', new Date(2026, 11, 2, 9, 5, 7)), 'herd-bench-my_api_x-20261202-090507.html');
});

test('the app is reached on loopback: every-address listeners on 127.0.0.1, --port picks one of several', () => {
  assert.deepEqual(targetOf(['0.0.0.0:3000'], null), { host: '127.0.0.1', port: 3000 });
  assert.deepEqual(targetOf(['[::]:3000'], null), { host: '127.0.0.1', port: 3000 });
  assert.deepEqual(targetOf(['[::1]:4000'], null), { host: '::1', port: 4000 });
  assert.deepEqual(targetOf(['0.0.0.0:4000', '127.0.0.1:3000'], null), { host: '127.0.0.1', port: 3000 });
  assert.deepEqual(targetOf(['0.0.0.0:4000', '127.0.0.1:3000'], 4000), { host: '127.0.0.1', port: 4000 });
  assert.match((targetOf(['0.0.0.0:4000'], 5000) as { error: string }).error, /does not listen on port 5000 \(it listens on 4000\)/);
  assert.match((targetOf([], null) as { error: string }).error, /listening on nothing/);
  assert.match((targetOf(['/tmp/app.sock'], null) as { error: string }).error, /no TCP port/);
});

test('report arithmetic: totals, percentiles, error kinds, the run window, per-second points', () => {
  const rec = new BenchRecorder(1000, 4000);
  for (let i = 0; i < 98; i++) rec.response(1000 + i * 20, 200, 10);
  rec.response(2500, 503, 100);
  rec.error(3500, 'ECONNRESET');
  rec.response(4001, 200, 1); // after the window: left out
  const totals = totalsOf(rec, 3000);
  assert.equal(totals.requests, 100);
  assert.equal(totals.errors, 2);
  assert.equal(totals.errorRate, 0.02);
  assert.equal(totals.rps, 33.3);
  assert.deepEqual(totals.status, { 200: 98, 503: 1 });
  assert.deepEqual(totals.errorKinds, { 'HTTP 503': 1, ECONNRESET: 1 });
  assert.ok(totals.latency.p50 >= 10 && totals.latency.p50 < 10.4, String(totals.latency.p50));
  assert.equal(totals.latency.max, 100);
  assert.equal(totals.latency.mean, Math.round(((98 * 10 + 100) / 99) * 100) / 100);
  const seconds = rec.perSecond(3);
  assert.deepEqual(seconds.map((s) => [s.t, s.requests, s.errors]), [[0, 50, 0], [1, 49, 1], [2, 1, 1]]);
  assert.equal(seconds[1]?.max, 100);
  assert.equal(cpuPercent(950_000, 1000), 95);
  assert.match(invalidReason(95, null, 100) ?? '', /used 95% of a core/);
  assert.match(invalidReason(20, 40, 100) ?? '', /more than 40 ms after their scheduled time/);
  assert.equal(invalidReason(20, 2, 100), null);
  assert.equal(invalidReason(20, null, 0), 'no request completed');
  assert.equal(errorKind(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
  assert.equal(errorKind(new Error('request timed out')), 'timeout');
});

test('open-loop schedule: request i is due at start + i/R, latency from that time (coordinated omission)', () => {
  assert.equal(intendedAt(100, 0, 50), 100);
  assert.equal(intendedAt(100, 50, 50), 1100);
  assert.equal(dueBy(100, 99, 50, 10), 0);
  assert.equal(dueBy(100, 100, 50, 10), 1);
  assert.equal(dueBy(100, 139.9, 50, 10), 2);
  assert.equal(dueBy(100, 10_000, 50, 10), 10);
  assert.equal(plannedRequests(50, 3000), 150);
  // Sent 300 ms late because every connection was busy: the user waited from the intended time.
  assert.equal(correctedLatency(1000, 1302), 302);
  assert.equal(correctedLatency(1000, 999), 0);
});

test('open loop against a real server that stalls 400 ms: the requests that queued behind the stall carry it', async (t) => {
  const server = spawn(NODE, ['-e', `
    const http = require('node:http');
    let n = 0;
    http.createServer((req, res) => {
      if (++n === 20) { const end = Date.now() + 400; while (Date.now() < end); }
      res.end('ok');
    }).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => server.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim())));
    server.once('exit', () => reject(new Error('the server exited')));
  });
  const start = performance.now();
  const rec = new BenchRecorder(start);
  const run = runOpenLoop({ host: '127.0.0.1', port, path: '/' }, 100, 1, 1200, rec, start);
  const done = await run.done;
  assert.equal(done.sent, 120);
  assert.equal(rec.requests, 120);
  assert.equal(rec.errors, 0);
  // ~40 requests were due during the stall; timed from their send over the one connection, only the first would be slow.
  const slow = rec.total.count - rec.total.countAtMost(100);
  assert.ok(slow >= 20, `${slow} requests over 100 ms`);
  assert.ok(rec.total.max >= 300, String(rec.total.max));
});

function workerView(id: number, pid: number, over: { cpu?: number; gc?: [number, number]; restarts?: number; elu?: number } = {}): WorkerMetricsView {
  return {
    id, pid, status: 'online', restarts: over.restarts ?? 0, uptimeMs: 1000, cpu: over.cpu ?? 10,
    memory: { rss: 50e6, heapUsed: 8e6, heapTotal: 12e6 },
    http: { requests: 0, shed: 0, rps: 0, inFlight: 0, connections: 0, latency: { p50: 0, p90: 0, p99: 0, max: 0 }, serviceTime: { p50: 0, p90: 0, p99: 0, max: 0 }, status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 } },
    eventLoop: { delay: { p50: 1, p99: 12, max: 20 }, utilization: over.elu ?? 0.3 },
    gc: { pauseMs: over.gc?.[0] ?? 0, count: over.gc?.[1] ?? 0 },
    activeHandles: 3,
  };
}

const appView = (restarts: number, workers: WorkerMetricsView[]) => ({ metrics: true, restarts, workers }) as unknown as AppMetricsView;

test('engine figures: per-second GC deltas, a restarted worker keeps its id and gets a new pid, restarts during the run', () => {
  const e = new EngineRecorder();
  e.add(0, appView(2, [workerView(0, 10, { gc: [50, 5] }), workerView(1, 11, { gc: [1, 1] })]));
  e.add(1, appView(2, [workerView(0, 10, { gc: [53, 7], cpu: 40, elu: 0.5 }), workerView(1, 11, { gc: [1, 1] })]));
  // worker 1 restarted: new pid, GC counted from 0; a reload's replacement listed after it is not a second worker 1
  e.add(2, appView(3, [workerView(0, 10, { gc: [54, 8], cpu: 60, elu: 0.9 }), workerView(1, 12, { gc: [2, 1], restarts: 1 }), workerView(1, 13)]));
  const [w0, w1] = e.workersSummary();
  assert.equal(e.restarts(), 1);
  assert.deepEqual(w0?.seconds.map((s) => [s.t, s.gcPauseMs, s.gcCount]), [[1, 3, 2], [2, 1, 1]]);
  assert.deepEqual([w0?.cpu, w0?.elu, w0?.gcPauseMs, w0?.gcCount, w0?.loopDelayP99Max], [{ mean: 50, max: 60 }, { mean: 0.7, max: 0.9 }, 4, 3, 12]);
  assert.deepEqual(w1?.pids, [11, 12]);
  assert.equal(w1?.restarts, 1);
  assert.deepEqual(w1?.seconds.map((s) => [s.pid, s.gcPauseMs, s.gcCount]), [[11, 0, 0], [12, 2, 1]]);
  const peak = expectSummary({ requests: 1, errors: 0, errorRate: 0, rps: 1, latency: summary().latency, restarts: 1, workers: e.workersSummary() }).peak;
  assert.deepEqual(peak, { cpu: 60, elu: 0.9, loopP99: 12 });
});

test('the HTML report is one file: no script to run, no external resource, names escaped, the data embedded', () => {
  const e = new EngineRecorder();
  e.add(0, appView(0, [workerView(0, 10)]));
  e.add(1, appView(0, [workerView(0, 10, { cpu: 30 })]));
  const rec = new BenchRecorder(0);
  rec.response(10, 200, 5);
  const result: BenchResult = {
    app: '<img src=x>', url: 'http://127.0.0.1:3000/', method: 'GET', mode: 'open', connections: 5, durationMs: 1000, interrupted: false, rate: 10,
    coordinatedOmissionCorrected: true, startedAt: new Date(0).toISOString(), valid: false, invalidReason: 'the load generator used 95% </script>',
    generator: { cpuPercent: 95, sendLagP99Ms: 1, sendLagMaxMs: 2 }, ...totalsOf(rec, 1000), restarts: 0, engineMetrics: true, engineMissedSeconds: 0,
    seconds: rec.perSecond(1).map((s) => ({ ...s, generatorCpu: 95 })), workers: e.workersSummary(),
    thresholds: evaluate(parseExpect('p99<1ms'), summary()), passed: false, report: null,
  };
  const html = benchHtml(result);
  assert.doesNotMatch(html, /<img src=x>/);
  assert.match(html, /&lt;img src=x&gt;/);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
  assert.doesNotMatch(html, /<script(?! type="application\/json")/);
  assert.equal(html.match(/<\/script>/g)?.length, 1, 'the embedded JSON cannot close its script element');
  assert.match(html, /class="invalid"/);
  assert.match(html, /<span class="fail">FAIL<\/span>/);
  assert.equal(html.match(/<svg /g)?.length, 8);
  const data = /<script type="application\/json" id="bench-data">(.*)<\/script>/s.exec(html)?.[1] ?? '';
  assert.equal((JSON.parse(data) as BenchResult).app, '<img src=x>');
  assert.deepEqual([niceMax(0), niceMax(3), niceMax(45), niceMax(100), niceMax(101)], [1, 5, 50, 100, 200]);
  // A day-long run: each line keeps at most MAX_POINTS points, and its peak.
  const xs = Array.from({ length: 86_400 }, (_, i) => i + 1);
  const long = downsample({ title: 't', unit: '', xs, series: [{ name: 'a', values: xs.map((x) => (x === 50_000 ? 999 : 1)) }] });
  assert.ok(long.xs.length <= MAX_POINTS && long.xs.length > MAX_POINTS / 2);
  assert.equal(long.series[0]?.values.length, long.xs.length);
  assert.equal(Math.max(...(long.series[0]?.values ?? [])), 999);
});
