import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import type { JobRunView, JobView } from '../../src/protocol/control';
import { eventually, FIXTURES } from '../helpers';
import { member, type Member } from './members';
import { createFleetNet, netnsProblem } from './netns';
import { redisProblem, startRedis } from './redisServer';

const PERIOD_MS = 2000;
const JOB = { name: 'report', script: path.join(FIXTURES, 'job-tick.js'), cron: '*/2 * * * * *' };

async function jobOf(m: Member): Promise<JobView | null> {
  const r = await m.herd(['jobs', '--json']);
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as { jobs: JobView[] }).jobs.find((j) => j.name === 'report') ?? null;
}

/** Every run any host recorded, by tick. */
async function union(members: readonly Member[]): Promise<JobRunView[]> {
  const views = await Promise.all(members.map((m) => jobOf(m)));
  return views.flatMap((v) => v?.runs ?? []).sort((a, b) => Date.parse(a.tick) - Date.parse(b.tick));
}

test('a job in a fleet of three: each tick runs on exactly one host, no tick lost, fences grow, across a host killed and started again', { skip: netnsProblem() || redisProblem() }, async (t) => {
  const net = await createFleetNet(t, 3);
  const redis = await startRedis(t, { bind: [net.bridgeAddress] });
  const members = net.hosts.map((h) => member(t, net, h, redis.url, { apps: [JOB] }));
  const start = (m: Member) => m.herd(['start', m.config]);
  for (const r of await Promise.all(members.map(start))) assert.equal(r.code, 0, r.stderr);
  await eventually(async () => ((await union(members)).length >= 3 ? true : undefined), 20_000, 'three ticks run');

  // Host 3 dies with everything on it, mid-way; the others go on; then herd starts there again.
  const [, , third] = members as [Member, Member, Member];
  await net.kill(third.host, { signal: 'SIGKILL', graceMs: 0 });
  const killedAt = Date.now();
  const survivors = members.slice(0, 2);
  await eventually(async () => ((await union(survivors)).some((r) => Date.parse(r.tick) > killedAt + PERIOD_MS) ? true : undefined), 20_000, 'ticks run while host3 is gone');
  const again = await start(third);
  assert.equal(again.code, 0, again.stderr);
  const restartedAt = Date.now();
  // Host 3 takes part again: it ran or lost a tick after its restart.
  await eventually(async () => {
    const v = await jobOf(third);
    const after = (tick: string | undefined) => tick !== undefined && Date.parse(tick) > restartedAt;
    return v && (v.runs.some((r) => after(r.tick)) || after(v.lastLost?.tick)) ? true : undefined;
  }, 20_000, 'host3 claiming ticks again');
  // About 20 s of ticks in all.
  const runs = await eventually(async () => {
    const all = await union(members);
    const first = all[0];
    const last = all[all.length - 1];
    return first && last && Date.parse(last.tick) - Date.parse(first.tick) >= 18_000 && Date.parse(last.tick) > restartedAt + 2 * PERIOD_MS ? all : undefined;
  }, 40_000, '20 s of ticks');

  const ticks = runs.map((r) => Date.parse(r.tick));
  const doubled = runs.filter((r, i) => i > 0 && r.tick === runs[i - 1]?.tick);
  assert.deepEqual(doubled, [], `no tick ran twice: ${JSON.stringify(runs.map((r) => [r.tick, r.host]))}`);
  for (let i = 1; i < ticks.length; i++) {
    assert.equal((ticks[i] as number) - (ticks[i - 1] as number), PERIOD_MS, `no gap between ${runs[i - 1]?.tick} and ${runs[i]?.tick}: ${JSON.stringify(runs.map((r) => [r.tick, r.host]))}`);
  }
  for (let i = 1; i < runs.length; i++) assert.ok((runs[i]?.fence ?? 0) > (runs[i - 1]?.fence ?? 0), `fences grow with the tick: ${JSON.stringify(runs.map((r) => [r.tick, r.fence]))}`);
  const hosts = new Set(runs.map((r) => r.host));
  t.diagnostic(`${runs.length} ticks over ${(ticks[ticks.length - 1] as number) - (ticks[0] as number)} ms, run by ${[...hosts].join(', ')}`);
  assert.ok(hosts.size >= 2, 'ticks are spread over the hosts');
  // What a host did not run, it counted: lost to another host (or Redis not ready at its very first ticks).
  const [one] = members as [Member];
  const view = await jobOf(one);
  assert.ok((view?.skipped.lost ?? 0) > 0, JSON.stringify(view?.skipped));
  assert.equal(view?.fleet, true);
});
