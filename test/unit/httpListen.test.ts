import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HealthEndpoint } from '../../src/daemon/http/healthEndpoint';
import { listen, type Endpoint } from '../../src/daemon/http/listen';
import { PrometheusServer } from '../../src/daemon/http/prometheusServer';
import { DashboardServer, type DashboardDeps } from '../../src/dashboard/server';
import { HerdError } from '../../src/errors';

const ready = { ready: () => ({ ok: true, apps: [] }) };

function get(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

/** The server an endpoint serves from now: private, read here to give it an error as the kernel would. */
const serverOf = (endpoint: object) => (endpoint as { server: http.Server | null }).server as http.Server;

test('an error after listening is noted in the daemon log by every endpoint, never thrown', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'herd-listen-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const notes: string[] = [];
  const note = (line: string) => notes.push(line);

  const health = new HealthEndpoint(ready, note);
  t.after(() => health.close());
  await health.configure({ port: 0, host: '127.0.0.1', shutdownDelay: 0 });
  const prometheus = new PrometheusServer(() => '', note);
  t.after(() => prometheus.close());
  await prometheus.configure({ port: 0, host: '127.0.0.1', token: null });
  const deps = { source: {}, actions: {}, subscribe: () => () => {}, logDir: null, tokenFile: path.join(dir, 'dashboard.token'), note } as unknown as DashboardDeps;
  const dashboard = new DashboardServer(deps);
  t.after(() => dashboard.close());
  await dashboard.configure({ port: 0, host: '127.0.0.1', token: null });

  for (const [name, endpoint] of [['health endpoint', health], ['Prometheus endpoint', prometheus], ['dashboard', dashboard]] as const) {
    const server = serverOf(endpoint);
    const { port } = server.address() as { port: number };
    // Twice: a listener left over from the bind would take the first one alone.
    for (let i = 0; i < 2; i++) assert.doesNotThrow(() => server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' })), name);
    assert.match(notes.at(-1) ?? '', new RegExp(`${name} on 127\\.0\\.0\\.1:${port}: accept EMFILE`));
    assert.ok(server.listening, `${name} still listens on ${port}`);
  }
});

test('the health endpoint moved to a port that is taken keeps serving where it was', async (t) => {
  const holder = http.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const taken = (holder.address() as { port: number }).port;
  const health = new HealthEndpoint(ready, () => {});
  t.after(() => health.close());
  await health.configure({ port: 0, host: '127.0.0.1', shutdownDelay: 0 });
  const { port } = serverOf(health).address() as { port: number };
  await assert.rejects(health.configure({ port: taken, host: '127.0.0.1', shutdownDelay: 0 }),
    (err: unknown) => err instanceof HerdError && err.code === 'HERD_ERR_HEALTH_LISTEN' && err.message.includes(`127.0.0.1:${taken}`));
  assert.equal(await get(port, '/live'), 200);
});

test('a port listen() refuses outright is the endpoint\'s own error too', async () => {
  const endpoint: Endpoint = { name: 'x', failure: (address, reason) => new HerdError('HERD_ERR_METRICS_LISTEN', { address, reason }), note: () => {} };
  await assert.rejects(listen(http.createServer(), { port: 70000, host: '127.0.0.1' }, endpoint),
    (err: unknown) => err instanceof HerdError && err.code === 'HERD_ERR_METRICS_LISTEN' && err.message.includes('127.0.0.1:70000'));
});
