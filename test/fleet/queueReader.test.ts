import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import type { QueueSpec } from '../../src/config/types';
import { QueueReader, redisOptions, redactedError, type QueueApp } from '../../src/daemon/queues/queueReader';
import type { JobQueueView } from '../../src/metrics/view';
import { eventually } from '../helpers';
import { redisProblem, startRedis } from './redisServer';

function queueApp(name: string, queue: QueueSpec | null): QueueApp & { metrics: { jobs: JobQueueView | null } } {
  return { name, spec: { queue }, metrics: { jobs: null } };
}

test('the daemon reads a queue\'s counts and job run times from a real Redis, says so when Redis is down (no password shown), recovers, and closes what a deleted app used', { skip: redisProblem() }, async (t) => {
  const password = 'p@ss/word';
  const redis = await startRedis(t, { bind: ['127.0.0.1'], password });
  const connection = { host: redis.host, port: redis.port, password };
  const spec: QueueSpec = { redis: redis.url, name: 'mail', prefix: 'herdtest', concurrency: 1, priority: null };
  const producer = new Queue('mail', { connection, prefix: 'herdtest' });
  const reader = new QueueReader();
  let worker: Worker | null = null;
  try {
    await producer.addBulk([...Array.from({ length: 5 }, (_, i) => ({ name: 'm', data: { i } })), { name: 'later', data: {}, opts: { delay: 60_000 } }]);
    const app = queueApp('mailer', spec);
    const other = queueApp('other', { ...spec, name: 'other' });
    const plain = queueApp('api', null);
    // A URL the config checks would refuse, sent by a program: said in its view, nothing thrown.
    const bad = queueApp('bad', { ...spec, redis: 'redis://127.0.0.1:99999' });
    const apps = [app, other, plain, bad];
    const read = async (check: (v: JobQueueView) => boolean) => eventually(async () => {
      await reader.tick(apps);
      return app.metrics.jobs && check(app.metrics.jobs) ? app.metrics.jobs : undefined;
    }, 10_000, 'a read of the queue');

    const before = await read((v) => v.at !== null);
    assert.deepEqual({ ...before, at: 0 }, { waiting: 5, active: 0, delayed: 1, prioritized: 0, failed: 0, completed: 0, duration: null, at: 0, error: null });
    assert.equal(plain.metrics.jobs, null);
    assert.deepEqual([bad.metrics.jobs?.at, bad.metrics.jobs?.error], [null, 'Invalid URL']);
    // Two queues on one URL share one connection.
    assert.deepEqual(reader.open, { queues: 2, connections: 1 });

    worker = new Worker('mail', async () => new Promise((resolve) => setTimeout(resolve, 20)), { connection: { ...connection, maxRetriesPerRequest: null }, prefix: 'herdtest' });
    const done = await read((v) => v.completed === 5 && v.duration !== null && v.duration.count === 5);
    assert.equal(done.waiting, 0);
    assert.ok(done.duration !== null && done.duration.p50 >= 15 && done.duration.p99 >= done.duration.p50, JSON.stringify(done.duration));
    await worker.close();
    worker = null;

    await redis.stop();
    const down = await read((v) => v.at === null);
    assert.ok(down.error !== null && down.error !== '', 'says why');
    assert.equal(down.completed, 5, 'keeps the last counts');
    for (const secret of [password, encodeURIComponent(password)]) assert.ok(!down.error.includes(secret), down.error);
    await redis.start();
    await read((v) => v.at !== null && v.error === null);

    // The app deleted (and `other` too) while Redis is down: its queue and the connection close all the same.
    await redis.stop();
    await reader.tick([plain]);
    assert.deepEqual(reader.open, { queues: 0, connections: 0 });
    assert.deepEqual(redisOptions(redis.url), { host: '127.0.0.1', port: redis.port, password });
    assert.equal(redactedError(new Error(`no ${password} at ${redis.url}`), redis.url), `no *** at redis://:***@127.0.0.1:${redis.port}`);
  } finally {
    await worker?.close();
    await producer.close();
    await reader.close();
  }
});

/** Counts ioredis clients' connects, and makes disconnect throw while `failDisconnect` is set; undone after the test. */
function spyOnRedis(t: { after: (fn: () => void) => void }): { connects: number; thrown: number; failDisconnect: boolean } {
  const proto = Redis.prototype as unknown as { connect: (...a: unknown[]) => Promise<void>; disconnect: (...a: unknown[]) => void };
  const { connect, disconnect } = proto;
  const spy = { connects: 0, thrown: 0, failDisconnect: false };
  proto.connect = function (this: unknown, ...a: unknown[]) {
    spy.connects++;
    return connect.apply(this, a);
  };
  proto.disconnect = function (this: unknown, ...a: unknown[]) {
    disconnect.apply(this, a);
    if (!spy.failDisconnect) return;
    spy.thrown++;
    throw new Error('disconnect failed');
  };
  t.after(() => {
    proto.connect = connect;
    proto.disconnect = disconnect;
  });
  return spy;
}

