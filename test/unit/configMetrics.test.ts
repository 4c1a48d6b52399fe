import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HerdError } from '../../src/errors';
import { loadTarget } from '../../src/config/load';
import { requestProblem } from '../../src/daemon/control/requestShape';
import { configFiles } from '../configFiles';

const { options, write: config } = configFiles('config-metrics');

test('metrics are on by default; metrics: false turns them off per app', async () => {
  const r = await loadTarget(await config({ apps: [{ name: 'a', script: 'server.js' }, { name: 'b', script: 'server.js', metrics: false }] }), options());
  assert.deepEqual(r.specs.map((s) => s.metrics), [true, false]);
  assert.equal(r.settings?.prometheus, null);
  assert.equal((await loadTarget('server.js', options())).specs[0]?.metrics, true);
  assert.equal((await loadTarget('server.js', options())).settings, null, 'a script changes no daemon setting');
});

test('top-level metrics.prometheus: port required, host 127.0.0.1 by default, optional token', async () => {
  const r = await loadTarget(await config({ metrics: { prometheus: { port: 9464 } }, apps: [{ script: 'server.js' }] }), options());
  assert.deepEqual(r.settings, { health: null, prometheus: { port: 9464, host: '127.0.0.1', token: null }, alerts: null, dashboard: null, fleet: null });
  assert.deepEqual(r.warnings, []);
  const open = await loadTarget(await config({ metrics: { prometheus: { port: '9464', host: '0.0.0.0' } }, apps: [{ script: 'server.js' }] }), options());
  assert.equal(open.settings?.prometheus?.host, '0.0.0.0');
  assert.match(open.warnings.join('\n'), /metrics\.prometheus\.host: 0\.0\.0\.0 is reachable from other machines and no token/);
  const tokened = await loadTarget(await config({ metrics: { prometheus: { port: 1, host: '0.0.0.0', token: 's3cret' } }, apps: [{ script: 'server.js' }] }), options());
  assert.deepEqual(tokened.warnings, []);
});

test('bad metrics settings are reported with their paths', async () => {
  const err = await loadTarget(await config({
    metrics: { prometheus: { host: 5, prot: 1 } },
    apps: [{ script: 'server.js', metrics: 'no' }],
  }), options()).then(() => assert.fail('expected an error'), (e: unknown) => e);
  assert.ok(err instanceof HerdError);
  const details = err.details.join('\n');
  assert.match(details, /metrics\.prometheus\.port: is required/);
  assert.match(details, /metrics\.prometheus\.host: must be a non-empty string/);
  assert.match(details, /apps\[0\]\.metrics: must be true or false/);
});

test('metrics and monit requests are checked for shape', () => {
  assert.equal(requestProblem({ type: 'metrics', name: 'a', worker: null }), null);
  assert.equal(requestProblem({ type: 'metrics', name: 'a', worker: 1 }), null);
  assert.match(requestProblem({ type: 'metrics', name: 'a', worker: 'x' }) ?? '', /metrics\.worker/);
  assert.match(requestProblem({ type: 'metrics' }) ?? '', /metrics\.name/);
  assert.equal(requestProblem({ type: 'monit' }), null);
  assert.match(requestProblem({ type: 'start', apps: [], settings: { prometheus: { port: 'x', host: 'h', token: null } } }) ?? '', /prometheus\.port/);
});
