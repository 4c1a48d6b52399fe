import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AutoscaleSpec, ScalingSpec } from '../../src/config/types';
import { AutoscalePolicy, type AutoscaleReading } from '../../src/daemon/supervision/autoscale';
import { Autoscaling, readMetric } from '../../src/daemon/supervision/autoscaling';
import { Histogram } from '../../src/metrics/histogram';
import type { MetricsReport } from '../../src/metrics/report';
import { fakeApp, settle, testSpec } from '../fakes/appHarness';

function scaling(over: Partial<AutoscaleSpec> = {}, min = 1, max = 4): ScalingSpec {
  return { min, max, autoscale: { metric: 'eventLoop.utilization', target: 0.7, up: 4, down: 1, coolDown: 60_000, ...over } };
}

function reading(over: Partial<AutoscaleReading>): AutoscaleReading {
  return { now: 0, current: 1, value: 0.5, cores: 8, capacity: () => null, ...over };
}

test('desired = ceil(current × value / target): up at once, by at most `up`, within the tolerance band not at all', () => {
  const p = new AutoscalePolicy(() => scaling({ up: 2 }));
  assert.equal(p.tick(reading({ current: 2, value: 0.75 })), null, '0.75 / 0.70 is within 10%');
  assert.equal(p.held, null);
  const step = p.tick(reading({ current: 2, value: 0.98 }));
  assert.deepEqual(step, { to: 3, reason: 'eventLoop.utilization 0.98 per worker over target 0.70' });
  // ceil(1 × 1.0 / 0.2) = 5, clamped to max 4, and at most +2 a step.
  const q = new AutoscalePolicy(() => scaling({ up: 2, target: 0.2 }));
  assert.equal(q.tick(reading({ current: 1, value: 1 }))?.to, 3);
  assert.equal(q.desired, 4);
});

test('utilisation gets no more workers than cores, and describe says so; other metrics are not capped', () => {
  const p = new AutoscalePolicy(() => scaling());
  assert.equal(p.tick(reading({ current: 2, value: 1, cores: 2 })), null);
  assert.match(p.held ?? '', /^held at 2 of max 4: 2 cores/);
  const io = new AutoscalePolicy(() => scaling({ metric: 'http.inFlight', target: 10 }));
  assert.equal(io.tick(reading({ current: 2, value: 20, cores: 2 }))?.to, 4);
});

test('a machine without room for more workers holds the pool with the reason', () => {
  const p = new AutoscalePolicy(() => scaling());
  assert.equal(p.tick(reading({ current: 1, value: 1, capacity: (n) => `${n} workers need 25MB; the machine has 3MB available` })), null);
  assert.equal(p.held, 'held at 1 of max 4: 1 workers need 25MB; the machine has 3MB available');
});

test('no data, no step', () => {
  const p = new AutoscalePolicy(() => scaling());
  assert.equal(p.tick(reading({ current: 3, value: null, noData: 'no worker reported metrics yet' })), null);
  assert.match(p.held ?? '', /no data \(no worker reported metrics yet\)/);
  assert.equal(p.desired, null);
});

test('down only after the cool-down, to the highest count wanted over it, by at most `down` a step', () => {
  const p = new AutoscalePolicy(() => scaling({ coolDown: 10_000, down: 1 }));
  assert.equal(p.tick(reading({ now: 0, current: 1, value: 1 }))?.to, 2);
  p.stepped({ time: 0, from: 1, to: 2, reason: 'test' });
  // Load ends at 5 s: readings ask for 1, but 2 was wanted within the cool-down.
  assert.equal(p.tick(reading({ now: 1000, current: 2, value: 0.7 })), null);
  for (let t = 5000; t < 10_000; t += 1000) assert.equal(p.tick(reading({ now: t, current: 2, value: 0.05 })), null);
  assert.match(p.held ?? '', /cool-down/);
  // 10 s after the step, 2 was still wanted at 1 s: within the last 10 s of readings.
  assert.equal(p.tick(reading({ now: 10_000, current: 2, value: 0.05 })), null);
  assert.match(p.held ?? '', /2 workers were wanted within the last 10s/);
  assert.deepEqual(p.tick(reading({ now: 11_000, current: 2, value: 0.05 })), { to: 1, reason: 'eventLoop.utilization 0.05 per worker under target 0.70' });
  const fast = new AutoscalePolicy(() => scaling({ coolDown: 0, down: 2 }, 1, 8));
  assert.equal(fast.tick(reading({ now: 0, current: 8, value: 0 }))?.to, 6, 'at most `down` per step');
});

