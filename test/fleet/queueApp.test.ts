import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import type { AppMetricsView } from '../../src/metrics/view';
import type { AppDetail } from '../../src/protocol/control';
import { eventually, FIXTURES, herdHome, kill } from '../helpers';
import { redisProblem, startRedis } from './redisServer';

const JOB_MS = 1000;

/*
 * A queue app under the real daemon, with a real Redis and real BullMQ: the
 * queue's counts in `herd metrics`, the URL's password hidden in `herd
 * describe`; a job in progress when `herd stop` (app without a signal
 * handler: herd's agent closes its Worker) or `herd reload` (app that closes
 * its Worker on SIGTERM itself) comes finishes once and is not run again;
 * a worker killed with -9 leaves its job to BullMQ's stalled-job recovery,
 * which runs it again.
 */
test('queue apps: metrics from Redis, a graceful stop or reload finishes the job in progress once, a killed worker\'s job runs again', { skip: redisProblem() }, async (t) => {
  const { home, herd } = herdHome(t);
  const password = 'queue-secret';
  const redis = await startRedis(t, { bind: ['127.0.0.1'], password });
  const url = redis.url;
  const app = (name: string, env: Record<string, string>) => ({
    name, script: path.join(FIXTURES, 'queue-worker.js'), instances: 1, killTimeout: '10s',
    env: { JOB_MS: String(JOB_MS), JOB_LOCK_MS: '1000', JOB_STALLED_MS: '500', ...env },
    queue: { redis: url, name, prefix: 'herdtest' },
  });
  const config = path.join(home, 'queues.config.json');
  writeFileSync(config, JSON.stringify({ apps: [app('plain', {}), app('closes', { JOB_CLOSES_ITSELF: '1' })] }));
  const connection = { host: redis.host, port: redis.port, password };
  const queues = { plain: new Queue('plain', { connection, prefix: 'herdtest' }), closes: new Queue('closes', { connection, prefix: 'herdtest' }) };
  const record = new IORedis({ ...connection, lazyConnect: true });
  const runs = async (name: string) => Object.fromEntries(Object.entries(await record.hgetall(`${name}:runs`)).map(([k, v]) => [k, Number(v)]));
  const started = (name: string, id: string) => eventually(async () => ((await runs(name))[id] !== undefined ? true : undefined), 15_000, `${name} job ${id} started`);
  try {
    await record.connect();
    const start = await herd(['start', config]);
    assert.equal(start.code, 0, start.stderr);
    const [plainJob, closesJob] = await Promise.all([queues.plain.add('j', {}), queues.closes.add('j', {})]);
    await Promise.all([started('plain', plainJob.id as string), started('closes', closesJob.id as string)]);

    // Both jobs are in progress: herd stop one app, reload the other.
    const [stop, reload] = await Promise.all([herd(['stop', 'plain']), herd(['reload', 'closes'])]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(reload.code, 0, reload.stderr);
    // Each job finished before its worker exited, and ran once.
    assert.equal(await record.get('plain:done'), '1', 'the job in progress finished before herd stop returned');
    assert.equal(await record.get('closes:done'), '1', 'the job in progress finished before the old worker of the reload exited');
    assert.deepEqual(await runs('plain'), { [plainJob.id as string]: 1 });
    assert.deepEqual(await runs('closes'), { [closesJob.id as string]: 1 });
    const plain = JSON.parse((await herd(['describe', 'plain', '--json'])).stdout) as AppDetail;
    assert.ok(plain.events.some((e) => /1 BullMQ worker\(s\) closed after their active jobs/.test(e.message)), JSON.stringify(plain.events));
    assert.equal(plain.queue?.redis, `redis://:***@127.0.0.1:${redis.port}`);
    assert.ok(!JSON.stringify(plain).includes(password), 'describe never shows the password');

    // The daemon reads the queue: the reloaded app's counts in herd metrics.
    await queues.closes.add('j', {});
    const jobs = await eventually(async () => {
      const m = JSON.parse((await herd(['metrics', 'closes', '--json'])).stdout) as AppMetricsView;
      return m.jobs && m.jobs.completed === 2 && m.jobs.duration !== null ? m.jobs : undefined;
    }, 15_000, 'metrics with 2 completed jobs');
    assert.deepEqual([jobs.waiting, jobs.active, jobs.failed, jobs.error], [0, 0, 0, null]);
    assert.ok(jobs.duration !== null && jobs.duration.p50 >= JOB_MS, JSON.stringify(jobs.duration));
    assert.match((await herd(['metrics', 'closes'])).stdout, /queue waiting 0 {2}active 0 {2}delayed 0 {2}failed 0 {2}completed 2 {2}job time p50/);

    // kill -9 during a job: BullMQ's stalled checker (lockDuration 1 s, stalledInterval 0.5 s here) runs it again on the new worker.
    const pid = JSON.parse((await herd(['describe', 'closes', '--json'])).stdout).workers[0].pid as number;
    const killedJob = await queues.closes.add('j', {});
    await started('closes', killedJob.id as string);
    kill(pid);
    await eventually(async () => ((await runs('closes'))[killedJob.id as string] === 2 && (await record.get('closes:done')) === '3' ? true : undefined), 20_000, 'the killed job run again');
  } finally {
    await Promise.all([queues.plain.close(), queues.closes.close()]);
    record.disconnect();
  }
});
