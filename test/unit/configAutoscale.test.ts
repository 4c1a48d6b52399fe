import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTarget } from '../../src/config/load';
import { specProblemList, specProblems } from '../../src/config/specCheck';
import type { AppSpec } from '../../src/config/types';
import { HerdError } from '../../src/errors';
import { configFiles } from '../configFiles';

const files = configFiles('config-autoscale');

async function load(value: unknown): Promise<AppSpec[]> {
  return (await loadTarget(await files.write(value), files.options())).specs;
}

async function problems(value: unknown): Promise<string[]> {
  const err = await loadTarget(await files.write(value), files.options()).then(() => assert.fail('expected the load to fail'), (e: unknown) => e);
  assert.ok(err instanceof HerdError && err.code === 'HERD_ERR_CONFIG_INVALID', String(err));
  return err.details;
}

test('instances { min, max } starts at min and autoscales on utilisation 0.7 by default; autoscale fields are read, durations too', async () => {
  const [plain, tuned, pm2] = await load({ apps: [
    { name: 'a', script: 'server.js', instances: { min: 2, max: 4 } },
    { name: 'b', script: 'server.js', instances: { min: 1, max: 8 }, autoscale: { metric: 'http.latency.p99', target: '250ms', up: 2, down: 2, coolDown: '2m' } },
    { name: 'c', script: 'server.js', exec_mode: 'cluster', instances: { min: 1, max: 3 }, autoscale: { metric: 'http.inFlight', target: 20 } },
  ] });
  assert.equal(plain?.instances, 2);
  assert.deepEqual(plain?.scaling, { min: 2, max: 4, autoscale: { metric: 'eventLoop.utilization', target: 0.7, up: 4, down: 1, coolDown: 60_000 } });
  assert.deepEqual(tuned?.scaling?.autoscale, { metric: 'http.latency.p99', target: 250, up: 2, down: 2, coolDown: 120_000 });
  assert.deepEqual([pm2?.instances, pm2?.scaling?.max, pm2?.scaling?.autoscale.metric], [1, 3, 'http.inFlight']);
  assert.deepEqual(specProblems(tuned, 'spec'), [], 'the daemon accepts what the loader builds');
  const [fixed] = await load({ apps: [{ name: 'd', script: 'server.js', instances: 3 }] });
  assert.equal(fixed?.scaling, null, 'a number stays a fixed count');
});

test('bad scaling settings are reported together, each with its field, and nothing starts', async () => {
  const found = await problems({ apps: [
    { name: 'a', script: 'server.js', instances: { min: 3, max: 2 } },
    { name: 'b', script: 'server.js', instances: { min: 0, max: 2 }, autoscale: { metric: 'cpu', target: 0 } },
    { name: 'c', script: 'server.js', instances: { min: 1, max: 2 }, autoscale: { target: 1.5 } },
    { name: 'd', script: 'server.js', instances: 2, autoscale: { target: 0.5 } },
    { name: 'e', script: 'server.js', instances: { min: 1, max: 2 }, autoscale: { metric: 'queue.waiting', target: 10 } },
    { name: 'f', script: 'server.js', exec_mode: 'fork', instances: { min: 1, max: 2 } },
    { name: 'g', script: 'server.js', instances: { min: 1, max: 2 }, autoscale: { metric: 'http.latency.p99' } },
  ] });
  const has = (re: RegExp) => assert.ok(found.some((p) => re.test(p)), `${re} in:\n${found.join('\n')}`);
  has(/^apps\[0\]\.instances\.min: must not be more than max \(2\); got 3/);
  has(/^apps\[1\]\.instances\.min: must be an integer from 1/);
  has(/^apps\[1\]\.autoscale\.metric: must be one of 'eventLoop\.utilization'/);
  has(/^apps\[2\]\.autoscale\.target: must be more than 0 and at most 1/);
  has(/^apps\[3\]\.autoscale: needs instances: \{ min, max \}/);
  has(/^apps\[4\]\.autoscale\.metric: metric 'queue\.waiting' needs the app's queue key/);
  has(/^apps\[5\]\.autoscale\.metric: .*in fork mode scale on 'queue\.waiting'/);
  has(/^apps\[6\]\.autoscale\.target: is required for metric 'http\.latency\.p99'/);
});

test('-i N replaces the file\'s { min, max } with a fixed count', async () => {
  const file = await files.write({ apps: [{ name: 'a', script: 'server.js', instances: { min: 1, max: 4 } }] });
  const [spec] = (await loadTarget(file, { ...files.options(), overrides: { instances: '3' } })).specs;
  assert.deepEqual([spec?.instances, spec?.scaling], [3, null]);
});

test('the daemon checks a spec it receives: scaling shape and range', () => {
  const base = { min: 1, max: 2, autoscale: { metric: 'eventLoop.utilization', target: 0.7, up: 1, down: 1, coolDown: 0 } };
  const check = (scaling: unknown) => specProblems({ scaling }, 'spec').filter((p) => p.startsWith('spec.scaling') || p.startsWith('spec.scalingFixed'));
  assert.deepEqual(check(base), []);
  assert.deepEqual(check({ ...base, min: 3 }), ['spec.scaling.min must not be more than max (2); got 3']);
  assert.deepEqual(check({ ...base, autoscale: { ...base.autoscale, metric: 'cpu' } }), ["spec.scaling.autoscale.metric must be one of 'eventLoop.utilization', 'http.latency.p99', 'http.inFlight', 'queue.waiting'"]);
});

test('the daemon refuses a spec whose range its other settings rule out, as the loader does (control socket, state.json)', async () => {
  const loaded = (await load({ apps: [{ name: 'api', script: 'server.js', instances: { min: 1, max: 3 } }] }))[0];
  const spec = { ...loaded, scaling: { min: 1, max: 3, autoscale: { metric: 'eventLoop.utilization', target: 0.7, up: 1, down: 1, coolDown: 1000 } } };
  assert.deepEqual(specProblemList({ ...spec, execMode: 'cluster' }, 'spec'), []);
  const fork = specProblemList({ ...spec, execMode: 'fork' }, 'spec');
  assert.equal(fork.length, 1);
  assert.equal(fork[0]?.path, 'spec.scaling');
  assert.match(fork[0]?.message ?? '', /in fork mode scale on 'queue.waiting'/);
  const waiting = { ...spec, scaling: { ...spec.scaling, autoscale: { ...spec.scaling.autoscale, metric: 'queue.waiting', target: 10 } } };
  assert.match(specProblemList(waiting, 'spec')[0]?.message ?? '', /needs the app's queue key/);
});
