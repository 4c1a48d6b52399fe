import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { QueueWorkers, WORKER_MODULE } from '../../src/agent/queueWorkers';
import { jobsLine } from '../../src/cli/queueText';
import { jobDurations } from '../../src/daemon/queues/jobDurations';
import { stopOutcome } from '../../src/daemon/supervision/stopOutcome';
import { AppMetrics } from '../../src/metrics/aggregate';
import { renderPrometheus, type PromApp } from '../../src/metrics/prometheus';
import type { JobQueueView } from '../../src/metrics/view';
import { FIXTURES, NODE } from '../helpers';

/** BullMQ's Worker as far as the agent sees it: run() when it starts, close() waits for the active job, 'closed' after. */
class FakeWorker extends EventEmitter {
  closed = false;
  private closing: Promise<void> | null = null;
  constructor(private readonly jobMs: number, autorun = true) {
    super();
    if (autorun) void this.run();
  }
  async run(): Promise<void> {}
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => setTimeout(resolve, this.jobMs).unref()).then(() => {
      this.closed = true;
      this.emit('closed');
    });
    return this.closing;
  }
}

test('the agent finds every Worker that runs (autorun or run()), closes them all by the deadline, and says which were still busy', async () => {
  const workers = new QueueWorkers();
  workers.adopt(FakeWorker);
  workers.adopt(FakeWorker); // twice: run is wrapped once
  workers.adopt(null);
  workers.adopt(class NotAWorker {});
  const quick = new FakeWorker(5);
  const manual = new FakeWorker(5, false);
  assert.equal(workers.count, 1, 'a Worker that never ran has no job to finish');
  void manual.run();
  const slow = new FakeWorker(60_000);
  assert.equal(workers.count, 3);
  const result = await workers.closeAll(Date.now() + 100);
  assert.deepEqual(result, { closed: 2, pending: 1 });
  assert.equal(quick.closed && manual.closed, true);
  assert.equal(workers.count, 1, 'closed Workers are forgotten');
  assert.equal(slow.closed, false);
  assert.equal(await new QueueWorkers().closeAll(Date.now() + 100), null, 'no Worker: nothing to report');
  // bullmq's worker module wherever an install puts it, and nothing else.
  for (const url of ['file:///app/node_modules/bullmq/dist/cjs/classes/worker.js', 'file:///app/node_modules/.pnpm/bullmq@6.7.0/node_modules/bullmq/dist/esm/classes/worker.js']) assert.ok(WORKER_MODULE.test(url), url);
  for (const url of ['file:///app/node_modules/bullmq/dist/cjs/classes/child-processor.js', 'file:///app/src/classes/worker.js']) assert.ok(!WORKER_MODULE.test(url), url);
});

test('an ES module app run under tsx that imports bullmq has its Worker class handed to the agent too', () => {
  const hook = pathToFileURL(path.join(__dirname, '..', '..', 'src', 'agent', 'queueWorkers.ts')).href;
  const r = spawnSync(NODE, ['--import', 'tsx', path.join(FIXTURES, 'queue-hook-esm.mjs')], { encoding: 'utf8', env: { ...process.env, HOOK_MODULE: hook } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop() ?? ''), { patched: true });
});

