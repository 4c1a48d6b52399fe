import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FleetActionLine, FleetPageView } from '../../src/dashboard/apiTypes';
import type { DashboardFleet } from '../../src/dashboard/fleetActions';
import { DashboardServer, type DashboardDeps } from '../../src/dashboard/server';
import type { FleetView } from '../../src/fleet/status';

const TOKEN = 'fleet-page-token-0123456789';

const VIEW: FleetView = {
  redis: { url: 'redis://127.0.0.1:6379', ok: true, error: null },
  self: 'a',
  lb: null,
  hosts: [{ name: 'a', address: '127.0.0.1', version: '0.1.0', online: true, problem: null, lastSeenS: 0.2, health: null, apps: [] }],
  apps: [],
};

async function dashboard(t: TestContext, fleet: DashboardFleet | null): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'herd-dash-fleet-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const deps = { source: {}, actions: {}, fleet, subscribe: () => () => {}, logDir: null, tokenFile: path.join(dir, 'dashboard.token'), note: () => {} } as unknown as DashboardDeps;
  const server = new DashboardServer(deps);
  t.after(() => server.close());
  await server.configure({ port: 0, host: '127.0.0.1', token: TOKEN });
  return Number(new URL(server.url as string).port);
}

function request(port: number, method: string, urlPath: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const bearer = { authorization: `Bearer ${TOKEN}` };
const acting = { ...bearer, 'x-herd-dashboard': '1', 'content-type': 'application/json' };

test('fleet API: the token is needed, actions need the CSRF header and a same-origin Origin', async (t) => {
  let calls = 0;
  const fleet: DashboardFleet = {
    status: async () => VIEW,
    command: async () => {
      calls++;
      return [];
    },
    reload: async () => {
      calls++;
      throw new Error('not here');
    },
  };
  const port = await dashboard(t, fleet);
  assert.equal((await request(port, 'GET', '/api/fleet', {})).status, 401);
  assert.equal((await request(port, 'POST', '/api/fleet/apps/api/restart', { 'x-herd-dashboard': '1' }, {})).status, 401);
  assert.equal((await request(port, 'POST', '/api/fleet/apps/api/restart', bearer, {})).status, 403);
  assert.equal((await request(port, 'POST', '/api/fleet/apps/api/restart', { ...acting, origin: 'http://evil.example' }, {})).status, 403);
  assert.equal((await request(port, 'POST', '/api/fleet/apps/api/scale', acting, {})).status, 400, 'scale needs a count');
  assert.equal((await request(port, 'POST', '/api/fleet/apps/api/restart', acting, { host: '../etc' })).status, 400);
  assert.equal((await request(port, 'POST', '/api/fleet/apps/api/reload', acting, { batch: 0 })).status, 400);
  assert.equal(calls, 0, 'nothing ran');
  const ok = await request(port, 'GET', '/api/fleet', bearer);
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.text) as FleetPageView, { joined: true, fleet: VIEW });
});

test('fleet API: a host in no fleet says so (with the hint), and actions answer 409 HERD_ERR_FLEET_OFF', async (t) => {
  for (const fleet of [null, { status: async () => null, command: async () => [], reload: async () => assert.fail('no fleet') } as DashboardFleet]) {
    const port = await dashboard(t, fleet);
    const view = JSON.parse((await request(port, 'GET', '/api/fleet', bearer)).text) as FleetPageView;
    assert.equal(view.joined, false);
    assert.match(view.joined ? '' : view.hint, /fleet: \{ redis, host, secret \}/);
    const acted = await request(port, 'POST', '/api/fleet/apps/api/reload', acting, {});
    assert.equal(acted.status, 409);
    assert.equal((JSON.parse(acted.text) as { code: string }).code, 'HERD_ERR_FLEET_OFF');
  }
});

test('fleet API: a reload on one host streams progress, the report, then the result; a command that cannot run is an error line', async (t) => {
  const asked: unknown[] = [];
  const fleet: DashboardFleet = {
    status: async () => VIEW,
    reload: async (app, o, progress) => {
      asked.push({ app, ...o });
      progress('b: reloading');
      return { app, ok: false, stopped: 'b: reload of "api" aborted', hosts: [{ host: 'b', state: 'failed', before: 'r1', after: null, disk: null, message: 'reload of "api" aborted', ms: 40 }] };
    },
    command: async () => {
      throw new Error('no host of the fleet that is up runs an app "api"');
    },
  };
  const port = await dashboard(t, fleet);
  const reloaded = await request(port, 'POST', '/api/fleet/apps/api/reload', acting, { host: 'b', batch: 2, settleS: 1.5 });
  assert.equal(reloaded.status, 200);
  const lines = reloaded.text.trim().split('\n').map((l) => JSON.parse(l) as FleetActionLine);
  assert.deepEqual(lines.map((l) => l.kind), ['progress', 'report', 'result']);
  assert.deepEqual(asked, [{ app: 'api', hosts: ['b'], batch: 2, settleMs: 1500 }]);
  assert.deepEqual(lines[2], { kind: 'result', ok: false, message: 'the rolling reload of api stopped: b: reload of "api" aborted' });
  const restarted = await request(port, 'POST', '/api/fleet/apps/api/restart', acting, {});
  const [line] = restarted.text.trim().split('\n').map((l) => JSON.parse(l) as FleetActionLine);
  assert.equal(line?.kind, 'error');
  assert.match(line?.kind === 'error' ? line.error.message : '', /runs an app "api"/);
});
