// App's operations and restart policy, driven with fake workers and a fake
// clock (test/fakes/appHarness.ts): no process is spawned, no time passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HerdError } from '../../src/errors';
import { Slot, throwOnIllegal, TRANSITIONS } from '../../src/daemon/supervision/slot';
import { fakeApp, settle, testSpec } from '../fakes/appHarness';

const statuses = (app: { info(): { workers: { status: string }[] } }) => app.info().workers.map((w) => w.status);

test('start: the app is online once every worker is ready', async () => {
  const { app, readyAll, workers } = fakeApp();
  const started = app.start();
  await settle();
  assert.equal(app.status, 'launching');
  assert.deepEqual(statuses(app), ['starting', 'starting']);
  await readyAll();
  await started;
  assert.equal(app.status, 'online');
  assert.equal(workers.length, 2);
});

test('crash loop: maxCrashes unstable crashes hold every slot for the cool-down, then it retries', async () => {
  const spec = testSpec({ instances: 1, crashLoop: { maxCrashes: 3, minUptime: 1000, window: 60_000, coolDown: 30_000 } });
  const { app, clock, workers } = fakeApp(spec);
  const started = app.start();
  started.catch(() => {}); // asserted below, once it settles
  await settle();
  workers[0]?.crash(1, 'Error: cannot find module');
  await settle();
  assert.equal(app.slots[0]?.status, 'backoff');
  await clock.advance(100);
  workers[1]?.crash(1);
  await clock.advance(200);
  workers[2]?.crash(1);
  await settle();
  await assert.rejects(started, (err: Error) => err instanceof HerdError && err.code === 'HERD_ERR_START_FAILED' && /crash loop: 3 crashes/.test(err.message));
  assert.equal(app.status, 'errored');
  assert.equal(app.slots[0]?.status, 'held');
  assert.deepEqual(app.lastStderr, []);
  const made = workers.length;
  await clock.advance(29_000);
  assert.equal(workers.length, made, 'no restart during the cool-down');
  await clock.advance(1000);
  assert.equal(workers.length, made + 1, 'one retry when the cool-down ends');
  assert.equal(app.slots[0]?.status, 'starting');
  assert.equal(app.reason, 'cool-down over; retrying');
  assert.notEqual(app.status, 'errored');
});

test('crash loop: crashes of workers that served minUptime do not count', async () => {
  const spec = testSpec({ instances: 1, crashLoop: { maxCrashes: 2, minUptime: 1000, window: 60_000, coolDown: 30_000 } });
  const { app, clock, current, readyAll } = fakeApp(spec);
  const started = app.start();
  await readyAll();
  await started;
  for (let i = 0; i < 5; i++) {
    await clock.advance(2000);
    current()[0]?.crash(137);
    await clock.advance(0);
    await readyAll();
  }
  assert.equal(app.status, 'online');
  assert.equal(app.slots[0]?.restarts, 5);
});

test('backoff grows by its factor for a worker that cannot run, and starts over after resetAfter', async () => {
  const spec = testSpec({ instances: 1, backoff: { initial: 100, max: 1000, factor: 2, resetAfter: 30_000 }, crashLoop: { maxCrashes: 100, minUptime: 1000, window: 60_000, coolDown: 30_000 } });
  const { app, clock, current } = fakeApp(spec);
  void app.start().catch(() => {});
  await settle();
  const delays: string[] = [];
  for (let i = 0; i < 5; i++) {
    current()[0]?.crash(1);
    await settle();
    delays.push(app.slots[0]?.reason.replace(/^.*restarting in /, '') ?? '');
    await clock.advance(1000);
  }
  assert.deepEqual(delays, ['100ms', '200ms', '400ms', '800ms', '1s']);
  // Up for resetAfter without ever becoming ready: the first delay again.
  await clock.advance(30_000);
  current()[0]?.crash(1);
  await settle();
  assert.match(app.slots[0]?.reason ?? '', /restarting in 100ms$/);
});

