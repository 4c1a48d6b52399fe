#!/usr/bin/env node
// A queue app under herd (issue 16): a real redis-server on a free port in a
// temporary directory, 10,000 jobs added at once (addBulk), the app's
// workers (test/fixtures/queue-worker.js: a plain BullMQ Worker that records
// each run in Redis) draining them, and a `herd reload` of the app when half
// are done. Then it counts, from what the jobs recorded: jobs completed, jobs
// never run (lost), jobs run more than once; and shows the worker count and
// the backlog over time.
//
//   node bench/queue.mjs [--instances N] [--jobs 10000] [--job-ms 10] [--concurrency 1]
//                        [--autoscale] [--min 1] [--max 4] [--target 500]
//
// --instances N: a fixed pool of N workers. --autoscale: `instances: { min, max }`
// and `autoscale: { metric: 'queue.waiting', target }` (jobs waiting per
// worker), which needs herd's autoscaler; then it also waits for the pool to
// come back to `min` once the queue is empty. Prints a markdown report on
// stdout (progress on stderr) and writes bench/results/queue-fixed-N.json (or
// queue-autoscale.json). Nothing
// is asserted: the figures are reported.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// The Redis harness of the tests is TypeScript: run again with tsx's loader when it is not loaded.
if (!process.env.HERD_BENCH_TSX) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, HERD_BENCH_TSX: '1' },
  });
  process.exit(r.status ?? 1);
}

const { BENCH_DIR, Herd, check, log, ROOT } = await import('./lib.mjs');
const { startRedis, redisProblem } = await import('../test/fleet/redisServer.ts');
const { Queue } = await import('bullmq');
const { default: IORedis } = await import('ioredis');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench/queue: --${name} takes a whole number >= 1; got ${process.argv[i + 1]}`);
    process.exit(2);
  }
  return v;
}
const autoscale = process.argv.includes('--autoscale');
const JOBS = option('jobs', 10_000);
const JOB_MS = option('job-ms', 10);
const CONCURRENCY = option('concurrency', 1);
const INSTANCES = option('instances', 4);
const MIN = option('min', 1);
const MAX = option('max', 4);
const TARGET = option('target', 500);
const NAME = 'jobs';
const problem = redisProblem();
if (problem) {
  console.error(`bench/queue: cannot run: ${problem}`);
  process.exit(1);
}

const hooks = [];
const t = { after: (fn) => hooks.push(fn) };
async function cleanup() {
  for (const fn of hooks.reverse()) await Promise.resolve().then(fn).catch((err) => log(`cleanup: ${err.message}`));
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function main() {
  const redis = await startRedis(t, { bind: ['127.0.0.1'] });
  const herd = new Herd('queue');
  hooks.push(() => herd.destroy());
  const connection = { host: redis.host, port: redis.port };
  const producer = new Queue(NAME, { connection });
  const record = new IORedis(connection);
  hooks.push(() => record.disconnect());
  hooks.push(() => producer.close());

  const app = {
    name: 'worker',
    script: path.join(ROOT, 'test', 'fixtures', 'queue-worker.js'),
    killTimeout: '30s',
    env: { JOB_MS: String(JOB_MS) },
    queue: { redis: redis.url, name: NAME, concurrency: CONCURRENCY },
    ...(autoscale
      ? { instances: { min: MIN, max: MAX }, autoscale: { metric: 'queue.waiting', target: TARGET } }
      : { instances: INSTANCES }),
  };
  const config = path.join(herd.home, 'queue.config.json');
  fs.writeFileSync(config, JSON.stringify({ apps: [app] }, null, 2));
  const started = await herd.cli(['start', config]);
  if (started.code !== 0) {
    const hint = autoscale ? ' (--autoscale needs herd\'s autoscaler: instances { min, max } and autoscale)' : '';
    throw new Error(`herd start exited ${started.code}${hint}: ${started.stderr.trim()}`);
  }
  await herd.connectClient();
  const workers = async () => (await herd.workers('worker')).filter((w) => w.status === 'online').length;

  log(`adding ${JOBS} jobs at once`);
  const t0 = performance.now();
  await producer.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: 'job', data: { i } })));
  const addedMs = performance.now() - t0;

  const samples = [];
  let reload = null;
  let drainedAt = null;
  const sample = async () => {
    const [counts, done, online] = await Promise.all([producer.getJobCounts('waiting', 'active', 'prioritized'), record.get(`${NAME}:done`), workers()]);
    const s = { t: Math.round(performance.now() - t0), workers: online, waiting: counts.waiting + counts.prioritized, active: counts.active, done: Number(done ?? 0) };
    samples.push(s);
    return s;
  };
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const s = await sample();
    if (reload === null && s.done >= JOBS / 2) {
      log(`${s.done} done: herd reload worker`);
      const r0 = performance.now();
      reload = { atDone: s.done, at: s.t, promise: herd.cli(['reload', 'worker'], { timeoutMs: 120_000 }).then((r) => ({ ...check(r, 'herd reload'), ms: Math.round(performance.now() - r0) })) };
    }
    if (s.done >= JOBS && s.waiting === 0 && s.active === 0) {
      drainedAt ??= s.t;
      if (!autoscale || s.workers <= MIN) break;
    }
    if (Date.now() > deadline) throw new Error(`not done after 15 min: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const reloaded = reload ? await reload.promise : null;
  // Every job recorded each run it had: HINCRBY jobs:runs <id> 1 at its start.
  const runs = await record.hgetall(`${NAME}:runs`);
  const counts = Object.values(runs).map(Number);
  const bull = await producer.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
  // The daemon reads the queue once a second: its view of the drained queue, within a few seconds.
  let metrics = null;
  for (let i = 0; i < 10; i++) {
    metrics = JSON.parse(check(await herd.cli(['metrics', 'worker', '--json']), 'herd metrics').stdout);
    if (metrics.jobs?.completed === bull.completed) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const result = {
    node: process.version,
    mode: autoscale ? `autoscale min ${MIN} max ${MAX} target ${TARGET} waiting per worker` : `fixed ${INSTANCES} worker(s)`,
    jobs: JOBS, jobMs: JOB_MS, concurrency: CONCURRENCY,
    addBulkMs: Math.round(addedMs),
    drainedMs: drainedAt,
    jobsPerSecond: drainedAt ? Math.round(JOBS / (drainedAt / 1000)) : null,
    reload: reload ? { atDone: reload.atDone, atMs: reload.at, tookMs: reloaded?.ms ?? null } : null,
    completed: bull.completed,
    failed: bull.failed,
    doneCounter: Number((await record.get(`${NAME}:done`)) ?? 0),
    ranOnce: counts.filter((n) => n === 1).length,
    ranTwiceOrMore: counts.filter((n) => n > 1).length,
    neverRun: JOBS - counts.length,
    maxWorkers: Math.max(...samples.map((s) => s.workers)),
    finalWorkers: samples[samples.length - 1]?.workers ?? null,
    daemonView: metrics.jobs ?? null,
    samples,
  };
  fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
  fs.writeFileSync(path.join(BENCH_DIR, 'results', `queue-${autoscale ? 'autoscale' : `fixed-${INSTANCES}`}.json`), `${JSON.stringify(result, null, 2)}\n`);
  report(result);
}

