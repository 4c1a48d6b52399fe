import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, CrashWindow } from '../../src/daemon/supervision/restartPolicy';
import { describeExit } from '../../src/daemon/worker/workerProcess';

test('backoff grows by its factor up to the cap', () => {
  const spec = { initial: 100, max: 1000, factor: 2, resetAfter: 30_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, spec)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoffDelay(5, { ...spec, factor: 1 }), 100);
});

test('a crash loop is maxCrashes crashes inside the window', () => {
  const w = new CrashWindow({ maxCrashes: 3, minUptime: 1000, window: 1000, coolDown: 5000 });
  assert.equal(w.record(0), false);
  assert.equal(w.record(500), false);
  // The first crash has left the window.
  assert.equal(w.record(1600), false);
  assert.equal(w.record(1650), false);
  assert.equal(w.record(1700), true);
  w.clear();
  assert.equal(w.count(1700), 0);
});

test('exits read as reasons', () => {
  assert.equal(describeExit(1, null), 'exited with code 1');
  assert.equal(describeExit(null, 'SIGKILL'), 'killed by SIGKILL');
});
