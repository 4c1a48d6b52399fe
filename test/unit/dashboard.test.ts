import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import type * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadTarget } from '../../src/config/load';
import { requestProblem } from '../../src/daemon/control/requestShape';
import { DashboardAuth, loadToken, readCookie } from '../../src/dashboard/auth';
import { windowOf } from '../../src/dashboard/views';
import { HerdError } from '../../src/errors';
import { configFiles } from '../configFiles';

const { options, write: config } = configFiles('dashboard');

test('top-level dashboard: port 9414 and host 127.0.0.1 by default, optional token', async () => {
  const r = await loadTarget(await config({ dashboard: {}, apps: [{ script: 'server.js' }] }), options());
  assert.deepEqual(r.settings?.dashboard, { port: 9414, host: '127.0.0.1', token: null });
  const set = await loadTarget(await config({ dashboard: { port: 8080, host: '0.0.0.0', token: 'a-long-enough-token' }, apps: [{ script: 'server.js' }] }), options());
  assert.deepEqual(set.settings?.dashboard, { port: 8080, host: '0.0.0.0', token: 'a-long-enough-token' });
  const none = await loadTarget(await config({ apps: [{ script: 'server.js' }] }), options());
  assert.equal(none.settings?.dashboard, null, 'no key: the dashboard stays as it is');
});

test('bad dashboard settings are reported with their paths', async () => {
  const err = await loadTarget(await config({ dashboard: { port: 'http', token: 'short', colour: 'red' }, apps: [{ script: 'server.js' }] }), options())
    .then(() => assert.fail('expected an error'), (e: unknown) => e);
  assert.ok(err instanceof HerdError);
  const details = err.details.join('\n');
  assert.match(details, /dashboard\.port: must be a port number/);
  assert.match(details, /dashboard\.token: must be at least 16 characters/);
  const warned = await loadTarget(await config({ dashboard: { colour: 'red' }, apps: [{ script: 'server.js' }] }), options());
  assert.match(warned.warnings.join('\n'), /dashboard\.colour/);
});

test('dashboard requests and settings are checked for shape', () => {
  assert.equal(requestProblem({ type: 'dashboard', port: null, host: null }), null);
  assert.equal(requestProblem({ type: 'dashboard', port: 0, host: '127.0.0.1' }), null);
  assert.match(requestProblem({ type: 'dashboard', port: 70000, host: null }) ?? '', /dashboard\.port/);
  assert.match(requestProblem({ type: 'dashboard', port: null, host: 5 }) ?? '', /dashboard\.host/);
  assert.match(requestProblem({ type: 'start', apps: [], settings: { dashboard: { port: 1, host: 'h', token: 5 } } }) ?? '', /settings\.dashboard/);
});

test('the token is made once, kept 0600, and a configured one wins', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'herd-token-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'dashboard.token');
  const first = await loadToken(file, null);
  assert.ok(first.length >= 32);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(await loadToken(file, null), first);
  assert.equal(await loadToken(file, 'configured-token-123'), 'configured-token-123');
});

const req = (headers: http.IncomingHttpHeaders) => ({ headers }) as http.IncomingMessage;

test('auth: cookie or bearer token; actions need the header and a same-origin Origin', () => {
  const auth = new DashboardAuth('0123456789abcdef0123', 9414);
  assert.equal(auth.authorised(req({})), false);
  assert.equal(auth.authorised(req({ cookie: 'a=1; herd_dashboard_9414=0123456789abcdef0123' })), true);
  assert.equal(auth.authorised(req({ cookie: 'herd_dashboard_9415=0123456789abcdef0123' })), false, 'another daemon\'s cookie');
  assert.equal(auth.authorised(req({ authorization: 'Bearer 0123456789abcdef0123' })), true);
  assert.equal(auth.authorised(req({ authorization: 'Bearer 0123456789abcdef012' })), false);
  assert.match(auth.cookie(), /^herd_dashboard_9414=0123456789abcdef0123; HttpOnly; SameSite=Strict; Path=\/$/);
  assert.match(auth.crossSiteProblem(req({})) ?? '', /x-herd-dashboard/);
  assert.equal(auth.crossSiteProblem(req({ 'x-herd-dashboard': '1', host: '127.0.0.1:9414' })), null);
  assert.equal(auth.crossSiteProblem(req({ 'x-herd-dashboard': '1', host: '127.0.0.1:9414', origin: 'http://127.0.0.1:9414' })), null);
  assert.match(auth.crossSiteProblem(req({ 'x-herd-dashboard': '1', host: '127.0.0.1:9414', origin: 'http://evil.example' })) ?? '', /evil/);
  assert.equal(readCookie(' x = 1 ;y=2', 'x'), '1');
  assert.equal(readCookie(undefined, 'x'), null);
});

test('chart windows snap to the ones offered', () => {
  assert.equal(windowOf('900'), 900);
  assert.equal(windowOf('86400'), 86400);
  assert.equal(windowOf('123'), 300);
  assert.equal(windowOf(null), 300);
});
