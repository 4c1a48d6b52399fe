import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { AppDetail } from '../../src/protocol/control';
import { eventually, FIXTURES, freePort, herdHome, load } from '../helpers';

// One real daemon, real workers, real HTTP: an I/O-bound route (/hold: answers
// after 200 ms without using the CPU) autoscaled on requests in flight per
// worker. Up under load, a reload that keeps the count, down after the
// cool-down while requests go on, with no failed request; then `herd scale`
// switches fixed and automatic.
test('autoscale: up under load, down after the cool-down with 0 failed requests, herd scale N|auto, every step in describe', async (t) => {
  const { home, herd } = herdHome(t);
  const [port, plainPort] = [await freePort(), await freePort()];
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({ apps: [
    { name: 'io', script: path.join(FIXTURES, 'cpu.js'), env: { PORT: String(port) },
      instances: { min: 1, max: 2 }, autoscale: { metric: 'http.inFlight', target: 1, coolDown: '2s' } },
    { name: 'plain', script: path.join(FIXTURES, 'hello.js'), env: { PORT: String(plainPort) } },
  ] }));
  const started = await herd(['start', config]);
  assert.equal(started.code, 0, started.stderr);
  const describe = async (): Promise<AppDetail> => JSON.parse((await herd(['describe', 'io', '--json'])).stdout) as AppDetail;
  const online = (d: AppDetail) => d.workers.filter((w) => w.status === 'online').length;

  // 6 clients on a 200 ms route: about 6 in flight on the one worker, 6 times the target.
  const heavy = load(port, 6, '/hold?ms=200');
  let heavyStopped = false;
  t.after(() => (heavyStopped ? undefined : heavy.stop()));
  const up = await eventually(async () => {
    const d = await describe();
    return online(d) === 2 && d.workers.length === 2 ? d : undefined;
  }, 20_000, 'the app to scale up to 2 online workers');
  assert.match(up.autoscale?.decisions.at(-1)?.reason ?? '', /^http\.inFlight \d+(\.\d)? per worker over target 1$/);

  // A reload re-reads the file (instances { min: 1, ... }) but keeps the count the autoscaler chose.
  const reloaded = await herd(['reload', 'io']);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  const afterReload = await describe();
  assert.deepEqual([afterReload.workers.filter((w) => w.status !== 'draining').length, afterReload.autoscale?.mode], [2, 'auto']);

  // Light load (one client): 0.5 in flight per worker; down to 1 once the cool-down has passed, the removed worker drained.
  const light = load(port, 1, '/hold?ms=100');
  let lightStopped = false;
  t.after(() => (lightStopped ? undefined : light.stop()));
  const heavyStats = await heavy.stop();
  heavyStopped = true;
  const down = await eventually(async () => {
    const d = await describe();
    return d.workers.length === 1 && d.autoscale?.decisions.some((x) => x.from === 2 && x.to === 1) ? d : undefined;
  }, 20_000, 'the app to scale down to 1');
  const lightStats = await light.stop();
  lightStopped = true;
  assert.equal(heavyStats.failed + heavyStats.non2xx, 0, `no failed request under load, through a scale-up and a reload: ${heavyStats.errors.join(', ')}`);
  assert.equal(lightStats.failed + lightStats.non2xx, 0, `no failed request while a worker drained: ${lightStats.errors.join(', ')}`);
  assert.ok(lightStats.ok > 0);
  assert.equal(down.autoscale?.mode, 'auto');
  const text = (await herd(['describe', 'io'])).stdout;
  assert.match(text, /autoscale {3}auto, 1 worker\(s\) of 1\.\.2 on http\.inFlight/);
  assert.match(text, /1 → 2: http\.inFlight .* over target 1/);
  assert.match(text, /2 → 1: http\.inFlight .* under target 1/);
  const log = readFileSync(path.join(home, 'daemon.log'), 'utf8');
  assert.match(log, /herd: app io: autoscale 1 → 2: http\.inFlight/);

  // Fixed: herd scale io 2 holds it there (kept in the state file), auto hands it back.
  const fixed = await herd(['scale', 'io', '2']);
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.match(fixed.stdout, /io: 1 -> 2 workers, fixed \(herd scale io auto resumes autoscaling\)/);
  assert.equal((await describe()).autoscale?.mode, 'fixed');
  await eventually(() => {
    const state = JSON.parse(readFileSync(path.join(home, 'state.json'), 'utf8')) as { apps: { name: string; spec: { instances: number; scalingFixed?: boolean } }[] };
    const io = state.apps.find((a) => a.name === 'io');
    return io?.spec.scalingFixed === true && io.spec.instances === 2 ? true : undefined;
  }, 5000, 'the fixed count in state.json');
  const auto = await herd(['scale', 'io', 'auto', '--json']);
  assert.equal(auto.code, 0, auto.stderr);
  assert.deepEqual(JSON.parse(auto.stdout), { name: 'io', from: 2, to: 2, mode: 'auto' });

  const refused = await herd(['scale', 'plain', 'auto']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /scale: "plain" has no instances: \{ min, max \}/);
});
