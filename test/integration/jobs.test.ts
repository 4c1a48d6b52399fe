import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, herdHome, kill, running as alive } from '../helpers';
import type { JobView } from '../../src/protocol/control';

type Herd = ReturnType<typeof herdHome>['herd'];

async function jobs(herd: Herd): Promise<JobView[]> {
  const r = await herd(['jobs', '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return (JSON.parse(r.stdout) as { jobs: JobView[] }).jobs;
}

function config(home: string, apps: unknown[]): string {
  const file = path.join(home, 'jobs.config.js');
  writeFileSync(file, `module.exports = ${JSON.stringify({ apps })};\n`);
  return file;
}

test('jobs: a run per tick with its exit code, logs in herd logs, overlap skipped and counted, shown in list and describe', async (t) => {
  const { home, herd } = herdHome(t);
  const file = config(home, [
    { name: 'tick', script: path.join(FIXTURES, 'job-tick.js'), cron: '*/1 * * * * *', env: { JOB_EXIT: '3' } },
    { name: 'slow', script: path.join(FIXTURES, 'job-slow.js'), cron: '*/1 * * * * *', timezone: 'UTC', env: { JOB_MS: '2500' } },
  ]);
  const r = await herd(['start', file]);
  assert.equal(r.code, 0, r.stderr);
  const seen = await eventually(async () => {
    const all = await jobs(herd);
    const tick = all.find((j) => j.name === 'tick');
    const slow = all.find((j) => j.name === 'slow');
    return (tick?.runs.length ?? 0) >= 3 && (slow?.runs.length ?? 0) >= 1 && (slow?.skipped.overlap ?? 0) >= 2 ? { tick, slow } : undefined;
  }, 20_000, 'three runs of tick, one of slow with overlaps');
  const runs = seen.tick?.runs ?? [];
  assert.ok(runs.every((run) => run.exitCode === 3 && run.signal === null && run.durationMs !== null), JSON.stringify(runs));
  for (const run of runs) assert.equal(Date.parse(run.tick) % 1000, 0, 'the tick is the scheduled second, not when the timer fired');
  const fences = runs.map((run) => run.fence);
  assert.deepEqual(fences, [...fences].sort((a, b) => a - b));
  assert.equal(new Set(runs.map((run) => run.tick)).size, runs.length, 'no tick twice');
  assert.equal(seen.slow?.timezone, 'UTC');
  assert.equal(seen.slow?.skipped.redis, 0);
  assert.ok(seen.slow?.next !== null);
  const logs = await herd(['logs', 'tick', '--lines', '50']);
  for (const run of runs) assert.match(logs.stdout, new RegExp(`tick=${run.tick.replace(/\./g, '\\.')} fence=${run.fence} job=tick`));
  const list = JSON.parse((await herd(['list', '--json'])).stdout) as { name: string; status: string }[];
  assert.ok(['waiting', 'running'].includes(list.find((a) => a.name === 'tick')?.status ?? ''), JSON.stringify(list));
  const described = await herd(['describe', 'slow']);
  assert.match(described.stdout, /job:\n {2}slow: \*\/1 \* \* \* \* \* \(UTC\)/);
  assert.match(described.stdout, /skipped {2}overlap [1-9]\d*/);
  const text = await herd(['jobs']);
  assert.match(text.stdout, /tick: \*\/1 \* \* \* \* \*/);
  // Stopped: no more runs, no next tick.
  const stop = await herd(['stop', 'tick']);
  assert.equal(stop.code, 0, stop.stderr + stop.stdout);
  const stopped = (await jobs(herd)).find((j) => j.name === 'tick');
  assert.equal(stopped?.next, null);
});

test('jobs: kill -9 of the daemon during a run: the new daemon adopts the run (not started again), records its exit, and goes on', async (t) => {
  const { home, herd } = herdHome(t);
  const file = config(home, [{ name: 'slow', script: path.join(FIXTURES, 'job-slow.js'), cron: '*/1 * * * * *', env: { JOB_MS: '3000' } }]);
  assert.equal((await herd(['start', file])).code, 0);
  const during = await eventually(async () => {
    const [slow] = await jobs(herd);
    const pid = JSON.parse((await herd(['list', '--json'])).stdout)[0]?.workers[0]?.pid as number | undefined;
    return slow?.running && pid ? { tick: slow.running, pid } : undefined;
  }, 15_000, 'a run going on');
  const daemon = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  kill(daemon);
  await eventually(() => (alive(daemon) ? undefined : true), 10_000, 'the daemon to die');
  // A new daemon (the CLI starts one) takes the shim over with the run in it.
  const after = await eventually(async () => {
    const [slow] = await jobs(herd);
    const done = slow?.runs.find((r) => r.tick === during.tick);
    return done && slow && slow.runs.length >= 2 ? slow : undefined;
  }, 20_000, 'the adopted run to end and another to run');
  const ofTick = after.runs.filter((r) => r.tick === during.tick);
  assert.equal(ofTick.length, 1, `tick ${during.tick} ran once: ${JSON.stringify(after.runs)}`);
  assert.equal(ofTick[0]?.exitCode, 0, JSON.stringify(ofTick));
  assert.equal(new Set(after.runs.map((r) => r.tick)).size, after.runs.length, 'no tick twice');
  const starts = (await herd(['logs', 'slow', '--lines', '200'])).stdout.split('\n').filter((l) => l.includes(`start tick=${during.tick}`));
  assert.equal(starts.length, 1, `the tick's process started once: ${starts.join(' | ')}`);
  assert.ok(starts[0]?.includes(`pid=${during.pid}`));
});