test('never below min or above max, whatever the reading', () => {
  const p = new AutoscalePolicy(() => scaling({ coolDown: 0 }, 2, 3));
  assert.deepEqual(p.tick(reading({ current: 1, value: null })), { to: 2, reason: 'below min 2' });
  assert.deepEqual(p.tick(reading({ current: 5, value: 0.7 })), { to: 3, reason: 'above max 3' });
  assert.equal(p.tick(reading({ current: 2, value: 0 })), null, 'already at min');
  assert.equal(p.tick(reading({ current: 3, value: 1 })), null, 'already at max');
  assert.match(p.held ?? '', /held at max 3/);
});

function report(utilization: number, inFlight = 0): MetricsReport {
  return {
    intervalMs: 1000,
    http: { requests: 0, latency: new Histogram().toWire(), status: [0, 0, 0, 0, 0, 0], inFlight, connections: 0 },
    routes: [],
    process: { cpuMs: 0, rss: 1, heapUsed: 1, heapTotal: 1, gcPauseMs: 0, gcCount: 0, activeHandles: 0 },
    eventLoop: { p50: 0, p99: 0, max: 0, utilization },
    custom: { counters: [], gauges: [], histograms: [] },
  };
}

test('the supervisor side: reads the workers, scales the app (drain like any stop), logs and shows every step', async () => {
  const { app, current, readyAll, clock } = fakeApp(testSpec({ instances: 1, scaling: scaling({ coolDown: 5000 }) }));
  const started = app.start();
  await readyAll();
  await started;
  const log: string[] = [];
  const auto = new Autoscaling((line) => log.push(line), { cores: () => 4, capacity: () => null });
  const busy = () => current().forEach((w, i) => app.metrics.ingest(app.slots[i]?.id ?? 0, w?.pid ?? 0, report(0.99)));
  auto.tick([app], clock.now());
  assert.match(auto.view(app)?.held ?? '', /no data/, 'no report yet: nothing happens');
  assert.equal(app.slots.length, 1);

  busy();
  auto.tick([app], clock.now());
  await settle();
  assert.equal(app.slots.length, 2, 'ceil(1 × 0.99 / 0.7) = 2');
  auto.tick([app], clock.now());
  assert.equal(app.busy, 'scaling', 'the next step waits until the new worker is ready');
  await readyAll();
  await settle();
  assert.equal(app.busy, null);
  assert.equal(app.spec.instances, 2, 'the count is kept in the spec (state file)');
  assert.deepEqual(log, ['app api: autoscale 1 → 2: eventLoop.utilization 0.99 per worker over target 0.70']);
  // At 2 of 4 on a 2-core machine: the hold is said once, when it starts.
  const twoCores = new Autoscaling((line) => log.push(line), { cores: () => 2, capacity: () => null });
  for (let i = 0; i < 3; i++) {
    busy();
    twoCores.tick([app], clock.now());
  }
  assert.equal(app.slots.length, 2);
  assert.deepEqual(log.slice(1), ['app api: autoscale held at 2 of max 4: 2 cores (more workers than cores cannot lower eventLoop.utilization)']);
  log.length = 1;
  assert.ok(app.detail().events.some((e) => e.message === 'autoscale 1 → 2: eventLoop.utilization 0.99 per worker over target 0.70'));

  // Idle: down after the cool-down, the removed worker drained.
  const second = current()[1];
  const idle = () => current().forEach((w, i) => app.metrics.ingest(app.slots[i]?.id ?? 0, w?.pid ?? 0, report(0.01)));
  for (let i = 0; i < 7; i++) {
    await clock.advance(1000);
    idle();
    auto.tick([app], clock.now());
  }
  await settle();
  assert.equal(app.slots.length, 1);
  assert.ok(second?.draining && second.stopsAsked === 1, 'the removed worker was stopped gracefully (drained), not killed');
  const view = auto.view(app);
  assert.equal(view?.mode, 'auto');
  assert.deepEqual(view?.decisions.map((d) => `${d.from}->${d.to}`), ['1->2', '2->1']);

  // herd scale api 3: fixed; ticks do nothing until auto again.
  const fixed = app.scale(3, () => {}, { scalingFixed: true });
  await readyAll();
  await fixed;
  auto.switched(app, 1, 3, clock.now());
  for (let i = 0; i < 3; i++) {
    idle();
    auto.tick([app], clock.now());
  }
  await settle();
  assert.equal(app.slots.length, 3);
  assert.equal(auto.view(app)?.mode, 'fixed');
  assert.match(auto.view(app)?.held ?? '', /herd scale api auto/);
  await app.scale(3, () => {}, { scalingFixed: false });
  auto.switched(app, 3, null, clock.now());
  assert.equal(app.spec.scalingFixed, false);
  assert.equal(auto.view(app)?.mode, 'auto');
});

