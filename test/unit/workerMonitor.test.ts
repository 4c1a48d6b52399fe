import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { App } from '../../src/daemon/supervision/app';
import { WorkerMonitor } from '../../src/daemon/supervision/workerMonitor';

/** One app with one online worker, recording what the monitor does to it. */
function fixture(lastPongAt: number, hasAgent = true) {
  const calls: string[] = [];
  const proc = {
    ready: true, draining: false, exited: null, lastPongAt, healthPending: false, lastHealthAt: 0, healthFailures: 0, hasAgent,
    ping: () => calls.push('ping'),
  };
  const slot = { proc, status: 'online' };
  const app = {
    stopped: false,
    spec: { stallTimeout: 1000, healthCheck: null },
    slots: [slot],
    killStalled: () => calls.push('kill'),
  };
  return { calls, apps: [app as unknown as App] };
}

test('watchdog: pings a live worker, kills a silent one, but not right after the supervisor itself was stalled', (t) => {
  const now = Date.now();
  const live = fixture(now - 100);
  const liveMonitor = new WorkerMonitor(() => live.apps);
  t.after(() => liveMonitor.close());
  liveMonitor.tick(now);
  assert.deepEqual(live.calls, ['ping']);

  const silent = fixture(now - 5000);
  const monitor = new WorkerMonitor(() => silent.apps);
  t.after(() => monitor.close());
  monitor.tick(now);
  assert.deepEqual(silent.calls, ['kill']);

  // The monitor's previous tick was long ago: the supervisor was late, give the pongs time.
  const late = fixture(now - 5000);
  const lateMonitor = new WorkerMonitor(() => late.apps);
  t.after(() => lateMonitor.close());
  lateMonitor.tick(now + 10_000);
  assert.deepEqual(late.calls, ['ping']);
  lateMonitor.tick(now + 10_500);
  assert.deepEqual(late.calls, ['ping', 'ping']);
  lateMonitor.tick(now + 11_200);
  assert.deepEqual(late.calls, ['ping', 'ping', 'kill']);
});

test('watchdog: a worker without the agent (runner exec) is never pinged nor killed for silence', () => {
  const { calls, apps } = fixture(Date.now() - 60_000, false);
  const monitor = new WorkerMonitor(() => apps);
  monitor.close();
  monitor.tick(Date.now());
  assert.deepEqual(calls, []);
});
