import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUCKET_COUNT, bucketLowerMs, bucketOf, bucketUpperMs, DeltaHistogram, Histogram } from '../../src/metrics/histogram';
import { normalisePath, PathCache } from '../../src/metrics/route';
import { AppSeries, emptyPoint, SeriesRing, type SeriesField } from '../../src/metrics/series';

test('every value falls inside its bucket, and buckets are at most ~3% wide', () => {
  for (let i = 1; i < BUCKET_COUNT; i++) assert.ok(bucketUpperMs(i) > bucketUpperMs(i - 1), `bucket ${i} grows`);
  for (const ms of [0, 0.0005, 0.001, 0.063, 0.064, 0.5, 1, 9.99, 50, 50.2, 51, 59.9, 60, 1234.5, 3_600_000, 1e9]) {
    const i = bucketOf(ms);
    assert.ok(i >= 0 && i < BUCKET_COUNT, `${ms}: index ${i}`);
    if (ms < 1e9) {
      assert.ok(bucketLowerMs(i) <= ms && ms < bucketUpperMs(i) + 1e-9, `${ms} in [${bucketLowerMs(i)}, ${bucketUpperMs(i)})`);
    }
    if (ms >= 0.064 && ms < 1e9) assert.ok((bucketUpperMs(i) - bucketLowerMs(i)) / bucketLowerMs(i) <= 1 / 32 + 1e-9, `${ms}: width`);
  }
});

test('percentiles never under-report and over-report by at most one bucket', () => {
  const h = new Histogram();
  const values = Array.from({ length: 1000 }, (_, i) => 1 + i * 0.37);
  for (const v of values) h.observe(v);
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = sorted[Math.ceil(q * sorted.length) - 1] as number;
    const got = h.percentile(q);
    assert.ok(got >= exact && got <= exact * (1 + 1 / 32) + 0.001, `q${q}: ${got} vs ${exact}`);
  }
  assert.equal(h.percentile(1), Math.max(...values));
  assert.equal(h.count, 1000);
  assert.equal(new Histogram().percentile(0.5), 0);
});

test('merging histograms equals observing every value in one, also over the wire', () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 0; i < 500; i++) {
    const v = (i * 7919) % 250;
    (i % 3 === 0 ? a : b).observe(v);
    all.observe(v);
  }
  const merged = new Histogram();
  merged.merge(a);
  merged.mergeWire(JSON.parse(JSON.stringify(b.toWire())));
  assert.equal(merged.count, all.count);
  assert.equal(merged.max, all.max);
  assert.ok(Math.abs(merged.sum - all.sum) < 1e-6);
  assert.deepEqual(merged.percentiles([0.5, 0.9, 0.99]), all.percentiles([0.5, 0.9, 0.99]));
  assert.equal(merged.countAtMost(100), all.countAtMost(100));
});

test("the agent's flat delta histogram sends the same buckets and starts empty after a reset", () => {
  const d = new DeltaHistogram();
  const h = new Histogram();
  for (const v of [0.2, 1, 1, 50.5, 51, 700, 1e6]) {
    d.observe(v);
    h.observe(v);
  }
  const merged = new Histogram();
  merged.mergeWire(d.toWire());
  assert.deepEqual(merged.percentiles([0.1, 0.5, 0.9, 1]), h.percentiles([0.1, 0.5, 0.9, 1]));
  assert.equal(merged.count, 7);
  d.reset();
  assert.deepEqual(d.toWire(), { b: [], n: 0, sum: 0, max: 0 });
  d.observe(3);
  assert.equal(d.toWire().b.length, 2);
});

test('a bad wire histogram from a worker cannot corrupt the daemon', () => {
  const h = new Histogram();
  h.mergeWire({ b: [-1, 5, 1e9, 5, 3, -2, 2.5, 1, 10, 2], n: 2, sum: 1, max: 1 });
  assert.equal(h.countAtMost(1e12), 2);
});

test('paths without a framework route are normalised: ids become :id, the query goes', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['/?a=1', '/'],
    ['/users/42', '/users/:id'],
    ['/users/42/orders/7?x=1', '/users/:id/orders/:id'],
    ['/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301', '/items/:id'],
    ['/blobs/deadbeef42', '/blobs/:id'],
    ['/health', '/health'],
    ['/a/b/c/d/e/f/g/h/i/j', '/a/b/c/d/e/f/g/*'],
    ['/docs/getting-started', '/docs/getting-started'],
    ['/t/abc123DEF456ghi789', '/t/:id'],
  ];
  for (const [url, route] of cases) assert.equal(normalisePath(url), route, url);
  const cache = new PathCache(2);
  assert.equal(cache.get('/u/1'), '/u/:id');
  assert.equal(cache.get('/u/2'), '/u/:id');
  assert.equal(cache.get('/u/3'), '/u/:id');
});

test('series rings keep the last points only, oldest first', () => {
  const r = new SeriesRing(3, ['x'] as const);
  for (let i = 1; i <= 5; i++) r.push(i * 1000, { x: i });
  assert.equal(r.length, 3);
  assert.deepEqual(r.last('x'), { times: [3000, 4000, 5000], values: [3, 4, 5] });
  assert.deepEqual(r.last('x', 2).values, [4, 5]);
});

test('app series roll seconds into minutes: counts summed, usage averaged, minute latency from its histogram', () => {
  const s = new AppSeries();
  const base = 60_000 * 1000;
  const point = (requests: number) => ({ ...emptyPoint(), requests, rps: requests, p50: 1, p99: 2, errors: 1, s2xx: requests - 1, cpu: 10, memory: 100, eventLoopP99: requests, utilization: 0.5 });
  let closed = 0;
  for (let i = 0; i < 61; i++) {
    if (s.pushSecond(base + i * 1000, point(i < 60 ? 2 : 0), () => ({ p50: 5, p90: 7, p99: 9 }))) closed++;
  }
  assert.equal(closed, 1);
  assert.equal(s.seconds.length, 61);
  assert.equal(s.minutes.length, 1);
  const m = (f: SeriesField) => s.minutes.last(f).values[0];
  assert.equal(m('requests'), 120);
  assert.equal(m('rps'), 2);
  assert.equal(m('p99'), 9);
  assert.equal(m('errors'), 60);
  assert.equal(m('cpu'), 10);
  assert.equal(m('eventLoopP99'), 2);
  assert.equal(m('p90'), 7);
  assert.equal(m('s2xx'), 60);
  assert.equal(m('utilization'), 0.5);
  assert.equal(s.minutes.last('rps').times[0], base);
});

test('series memory is bounded: 15 min of seconds and 24 h of minutes', () => {
  const s = new AppSeries();
  const t0 = 0;
  for (let i = 0; i < 2000; i++) s.pushSecond(t0 + i * 1000, { ...emptyPoint(), requests: 1, rps: 1 }, () => ({ p50: 0, p90: 0, p99: 0 }));
  assert.equal(s.seconds.length, 900);
  assert.equal(s.seconds.capacity, 900);
  assert.equal(s.minutes.capacity, 1440);
});
