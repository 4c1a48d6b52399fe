import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HerdError } from '../../src/errors';
import { loadTarget } from '../../src/config/load';
import { queueEnv, queueShown } from '../../src/config/queue';
import { specProblems } from '../../src/config/specCheck';
import type { AppSpec } from '../../src/config/types';
import { workerCommand } from '../../src/daemon/worker/workerCommand';
import { configFiles } from '../configFiles';

const files = configFiles('config-queue');

async function load(value: unknown): Promise<AppSpec[]> {
  return (await loadTarget(await files.write(value), files.options())).specs;
}

async function problems(value: unknown): Promise<string[]> {
  const err = await loadTarget(await files.write(value), files.options()).then(() => assert.fail('expected the load to fail'), (e: unknown) => e);
  assert.ok(err instanceof HerdError && err.code === 'HERD_ERR_CONFIG_INVALID', String(err));
  return err.details;
}

test('queue makes a fork-mode app with defaults (prefix bull, concurrency 1, no priority), and its workers get HERD_QUEUE_*', async () => {
  const [q, full, server] = await load({ apps: [
    { name: 'mail', script: 'server.js', instances: 3, queue: { redis: 'redis://127.0.0.1:6379', name: 'mail' } },
    { name: 'pdf', script: 'server.js', exec_mode: 'fork', queue: { redis: 'redis://:s3cret@10.0.0.5:6380/2', name: 'pdf', prefix: 'app', concurrency: 4, priority: 10 } },
    { name: 'api', script: 'server.js' },
  ] });
  assert.deepEqual([q?.execMode, q?.instances, q?.queue], ['fork', 3, { redis: 'redis://127.0.0.1:6379', name: 'mail', prefix: 'bull', concurrency: 1, priority: null }]);
  assert.deepEqual(full?.queue, { redis: 'redis://:s3cret@10.0.0.5:6380/2', name: 'pdf', prefix: 'app', concurrency: 4, priority: 10 });
  assert.equal(server?.queue, null);
  assert.equal(server?.execMode, 'cluster');
  assert.deepEqual(specProblems(full, 'spec'), []);
  const env = workerCommand(full as AppSpec, 0, 1).env;
  assert.deepEqual([env.HERD_QUEUE_REDIS, env.HERD_QUEUE_NAME, env.HERD_QUEUE_PREFIX, env.HERD_QUEUE_CONCURRENCY, env.HERD_QUEUE_PRIORITY],
    ['redis://:s3cret@10.0.0.5:6380/2', 'pdf', 'app', '4', '10']);
  assert.equal('HERD_QUEUE_PRIORITY' in queueEnv(q?.queue), false);
  assert.deepEqual(queueEnv(server?.queue), {});
  // What herd shows never carries the password.
  assert.equal(queueShown(full?.queue as NonNullable<AppSpec['queue']>).redis, 'redis://:***@10.0.0.5:6380/2');
});

test('a bad queue key is a problem naming the field, the URL shown without its password', async () => {
  assert.deepEqual(await problems({ apps: [
    { name: 'a', script: 'server.js', queue: { redis: 'http://u:hunter2@host', name: 'q' } },
    { name: 'b', script: 'server.js', queue: { redis: 'redis://127.0.0.1', name: ' ' } },
    { name: 'c', script: 'server.js', queue: { redis: 'redis://127.0.0.1', name: 'q', concurrency: 0 } },
    { name: 'd', script: 'server.js', exec_mode: 'cluster', queue: { redis: 'redis://127.0.0.1', name: 'q' } },
    { name: 'e', script: 'server.js', queue: 'redis://127.0.0.1' },
  ] }), [
    'apps[0].queue.redis: must be a redis://, rediss:// or unix:// URL with a host (or a socket path); got "http://u:***@host/"',
    'apps[1].queue.name: must be a non-empty string; got " "',
    'apps[2].queue.concurrency: must be an integer from 1 to 10000; got 0',
    'apps[3].exec_mode: a queue app (queue) runs in fork mode: its workers take jobs from Redis and share no port; remove cluster mode',
    'apps[4].queue: must be an object with redis, name, prefix, concurrency, priority; got "redis://127.0.0.1"',
  ]);
});

test('a missing URL and a bad priority are problems; a key herd does not read (a Worker option) is a warning', async () => {
  const found = await problems({ apps: [{ name: 'e', script: 'server.js', queue: { name: 'q', priority: 1.5 } }] });
  assert.deepEqual(found, [
    "apps[0].queue.redis: is required: the Redis URL of the queue, e.g. 'redis://127.0.0.1:6379'",
    'apps[0].queue.priority: must be an integer from 1 to 2097152; got 1.5',
  ]);
  const { warnings } = await loadTarget(await files.write({ apps: [{ name: 'e', script: 'server.js', queue: { redis: 'redis://h', name: 'q', lockDuration: 5 } }] }), files.options());
  assert.match(warnings.join('\n'), /apps\[0\]\.queue\.lockDuration: unknown key; ignored/);
});

test("a queue name with ':' is refused by the loader and by the daemon's check of a spec, naming queue.name (BullMQ's Queue and Worker would throw)", async () => {
  assert.deepEqual(await problems({ apps: [{ name: 'a', script: 'server.js', queue: { redis: 'redis://127.0.0.1', name: 'mail:eu' } }] }), [
    `apps[0].queue.name: must not contain ':' (BullMQ refuses it: it separates the parts of the queue's Redis keys); got "mail:eu"`,
  ]);
  const [ok] = await load({ apps: [{ name: 'a', script: 'server.js', queue: { redis: 'redis://127.0.0.1', name: 'mail' } }] });
  const sent = { ...ok, queue: { ...ok?.queue, name: 'mail:eu' } };
  assert.deepEqual(specProblems(sent, 'spec'), [`spec.queue.name must not contain ':' (BullMQ refuses it: it separates the parts of the queue's Redis keys); got "mail:eu"`]);
});

test("a queue app's spec in cluster mode or with a job, as the control socket or a hand-edited state.json could bring it, is refused naming the field", async () => {
  const [q] = await load({ apps: [{ name: 'a', script: 'server.js', queue: { redis: 'redis://127.0.0.1', name: 'mail' } }] });
  assert.deepEqual(specProblems({ ...q, execMode: 'cluster' }, 'spec'), [
    'spec.execMode a queue app (queue) runs in fork mode: its workers take jobs from Redis and share no port; remove cluster mode',
  ]);
  assert.deepEqual(specProblems({ ...q, job: { schedule: '* * * * *', timezone: null, fleet: false } }, 'spec'), [
    'spec.job a job (cron) cannot also consume a queue; remove cron or queue',
  ]);
  // The loader says the same at the user's keys.
  assert.deepEqual(await problems({ apps: [{ name: 'b', script: 'server.js', cron: '* * * * *', queue: { redis: 'redis://127.0.0.1', name: 'mail' } }] }), [
    'apps[0].queue: a job (cron) cannot also consume a queue; remove cron or queue',
  ]);
});