test('a worker that served minUptime is replaced at once and its backoff starts over', async () => {
  const spec = testSpec({ instances: 1, backoff: { initial: 100, max: 15_000, factor: 2, resetAfter: 30_000 } });
  const { app, clock, current, readyAll, workers } = fakeApp(spec);
  const started = app.start();
  await readyAll();
  await started;
  await clock.advance(5000);
  current()[0]?.crash(137);
  await settle();
  assert.equal(app.slots[0]?.status, 'backoff');
  assert.match(app.slots[0]?.reason ?? '', /after serving 5s; replaced at once/);
  await clock.advance(0);
  assert.equal(workers.length, 2, 'replaced without a delay');
  assert.equal(app.slots[0]?.consecutiveCrashes, 0);
});

test('reload: each slot gets a new worker before its old one drains; a failure aborts and keeps the old ones', async () => {
  const { app, current, readyAll, fresh } = fakeApp();
  const started = app.start();
  await readyAll();
  await started;
  const old = current();
  const reload = app.reload(app.spec, () => {});
  reload.catch(() => {}); // asserted below
  await settle();
  assert.equal(app.status, 'reloading');
  const next = fresh()[0];
  assert.ok(next, 'a new worker for slot 0');
  assert.equal(old[0]?.stopsAsked, 0, 'the old worker serves until the new one is ready');
  next.crash(1, 'SyntaxError: Unexpected token');
  await assert.rejects(reload, (err: Error) => err instanceof HerdError && err.code === 'HERD_ERR_RELOAD_FAILED' && err.details.includes('SyntaxError: Unexpected token'));
  assert.deepEqual(current(), old, 'the old workers stay');
  assert.deepEqual(statuses(app), ['online', 'online']);
  assert.equal(app.status, 'online');
  assert.equal(old[0]?.stopsAsked, 0);
  assert.equal(fresh().length, 0, 'slot 1 was not touched');
});

test('reload replaces every slot new-first and drains the old workers', async () => {
  const { app, current, readyAll } = fakeApp();
  const started = app.start();
  await readyAll();
  await started;
  const old = current();
  const reload = app.reload(app.spec, () => {});
  for (let i = 0; i < 2; i++) {
    await settle();
    await readyAll();
  }
  await reload;
  const now = current();
  assert.ok(now.every((w, i) => w !== old[i]), 'new workers in both slots');
  assert.ok(old.every((w) => w?.exited?.intended), 'the old ones were stopped on purpose');
  assert.deepEqual(statuses(app), ['online', 'online']);
  assert.equal(app.totalRestarts, 2);
});

test('a reload racing a crash: the crashed old worker is taken over by its replacement; another slot restarts and is reloaded too', async () => {
  const { app, clock, current, readyAll, fresh } = fakeApp();
  const started = app.start();
  await readyAll();
  await started;
  await clock.advance(5000);
  const old = current();
  const reload = app.reload(app.spec, () => {});
  await settle();
  // The old worker of slot 0 dies while its replacement starts.
  old[0]?.crash(1);
  await settle();
  assert.equal(app.slots[0]?.status, 'replacing');
  // The old worker of slot 1 dies too: it had served, so it restarts at once.
  old[1]?.crash(137);
  await clock.advance(0);
  assert.equal(app.slots[1]?.status, 'starting');
  for (let i = 0; i < 3; i++) {
    await readyAll();
    await settle();
  }
  await reload;
  assert.deepEqual(statuses(app), ['online', 'online']);
  assert.equal(fresh().length, 0);
  assert.ok(current().every((w) => w && !old.includes(w) && !w.exited));
});

test('scale during a reload waits for it, then adds the slot with the new spec', async () => {
  const { app, current, readyAll } = fakeApp();
  const started = app.start();
  await readyAll();
  await started;
  const v2 = testSpec({ env: { VERSION: '2' } });
  const reload = app.reload(v2, () => {});
  const scale = app.scale(3, () => {});
  await settle();
  assert.equal(app.slots.length, 2, 'scale waits for the reload');
  for (let i = 0; i < 4; i++) {
    await readyAll();
    await settle();
  }
  await reload;
  assert.deepEqual(await scale, { from: 2, to: 3 });
  assert.equal(app.slots.length, 3);
  assert.deepEqual(statuses(app), ['online', 'online', 'online']);
  assert.ok(current().every((w) => w?.spec.env.VERSION === '2'), 'the added worker runs the reloaded spec');
});