test('a queue bullmq refuses is said in its view and not opened again each tick (no new Redis client) until its queue key changes', { skip: redisProblem() }, async (t) => {
  const redis = await startRedis(t, { bind: ['127.0.0.1'] });
  const spec: QueueSpec = { redis: redis.url, name: 'mail', prefix: 'herdtest', concurrency: 1, priority: null };
  const reader = new QueueReader();
  const spy = spyOnRedis(t);
  try {
    // A name the checks refuse (':'), sent anyway: BullMQ's Queue throws; said, and the client made for it is gone at once.
    const colon = queueApp('colon', { ...spec, name: 'mail:eu' });
    for (let i = 0; i < 3; i++) await reader.tick([colon]);
    assert.deepEqual([colon.metrics.jobs?.at, colon.metrics.jobs?.error], [null, 'Queue name cannot contain :']);
    assert.deepEqual(reader.open, { queues: 0, connections: 0 });
    assert.equal(spy.connects, 1, 'one client, on the first tick only');
    (colon as { spec: QueueApp['spec'] }).spec = { queue: spec };
    await eventually(async () => {
      await reader.tick([colon]);
      return colon.metrics.jobs?.at ?? undefined;
    }, 5000, 'a read of the fixed queue');
  } finally {
    await reader.close();
  }
});

test('a connection whose disconnect throws, as a deleted app\'s queue closes, reaches no unhandled rejection', { skip: redisProblem() }, async (t) => {
  const redis = await startRedis(t, { bind: ['127.0.0.1'] });
  const app = queueApp('mailer', { redis: redis.url, name: 'mail', prefix: 'herdtest', concurrency: 1, priority: null });
  const reader = new QueueReader();
  const spy = spyOnRedis(t);
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  try {
    await eventually(async () => {
      await reader.tick([app]);
      return app.metrics.jobs?.at ?? undefined;
    }, 5000, 'a read of the queue');
    // tick() does not wait for the close; close() waits for the queue's, after which the disconnect runs,
    // and a turn of the loop lets a rejection surface.
    spy.failDisconnect = true;
    await reader.tick([]);
    await reader.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(spy.thrown, 1);
    assert.deepEqual(unhandled, []);
  } finally {
    spy.failDisconnect = false;
    await reader.close();
  }
});

test('each Redis is read at its own pace: one that stops answering holds up only the apps on it', { skip: redisProblem() }, async (t) => {
  const [fast, slow] = await Promise.all([startRedis(t, { bind: ['127.0.0.1'] }), startRedis(t, { bind: ['127.0.0.1'] })]);
  const on = (url: string): QueueSpec => ({ redis: url, name: 'mail', prefix: 'herdtest', concurrency: 1, priority: null });
  const healthy = queueApp('healthy', on(fast.url));
  const stuck = queueApp('stuck', on(slow.url));
  const apps = [healthy, stuck];
  const reader = new QueueReader();
  let stopped: number | undefined;
  try {
    await eventually(async () => {
      await reader.tick(apps, 1000);
      return healthy.metrics.jobs?.at === 1000 && stuck.metrics.jobs?.at === 1000 ? true : undefined;
    }, 5000, 'a first read of both');
    // Stopped, the slow Redis keeps its connection open and answers nothing: its read waits for the 2 s timeout.
    stopped = slow.pid;
    process.kill(stopped as number, 'SIGSTOP');
    const stuckRead = reader.tick(apps, 2000);
    await eventually(() => (healthy.metrics.jobs?.at === 2000 ? true : undefined), 2000, 'the healthy app read at 2000');
    // The next ticks, while the stuck read is still going: the healthy Redis is read at each.
    await reader.tick(apps, 3000);
    assert.equal(healthy.metrics.jobs?.at, 3000);
    await reader.tick(apps, 4000);
    assert.equal(healthy.metrics.jobs?.at, 4000);
    assert.equal(stuck.metrics.jobs?.at, 1000, 'not read since it stopped');
    process.kill(stopped as number, 'SIGCONT');
    stopped = undefined;
    await stuckRead;
  } finally {
    if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
    await reader.close();
  }
});
