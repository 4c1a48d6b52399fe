import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fit, renderMonit, sparkline, type MonitState } from '../../src/cli/monitView';
import { AppMetrics } from '../../src/metrics/aggregate';
import type { MonitApp } from '../../src/metrics/view';
import { SERIES_FIELDS, type SeriesField } from '../../src/metrics/series';

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

function app(name: string, metrics = true): MonitApp {
  const m = new AppMetrics();
  const view = m.view({ name, status: 'online', metrics, uptimeMs: 60_000, restarts: 2, workers: [
    { id: 0, pid: 10, status: 'online', restarts: 1, uptimeMs: 1, cpu: 12, rss: 50 * 1024 * 1024 },
    { id: 1, pid: 11, status: 'online', restarts: 1, uptimeMs: 1, cpu: 8, rss: 40 * 1024 * 1024 },
  ] });
  const zeros = Object.fromEntries(SERIES_FIELDS.map((f) => [f, [0, 0, 0]])) as Record<SeriesField, number[]>;
  const series = { ...zeros, step: 1, times: [1, 2, 3], rps: [1, 5, 10], p99: [3, 4, 5], errors: [0, 0, 1], cpu: [10, 20, 30], memory: [1, 2, 3], eventLoopP99: [0, 1, 0] };
  return {
    ...view,
    routes: [
      { method: 'GET', route: '/fast', requests: 100, errors: 0, latency: { p50: 1, p90: 1, p99: 2, max: 3 }, serviceTime: { p50: 1, p90: 1, p99: 2, max: 3 } },
      { method: 'GET', route: '/slow', requests: 5, errors: 1, latency: { p50: 50, p90: 55, p99: 58, max: 60 }, serviceTime: { p50: 50, p90: 55, p99: 58, max: 60 } },
    ],
    series,
  };
}

const state = (extra: Partial<MonitState> = {}): MonitState => ({ apps: [app('api'), app('billing', false)], selected: 0, width: 100, height: 40, error: null, now: 0, ...extra });

test('monit shows every app, the selected one in detail with sparklines, workers and the slowest routes first', () => {
  const screen = plain(renderMonit(state()));
  assert.match(screen, /> api\s+online\s+2\/2/);
  assert.match(screen, /  billing/);
  assert.match(screen, /rps\s+▂▅█ 10/);
  assert.match(screen, /slowest routes/);
  assert.ok(screen.indexOf('GET /slow') < screen.indexOf('GET /fast'), 'slowest first');
  assert.match(screen, /^\s+0\s+10\s+online/m);
});

test('monit moves the selection and shows what an app without request metrics has', () => {
  const screen = plain(renderMonit(state({ selected: 1 })));
  assert.match(screen, /> billing/);
  assert.doesNotMatch(screen.split('billing  online')[1] ?? '', /slowest routes/);
  assert.match(screen, /cpu\s+▃▆█ 30%/);
});

test('monit fits any terminal size: no line wider, no more lines than the screen', () => {
  for (const [width, height] of [[20, 5], [40, 10], [80, 24], [200, 60]] as const) {
    const lines = renderMonit(state({ width, height })).split('\n');
    assert.ok(lines.length <= height, `${width}x${height}: ${lines.length} lines`);
    for (const l of lines) assert.ok([...plain(l)].length <= width, `${width}x${height}: "${plain(l)}"`);
  }
  assert.match(plain(renderMonit(state({ apps: [] }))), /no apps/);
  assert.match(plain(renderMonit(state({ error: 'cannot reach the daemon: gone' }))), /cannot reach the daemon/);
});

test('sparklines scale to the largest value and keep the newest points', () => {
  assert.equal(sparkline([0, 0, 0], 10), '▁▁▁');
  assert.equal(sparkline([1, 2, 3, 4, 5, 6, 7, 8], 8), '▂▃▄▅▅▆▇█');
  assert.equal(sparkline([9, 1, 8], 2), '▂█');
  assert.equal(plain(fit('\u001b[1mhello\u001b[0m world', 7)), 'hello w');
});

test('monit shows an autoscaled app\'s mode, range, count as a sparkline, what holds it and its last step', () => {
  const base = app('api');
  const autoscaled: MonitApp = {
    ...base,
    series: { ...base.series, workers: [1, 2, 2] },
    autoscale: {
      mode: 'auto', min: 1, max: 4, current: 2, metric: 'eventLoop.utilization', target: 0.7, value: 0.98, desired: 3,
      held: 'held at 2 of max 4: 2 cores', decisions: [{ time: Date.UTC(2026, 11, 2, 16, 0, 5), from: 1, to: 2, reason: 'eventLoop.utilization 0.99 per worker over target 0.70' }],
    },
  };
  const screen = plain(renderMonit(state({ apps: [autoscaled] })));
  assert.match(screen, /scale\s+▅██ 2 auto 1\.\.4, eventLoop\.utilization 0\.98 \(target 0\.70\)/);
  assert.match(screen, /held at 2 of max 4: 2 cores/);
  assert.match(screen, /last step 16:00:05 1 → 2: eventLoop\.utilization 0\.99 per worker over target 0\.70/);
});
