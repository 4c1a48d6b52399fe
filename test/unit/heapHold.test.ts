import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { drained } from '../../src/daemon/control/controlServer';
import { StallProfiler } from '../../src/daemon/supervision/profiling';
import { heldRecently, holdWorker } from '../../src/daemon/worker/diagnosticHold';
import { Rotation } from '../../src/agent/rotation';

test('a client that reads nothing is let go after the drain bound: the wait rejects and the socket is destroyed', async (t) => {
  const server = net.createServer((s) => s.pause());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => client.destroy());
  await new Promise((resolve) => client.once('connect', resolve));
  // Fill the socket until it buffers: the peer never reads.
  const piece = Buffer.alloc(1024 * 1024);
  while (client.write(piece)) { /* until the kernel's buffers are full */ }
  await assert.rejects(drained(client, 200), /read nothing for/);
  assert.equal(client.destroyed, true);
});

test('held workers, and those let go a moment ago, are held recently; never-held ones are not', () => {
  const w = {};
  assert.equal(heldRecently(w, 0, 1000), false);
  const release = holdWorker(w);
  assert.equal(heldRecently(w, Date.now(), 1000), true);
  release();
  assert.equal(heldRecently(w, Date.now(), 1000), true);
  assert.equal(heldRecently(w, Date.now() + 2000, 1000), false);
});

test('profileOnStall ignores a held worker, a forged NaN/Infinity delay, and a second capture while one runs', () => {
  let inspected = 0;
  const profiler = new StallProfiler({ save: async () => 'f' } as never, () => {});
  const spec = { name: 'api', profileOnStall: { delay: 200, duration: 100, cooldown: 0 } };
  const worker = (slot: number) => ({ slot, pid: 10 + slot, exited: null, inspect: () => (inspected++, new Promise(() => {})) });
  const report = (max: number) => ({ eventLoop: { p50: 1, p99: max, max, utilization: 1 } });
  const held = worker(0);
  const release = holdWorker(held);
  profiler.onMetrics(spec as never, held as never, report(5000) as never);
  release();
  profiler.onMetrics(spec as never, held as never, report(5000) as never);
  assert.equal(inspected, 0, 'held, then just let go: the snapshot was the pause');
  profiler.onMetrics(spec as never, worker(1) as never, report(Number.NaN) as never);
  profiler.onMetrics(spec as never, worker(1) as never, report(Number.POSITIVE_INFINITY) as never);
  assert.equal(inspected, 0, 'not finite');
  profiler.onMetrics(spec as never, worker(1) as never, report(900) as never);
  profiler.onMetrics(spec as never, worker(2) as never, report(900) as never);
  assert.equal(inspected, 1, 'one capture in flight per app, cooldown 0 or not');
});

test('rotation: a worker in rotation has no lease to renew', () => {
  const rotation = new Rotation(() => false);
  assert.equal(rotation.renew(15_000), false);
});