test('memory or health replacement starts the new worker first and drains the old one once it is ready', async () => {
  const spec = testSpec({ instances: 1, healthCheck: { path: '/health', interval: 5000, timeout: 2000, failures: 3 } });
  const { app, current, readyAll, fresh } = fakeApp(spec);
  const started = app.start();
  await readyAll();
  await started;
  const [old] = current();
  assert.ok(old);
  const slot = app.slots[0];
  assert.ok(slot);
  for (let i = 1; i <= 2; i++) {
    old.healthFailures = i;
    app.healthCheckFailed(slot, old, 'status 500');
  }
  await settle();
  assert.equal(fresh().length, 0, 'two failures are not enough');
  old.healthFailures = 3;
  app.healthCheckFailed(slot, old, 'status 500');
  await settle();
  assert.equal(fresh().length, 1, 'a replacement starts');
  assert.equal(old.stopsAsked, 0, 'the old worker keeps serving meanwhile');
  assert.equal(app.replaceSlot(slot, 'memory over limit'), false, 'a second trigger queues nothing');
  await readyAll();
  assert.equal(old.exited?.intended, true);
  assert.notEqual(current()[0], old);
  assert.equal(slot.status, 'online');
  assert.ok(app.detail().events.some((e) => /replacing pid \d+: 3 health checks failed/.test(e.message)));
});

test('stop during a reload: the stop waits for the reload, then every worker drains and nothing restarts', async () => {
  const { app, clock, readyAll, workers } = fakeApp();
  const started = app.start();
  await readyAll();
  await started;
  const reload = app.reload(app.spec, () => {});
  await settle();
  const stop = app.stop();
  await readyAll();
  await settle();
  await readyAll();
  await reload;
  await stop;
  assert.equal(app.status, 'stopped');
  assert.deepEqual(statuses(app), ['stopped', 'stopped']);
  assert.ok(workers.every((w) => w.exited), 'no worker left running');
  const made = workers.length;
  await clock.advance(120_000);
  assert.equal(workers.length, made, 'nothing restarts after a stop');
  assert.equal(clock.pending(), 0, 'no timer left behind');
});

test('stop while a slot waits in backoff cancels its restart', async () => {
  const { app, clock, current, readyAll, workers } = fakeApp(testSpec({ instances: 1 }));
  const started = app.start();
  await readyAll();
  await started;
  current()[0]?.crash(1);
  await settle();
  assert.equal(app.slots[0]?.status, 'backoff');
  await app.stop();
  await clock.advance(60_000);
  assert.equal(workers.length, 1);
  assert.equal(app.slots[0]?.status, 'stopped');
});

test('a stalled worker is replaced at once, its stack read, and it counts as a crash', async () => {
  const spec = testSpec({ instances: 1, crashLoop: { maxCrashes: 2, minUptime: 1000, window: 60_000, coolDown: 30_000 } });
  const { app, current, readyAll } = fakeApp(spec);
  const started = app.start();
  await readyAll();
  await started;
  const [stuck] = current();
  assert.ok(stuck && app.slots[0]);
  app.killStalled(app.slots[0], stuck, 12_000);
  await settle();
  assert.notEqual(current()[0], stuck, 'its replacement started at once');
  assert.equal(stuck.exited?.reason, 'killed: event loop stalled (no answer for 12s)');
  assert.ok(app.detail().events.some((e) => e.message.includes('at loop (/app/server.js:1:1)')));
  await readyAll();
  const [second] = current();
  assert.ok(second);
  app.killStalled(app.slots[0], second, 12_000);
  await settle();
  assert.equal(app.status, 'errored', 'two stalls in the window are a crash loop');
  assert.equal(app.slots[0].status, 'held');
});

test('the lifecycle table: every status can be stopped, and a forbidden transition throws in tests', () => {
  for (const from of Object.keys(TRANSITIONS) as (keyof typeof TRANSITIONS)[]) {
    assert.ok(TRANSITIONS[from].includes('stopped'), `${from} -> stopped`);
  }
  const slot = new Slot(0, throwOnIllegal);
  slot.transition('draining', 'stopping');
  assert.throws(() => slot.transition('online', 'ready'), /worker 0: illegal transition draining -> online \(ready\)/);
  const reported: string[] = [];
  const lenient = new Slot(1, (id, from, to) => reported.push(`${id} ${from}->${to}`));
  lenient.transition('draining', 'stopping');
  lenient.transition('online', 'ready');
  assert.deepEqual(reported, ['1 draining->online']);
  assert.equal(lenient.status, 'online', 'the daemon goes on with the status it decided');
});