test('http.latency.p99 waits a latency window after a step: the old latency does not multiply the new count up to max', () => {
  const p = new AutoscalePolicy(() => scaling({ metric: 'http.latency.p99', target: 200, up: 4 }, 1, 16));
  // p99 stays at 400 ms while the window still holds requests from before each step.
  const first = p.tick(reading({ now: 0, current: 1, value: 400 }));
  assert.deepEqual(first, { to: 2, reason: 'http.latency.p99 400ms over target 200ms' });
  p.stepped({ time: 0, from: 1, to: 2, reason: first?.reason ?? '' });
  for (let t = 1000; t < 5000; t += 1000) {
    assert.equal(p.tick(reading({ now: t, current: 2, value: 400 })), null, `no step at ${t} ms`);
    assert.match(p.held ?? '', /waiting for 5s of latency at 2 workers/);
  }
  // A whole window at the new count, still too slow: the next step.
  assert.equal(p.tick(reading({ now: 5000, current: 2, value: 400 }))?.to, 4);
});

test('a reload that changes the autoscale settings forgets what was wanted under the old ones', () => {
  let spec = scaling({ coolDown: 10_000 });
  const p = new AutoscalePolicy(() => spec);
  assert.equal(p.tick(reading({ now: 0, current: 2, value: 0.7 })), null);
  // Under the new target 0.05 the old recommendations (2 at target 0.7) are gone,
  // and the cool-down counts from the change.
  spec = scaling({ coolDown: 10_000, target: 0.05 });
  assert.equal(p.tick(reading({ now: 1000, current: 2, value: 0.01 })), null);
  assert.match(p.held ?? '', /cool-down \(10s left\)/);
});

test('herd scale N queued behind a reload keeps its fixed mode: the reload cannot put back a spec without it', async () => {
  const { app, readyAll } = fakeApp(testSpec({ instances: 1, scaling: scaling() }));
  const started = app.start();
  await readyAll();
  await started;
  const reload = app.reload({ ...app.spec }, () => {});
  await settle();
  assert.equal(app.status, 'reloading');
  const scaled = app.scale(2, () => {}, { scalingFixed: true });
  await readyAll();
  await reload;
  await settle();
  await readyAll();
  await scaled;
  assert.equal(app.spec.scalingFixed, true);
  assert.equal(app.spec.instances, 2);
});

test('queue.waiting: a read older than 2.5 s is no data (a slow Redis), not a backlog as it was', () => {
  const { app } = fakeApp(testSpec({ instances: 1, scaling: scaling({ metric: 'queue.waiting', target: 10 }) }));
  app.metrics.jobs = { waiting: 100, active: 0, delayed: 0, prioritized: 0, failed: 0, completed: 0, duration: null, at: 10_000, error: null };
  assert.deepEqual(readMetric(app, 'queue.waiting', 12_000), { value: 100 });
  assert.deepEqual(readMetric(app, 'queue.waiting', 13_000), { value: null, noData: "the queue's last read is 3s old" });
});
