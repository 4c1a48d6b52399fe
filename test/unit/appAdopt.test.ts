// App.adopt: a restarted daemon takes over the workers an app's shim still
// runs, driven with fake workers and a fake clock (test/fakes/appHarness.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExitEvent, HostedWorkerState, HostSnapshot } from '../../src/protocol/shim';
import { fakeApp, settle, testSpec, type FakeWorker } from '../fakes/appHarness';

/** FakeClock starts at 1_000_000: every adopted worker started a minute before the adoption. */
const STARTED_AT = 1_000_000 - 60_000;

/** A worker its host runs, ready unless told otherwise; `worker` is its NODE_UNIQUE_ID (spawn order). */
function hosted(worker: number, slot: number, pid: number, over: Partial<HostedWorkerState> = {}): HostedWorkerState {
  return {
    worker,
    slot,
    pid,
    startedAt: STARTED_AT,
    ready: true,
    readyAt: STARTED_AT + 500,
    readyHow: 'listening',
    draining: false,
    intended: false,
    listening: [],
    listenKeys: [],
    listenFailure: null,
    stderrTail: [],
    ...over,
  };
}

/** An exit the host journalled while no daemon listened: a crash after `uptimeMs` unless told otherwise. */
function journalExit(seq: number, worker: number, slot: number, pid: number, over: Partial<ExitEvent['info']> = {}): ExitEvent {
  return {
    type: 'exit',
    seq,
    worker,
    slot,
    pid,
    info: { code: 1, signal: null, intended: false, reason: 'exited with code 1', uptimeMs: 30_000, ...over },
    stderrTail: ['Error: boom'],
    drainReport: null,
    forcedExit: null,
  };
}

function snapshot(workers: HostedWorkerState[], exits: ExitEvent[] = []): HostSnapshot {
  return {
    host: { pid: 999, protocol: 1, startedAt: STARTED_AT - 1000, version: 'test' },
    app: 'api',
    workers,
    exits,
    exitsLost: 0,
    sockets: { listening: [], size: 0, sticky: null },
    logsDropped: 0,
    spec: null,
  };
}

const pids = (procs: (FakeWorker | null)[]) => procs.map((p) => p?.pid ?? null);
const messages = (app: { detail(): { events: { message: string }[] } }) => app.detail().events.map((e) => e.message);

test('adopt: live ready workers in every slot are taken over as they are, online, and nothing is spawned', async () => {
  const { app, workers, current } = fakeApp(testSpec({ instances: 2 }));
  const acted = app.adopt(snapshot([hosted(1, 0, 4001), hosted(2, 1, 4002)]), 'adopted after a daemon restart');
  assert.equal(acted, 0, 'no journal exit to acknowledge');
  assert.deepEqual(pids(current()), [4001, 4002]);
  assert.deepEqual(app.slots.map((s) => s.status), ['online', 'online']);
  assert.equal(app.status, 'online');
  assert.equal(app.reason, 'adopted after a daemon restart');
  await settle();
  assert.equal(workers.length, 2, 'no new worker');
  assert.equal(app.retiring.size, 0);
  assert.equal(app.busy, null, 'no scaling queued');
});

test('adopt: an exit journalled while no daemon ran restarts its empty slot through the restart policy', async () => {
  const { app, clock, workers, current } = fakeApp(testSpec({ instances: 2 }));
  const acted = app.adopt(snapshot([hosted(1, 0, 4001)], [journalExit(7, 2, 1, 4002, { uptimeMs: 30_000 })]), 'adopted');
  assert.equal(acted, 7, 'the exit is acted on: its seq is returned for the host to forget');
  assert.equal(app.slots.length, 2);
  assert.equal(app.slots[1]?.id, 1);
  // It served past minUptime: replaced at once (a 0 ms backoff timer).
  await clock.advance(0);
  assert.equal(workers.length, 2, 'exactly one new worker');
  const spawned = workers[1];
  assert.ok(spawned);
  assert.equal(spawned.slot, 1);
  assert.equal(current()[1], spawned);
  assert.equal(app.slots[1]?.status, 'starting');
  assert.equal(app.slots[1]?.restarts, 1);
  assert.deepEqual(app.lastStderr, ['Error: boom']);
  assert.ok(messages(app).some((m) => m.includes('pid 4002 exited with code 1 while no daemon was running')));
  spawned.becomeReady();
  await settle();
  assert.equal(app.status, 'online');
  await clock.advance(60_000);
  assert.equal(workers.length, 2, 'nothing else spawned later');
});

test('adopt: an exit of a slot that has a live (newer) worker is history, not a trigger', async () => {
  const { app, clock, workers, current } = fakeApp(testSpec({ instances: 2 }));
  const acted = app.adopt(snapshot([hosted(3, 0, 4003), hosted(2, 1, 4002)], [journalExit(4, 1, 0, 4001)]), 'adopted');
  assert.equal(acted, 4);
  assert.deepEqual(pids(current()), [4003, 4002]);
  await clock.advance(60_000);
  assert.equal(workers.length, 2, 'no replacement spawned');
  assert.equal(app.status, 'online');
  assert.ok(messages(app).some((m) => m.includes('while no daemon was running (pid 4003 serves in its place)')));
});

