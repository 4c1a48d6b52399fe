import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadTarget } from '../../src/config/load';
import { MAX_ENV_STRING, MAX_INSTANCES, SPEC_CHECKS, specProblems } from '../../src/config/specCheck';
import { capacityProblem, WORKER_MEMORY_ESTIMATE } from '../../src/daemon/supervision/capacity';
import { FIXTURES } from '../helpers';

async function spec(): Promise<Record<string, unknown>> {
  const { specs } = await loadTarget(path.join(FIXTURES, 'hello.js'), { cwd: FIXTURES, env: { A: 'b' }, envName: null, overrides: {}, interpreter: process.execPath, cpus: 2 });
  return { ...(specs[0] as unknown as Record<string, unknown>) };
}

test('every AppSpec field has a check, and a spec from the loader passes them all', async () => {
  const s = await spec();
  // scalingFixed is set by `herd scale <app> N` on an autoscaled app, never by the loader.
  assert.deepEqual(Object.keys(SPEC_CHECKS).sort(), [...Object.keys(s), 'scalingFixed'].sort());
  assert.deepEqual(specProblems(s, 'spec'), []);
});

test('specs that would break the daemon or exec() are refused with the field named', async () => {
  const s = await spec();
  assert.match(specProblems({ ...s, instances: 100_000 }, 'a').join(), new RegExp(`a\\.instances 100000 is more than the limit of ${MAX_INSTANCES}`));
  assert.match(specProblems({ ...s, nodeArgs: [1, 2] }, 'a').join(), /a\.nodeArgs must be an array of strings/);
  assert.match(specProblems({ ...s, env: { PORT: {} } }, 'a').join(), /a\.env\.PORT must be a string \(got object\)/);
  assert.match(specProblems({ ...s, env: { BIG: 'x'.repeat(8 * 1024 * 1024) } }, 'a').join(), /a\.env\.BIG is too big \(8\.0MB\): one variable may be at most 128KB/);
  const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`V${i}`, 'x'.repeat(MAX_ENV_STRING - 100)]));
  assert.match(specProblems({ ...s, env: many }, 'a').join(), /a\.env is too big \(2\.\dMB in all\)/);
  assert.match(specProblems({ ...s, watch: { paths: 'x' } }, 'a').join(), /a\.watch\.paths must be an array of strings/);
  assert.match(specProblems(null, 'a').join(), /a must be an object/);
  // The names a config file may not use are refused on every path (a dump, the control socket).
  assert.match(specProblems({ ...s, name: 'a/b' }, 'a').join(), /a\.name must not contain path separators/);
  assert.match(specProblems({ ...s, name: 'all' }, 'a').join(), /a\.name 'all' is reserved/);
  assert.match(specProblems({ ...s, name: 'n'.repeat(200) }, 'a').join(), /a\.name must be at most 128 bytes/);
});

test('capacity: more workers than memory or the process limit allow is refused with the numbers', () => {
  const machine = (mem: number | null, limit: number | null, used = 10) => ({ memAvailable: () => mem, processLimit: () => limit, userProcesses: () => used });
  assert.equal(capacityProblem(4, machine(8 * 1024 ** 3, null)), null);
  assert.match(capacityProblem(1000, machine(8 * 1024 ** 3, null)) ?? '', /1000 workers need at least 25000MB \(about 25MB each\); the machine has 8192MB available/);
  assert.match(capacityProblem(100, machine(null, 50, 20)) ?? '', /process limit \(20 of 50 in use; ulimit -u\)/);
  assert.equal(capacityProblem(0, machine(0, 0)), null);
  assert.equal(WORKER_MEMORY_ESTIMATE, 25 * 1024 * 1024);
});