function report(r) {
  const lines = [
    `### queue: ${r.jobs.toLocaleString('en')} jobs of ${r.jobMs} ms, ${r.mode}, concurrency ${r.concurrency} (Node ${r.node})`,
    '',
    '| figure | value |',
    '|---|---|',
    `| addBulk of ${r.jobs.toLocaleString('en')} jobs | ${r.addBulkMs} ms |`,
    `| queue drained after | ${r.drainedMs} ms (${r.jobsPerSecond} jobs/s) |`,
    `| herd reload | when ${r.reload?.atDone} were done, took ${r.reload?.tookMs} ms |`,
    `| completed (BullMQ) / done (counted by the jobs) | ${r.completed} / ${r.doneCounter} |`,
    `| failed | ${r.failed} |`,
    `| jobs never run (lost) | ${r.neverRun} |`,
    `| jobs run twice or more | ${r.ranTwiceOrMore} |`,
    `| workers: most at once / at the end | ${r.maxWorkers} / ${r.finalWorkers} |`,
    `| the daemon's last read (herd metrics) | waiting ${r.daemonView?.waiting}, active ${r.daemonView?.active}, completed ${r.daemonView?.completed}, job time p50 ${r.daemonView?.duration?.p50} ms p99 ${r.daemonView?.duration?.p99} ms |`,
    '',
    'Over time (every ~5 s): t (s), workers online, waiting, active, done',
    '',
    '```',
    ...r.samples.filter((_, i) => i % 10 === 0 || i === r.samples.length - 1).map((s) => `${(s.t / 1000).toFixed(1).padStart(6)}  ${String(s.workers).padStart(2)}  ${String(s.waiting).padStart(6)}  ${String(s.active).padStart(3)}  ${String(s.done).padStart(6)}`),
    '```',
  ];
  console.log(lines.join('\n'));
}

try {
  await main();
} finally {
  await cleanup();
}