test('adopt: a reload cut short with its new worker ready keeps the new one and drains the old one', async () => {
  const { app, workers, current } = fakeApp(testSpec({ instances: 1 }));
  app.adopt(snapshot([hosted(1, 0, 4001), hosted(2, 0, 4002)]), 'adopted');
  const older = workers.find((w) => w.pid === 4001);
  const newest = workers.find((w) => w.pid === 4002);
  assert.ok(older && newest);
  assert.equal(current()[0], newest);
  assert.equal(app.slots.length, 1);
  assert.equal(app.slots[0]?.status, 'online');
  assert.equal(older.stopsAsked, 1, 'the old worker is asked to stop');
  assert.equal(older.draining, true);
  assert.ok(app.retiring.has(older));
  assert.ok(!app.retiring.has(newest));
  assert.equal(newest.stopsAsked, 0);
  await settle();
  assert.ok(older.exited?.intended, 'the old worker drained');
  assert.equal(app.retiring.size, 0);
  assert.equal(newest.exited, null);
  assert.equal(app.status, 'online');
  assert.equal(workers.length, 2, 'nothing spawned');
  assert.ok(messages(app).some((m) => m.includes('reload interrupted by a daemon restart: draining old pid 4001')));
});

test('adopt: a reload cut short before its new worker was ready keeps the old one serving and kills the new one', async () => {
  const { app, workers, current } = fakeApp(testSpec({ instances: 1 }));
  app.adopt(snapshot([hosted(1, 0, 4001), hosted(2, 0, 4002, { ready: false, readyAt: null, readyHow: null })]), 'adopted');
  const older = workers.find((w) => w.pid === 4001);
  const newest = workers.find((w) => w.pid === 4002);
  assert.ok(older && newest);
  assert.equal(current()[0], older);
  assert.equal(app.slots[0]?.status, 'online');
  assert.ok(newest.exited, 'the new worker is killed');
  assert.equal(newest.exited.signal, 'SIGKILL');
  assert.equal(newest.exited.intended, true);
  assert.equal(older.stopsAsked, 0);
  assert.equal(older.exited, null);
  assert.equal(app.retiring.size, 0, 'the killed worker left the retiring set on its exit');
  await settle();
  assert.equal(workers.length, 2, 'nothing spawned');
  assert.equal(app.status, 'online');
  assert.ok(messages(app).some((m) => m.includes('stopping pid 4002, which was not ready; pid 4001 keeps serving')));
});

test('adopt: a slot missing from the snapshot (no exit) is started again by the queued scaling', async () => {
  const { app, workers, current, readyAll } = fakeApp(testSpec({ instances: 3 }));
  app.adopt(snapshot([hosted(1, 0, 4001), hosted(2, 1, 4002)]), 'adopted');
  await settle();
  assert.equal(app.slots.length, 3);
  assert.equal(workers.length, 3, 'one worker spawned for the missing slot');
  const spawned = workers[2];
  assert.ok(spawned);
  assert.equal(spawned.slot, 2);
  assert.equal(current()[2], spawned);
  assert.equal(app.busy, 'scaling');
  assert.equal(app.status, 'launching');
  await readyAll();
  assert.deepEqual(app.slots.map((s) => s.status), ['online', 'online', 'online']);
  assert.equal(app.status, 'online');
  assert.equal(app.busy, null);
  assert.deepEqual(pids(current()).slice(0, 2), [4001, 4002]);
});

test('adopt: more slots than instances (a scale-down cut short) drains the extra slot', async () => {
  const { app, workers, current } = fakeApp(testSpec({ instances: 1 }));
  app.adopt(snapshot([hosted(1, 0, 4001), hosted(2, 1, 4002)]), 'adopted');
  const extra = workers.find((w) => w.pid === 4002);
  assert.ok(extra);
  await settle();
  assert.equal(app.slots.length, 1);
  assert.deepEqual(pids(current()), [4001]);
  assert.equal(extra.stopsAsked, 1, 'the extra worker is asked to stop');
  assert.ok(extra.exited?.intended);
  assert.equal(app.retiring.size, 0);
  assert.equal(workers.length, 2, 'nothing spawned');
  assert.equal(app.status, 'online');
  assert.equal(app.busy, null);
});

test('adopt: a worker the last daemon was stopping goes on draining in retiring, not in a slot', async () => {
  const { app, workers, current } = fakeApp(testSpec({ instances: 2 }));
  app.adopt(snapshot([
    hosted(1, 0, 4001, { draining: true, intended: true }),
    hosted(2, 1, 4002),
    hosted(3, 0, 4003),
    hosted(4, 1, 4004, { draining: false, intended: true }),
  ]), 'adopted');
  const draining = workers.find((w) => w.pid === 4001);
  const intended = workers.find((w) => w.pid === 4004);
  assert.ok(draining && intended);
  assert.deepEqual(pids(current()), [4003, 4002]);
  assert.equal(app.slots.length, 2);
  assert.ok(app.retiring.has(draining));
  assert.ok(app.retiring.has(intended));
  assert.equal(draining.stopsAsked, 1);
  assert.equal(intended.stopsAsked, 1);
  assert.ok(app.info().workers.some((w) => w.pid === 4001 && w.status === 'draining'));
  // Draining already: its host keeps the deadline, so it ends when it finishes draining.
  draining.finishDrain();
  await settle();
  assert.ok(draining.exited && intended.exited);
  assert.equal(app.retiring.size, 0);
  assert.equal(workers.length, 4, 'nothing spawned');
  assert.equal(app.status, 'online');
});

test('adopt: a worker not ready yet is starting, then online once it becomes ready', async () => {
  const { app, workers, current } = fakeApp(testSpec({ instances: 1 }));
  app.adopt(snapshot([hosted(1, 0, 4001, { ready: false, readyAt: null, readyHow: null })]), 'adopted');
  const proc = current()[0];
  assert.ok(proc);
  assert.equal(proc.pid, 4001);
  assert.equal(app.slots[0]?.status, 'starting');
  assert.equal(app.status, 'launching');
  proc.becomeReady();
  await settle();
  assert.equal(app.slots[0]?.status, 'online');
  assert.equal(app.status, 'online');
  assert.equal(workers.length, 1);
  assert.ok(messages(app).some((m) => m === 'pid 4001 online (listening)'));
});