test('a bullmq worker module without a Worker class (another version) still loads under the hook: it is left alone', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-bullmq-shape-'));
  try {
    const file = path.join(dir, 'node_modules', 'bullmq', 'dist', 'cjs', 'classes', 'worker.js');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'exports.Renamed = class Renamed {};\n');
    const hook = path.join(__dirname, '..', '..', 'src', 'agent', 'queueWorkers.ts');
    const script = `const { QueueWorkers, watchBullmq } = require(${JSON.stringify(hook)}); watchBullmq(new QueueWorkers()); console.log(typeof require(${JSON.stringify(file)}).Renamed);`;
    const r = spawnSync(NODE, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'function');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stop outcome says how many BullMQ workers closed after their jobs, and how many were still running one', () => {
  const exit = { code: 0, signal: null, intended: true, reason: 'exited with code 0', uptimeMs: 1000 };
  assert.equal(stopOutcome({ drainReport: { finished: 0, closedIdle: 0, queueWorkers: { closed: 1, pending: 0 } }, forcedExit: null }, exit, 5000),
    'drained (0 requests finished, 0 idle connections closed, 1 BullMQ worker(s) closed after their active jobs) and exited with code 0');
  assert.match(stopOutcome({ drainReport: { finished: 0, closedIdle: 0, queueWorkers: { closed: 0, pending: 2 } }, forcedExit: null }, exit, 5000), /0 BullMQ worker\(s\) closed after their active jobs, 2 still running jobs at the deadline/);
});

const VIEW: JobQueueView = { waiting: 120, active: 4, delayed: 1, prioritized: 3, failed: 2, completed: 900, duration: { p50: 41, p99: 97, count: 100 }, at: 1, error: null };

test('job run times: nearest-rank p50/p99 of the jobs with both times, null with none', () => {
  const jobs = Array.from({ length: 100 }, (_, i) => ({ processedOn: 1000, finishedOn: 1001 + i }));
  assert.deepEqual(jobDurations(jobs), { p50: 50, p99: 99, count: 100 });
  assert.deepEqual(jobDurations([{ processedOn: Number.NaN, finishedOn: 5 }, { processedOn: 0, finishedOn: 0 }]), null);
});

test('the queue in herd metrics text and in Prometheus; a Redis that cannot be read is said', () => {
  assert.equal(jobsLine(VIEW), '  queue waiting 120 (+3 prioritized)  active 4  delayed 1  failed 2  completed 900  job time p50 41ms  p99 97ms (last 100)');
  assert.match(jobsLine({ ...VIEW, at: null, error: 'connect ECONNREFUSED' }), /\(Redis unreadable: connect ECONNREFUSED; counts as last read\)$/);
  const m = new AppMetrics();
  const app: PromApp = {
    app: 'mailer', status: 'online', metrics: true, restarts: 0, uptimeMs: 1, routes: [], inFlight: 0, connections: 0, queue: null, shed: 0,
    cpuMs: 0, gcPauseMs: 0, gcCount: 0, workers: [], counters: m.counters, gauges: m.gauges(), histograms: m.histograms, jobs: VIEW,
  };
  const text = renderPrometheus([app, { ...app, app: 'api', jobs: null }]);
  assert.match(text, /^herd_queue_up\{app="mailer"\} 1$/m);
  assert.match(text, /^herd_queue_jobs\{app="mailer",state="waiting"\} 120$/m);
  assert.match(text, /^herd_queue_jobs\{app="mailer",state="prioritized"\} 3$/m);
  assert.match(text, /^herd_queue_job_duration_seconds\{app="mailer",quantile="0.99"\} 0.097$/m);
  assert.doesNotMatch(text, /^herd_queue\w*\{app="api"/m);
  assert.match(renderPrometheus([{ ...app, jobs: { ...VIEW, at: null } }]), /^herd_queue_up\{app="mailer"\} 0$/m);
  // The app view carries the queue; a worker's view does not.
  m.jobs = VIEW;
  const ctx = { name: 'mailer', status: 'online', metrics: true, uptimeMs: 1, restarts: 0, workers: [] };
  assert.deepEqual(m.view(ctx).jobs, VIEW);
  assert.equal(m.view(ctx, 0).jobs, undefined);
});

test('the daemon\'s code loads bullmq only when a queue app exists: the supervisor and the queue reader alone do not', () => {
  require('../../src/daemon/supervision/supervisor');
  require('../../src/daemon/queues/queueReader');
  const loaded = Object.keys(require.cache).filter((f) => /[\\/]node_modules[\\/](bullmq|ioredis)[\\/]/.test(f));
  assert.deepEqual(loaded, []);
});
