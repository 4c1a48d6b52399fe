import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { test, type TestContext } from 'node:test';
import { HerdError } from '../../src/errors';
import { HaproxyBalancer } from '../../src/fleet/haproxyBalancer';
import { HaproxyRuntime, parseAddress } from '../../src/fleet/haproxyRuntime';
import { eventually, freePort } from '../helpers';
import { haproxyProblem, startHaproxy } from './haproxyServer';

/** A tiny HTTP server on loopback answering its name; /ready 200. Closed after the test. */
async function backendServer(t: TestContext, name: string): Promise<{ port: number; server: http.Server; release: () => void }> {
  // /slow answers when release() is called: a request in flight holds a session on the server.
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') held.push(res);
    else res.end(req.url === '/ready' ? 'ready' : name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { port: (server.address() as net.AddressInfo).port, server, release: () => held.splice(0).forEach((res) => res.end(name)) };
}

function get(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function config(frontPort: number, tcpApi: number, first: number): (socket: string) => string {
  return (socket) => `global
  stats socket ${socket} mode 600 level admin
  stats socket 127.0.0.1:${tcpApi} level user
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend fe
  bind 127.0.0.1:${frontPort}
  default_backend api
backend api
  balance roundrobin
  option httpchk GET /ready
  server one 127.0.0.1:${first} check inter 200ms
`;
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof HerdError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

test('HAProxy runtime API: servers, add with health check, drain, maint, delete once the connections are gone; errors name the address, backend or answer', { skip: haproxyProblem(), timeout: 30_000 }, async (t) => {
  const one = await backendServer(t, 'one');
  const two = await backendServer(t, 'two');
  const [front, tcpApi] = [await freePort(), await freePort()];
  const haproxy = await startHaproxy(t, config(front, tcpApi, one.port));
  const api = new HaproxyRuntime(haproxy.socket);

  await eventually(async () => ((await api.servers('api'))[0]?.status === 'UP' ? true : undefined), 10_000, 'server one UP');
  const [first] = await api.servers('api');
  assert.deepEqual(first, { name: 'one', address: `127.0.0.1:${one.port}`, status: 'UP', scur: 0, qcur: 0, weight: 1, admin: 'ready' });
  assert.match(await api.command('show info'), /^Name: HAProxy/m);

  await api.addServer('api', 'two', '127.0.0.1', two.port, { check: {}, weight: 1 });
  await eventually(async () => ((await api.servers('api')).find((s) => s.name === 'two')?.status === 'UP' ? true : undefined), 10_000, 'dynamic server two UP');
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await get(front)).body);
  assert.deepEqual([...bodies].sort(), ['one', 'two'], 'round robin over both');

  await api.setState('api', 'one', 'drain');
  assert.equal((await api.servers('api')).find((s) => s.name === 'one')?.admin, 'drain');
  for (let i = 0; i < 3; i++) assert.equal((await get(front)).body, 'two', 'a draining server takes no new traffic');
  await api.setState('api', 'one', 'ready');

  // A request in flight through HAProxy to `two` holds a session: a delete without force waits for it.
  await api.setState('api', 'one', 'maint');
  const slow = get(front, '/slow');
  await eventually(async () => ((await api.servers('api')).find((s) => s.name === 'two')?.scur === 1 ? true : undefined), 5000, 'a session on two');
  await rejects(api.delServer('api', 'two', { waitMs: 0 }), 'HERD_ERR_HAPROXY_BUSY', /api\/two still has 1 session/);
  const deleted = api.delServer('api', 'two', { waitMs: 10_000 });
  two.release();
  assert.equal((await slow).body, 'two', 'the request in flight was served');
  await deleted;
  assert.deepEqual((await api.servers('api')).map((s) => s.name), ['one']);

  // A rollout's drain and ready through the balancer: a server in rotation is drained and put back;
  // one an operator put in maint is left in maint.
  const lines: string[] = [];
  await api.setState('api', 'one', 'ready');
  const balancer = new HaproxyBalancer({ haproxy: { socket: haproxy.socket, backend: 'api' } }, 'api', (l) => lines.push(l), 5000);
  await balancer.drain('one');
  assert.equal((await api.servers('api'))[0]?.admin, 'drain');
  await balancer.ready('one');
  assert.equal((await api.servers('api'))[0]?.admin, 'ready');
  await api.setState('api', 'one', 'maint');
  await balancer.drain('one');
  await balancer.ready('one');
  assert.equal((await api.servers('api'))[0]?.admin, 'maint', "the operator's maint is kept");
  assert.match(lines.join('\n'), /one: already in maint in HAProxy \(api\/one, set by an operator\); reloading it there and leaving it in maint/);
  await api.setState('api', 'one', 'ready');

  // Errors: each names what was wrong.
  await rejects(api.servers('nope'), 'HERD_ERR_HAPROXY_BACKEND', /no backend "nope"/);
  await rejects(api.addServer('api', 'one', '127.0.0.1', 1), 'HERD_ERR_HAPROXY_COMMAND', /add server api\/one.*Already exists/);
  await rejects(api.setState('api', 'ghost', 'drain'), 'HERD_ERR_HAPROXY_COMMAND', /No such server/);
  await rejects(api.command('no such verb'), 'HERD_ERR_HAPROXY_COMMAND', /Unknown command/);
  const user = new HaproxyRuntime(`127.0.0.1:${tcpApi}`);
  assert.equal((await user.servers('api')).length, 1, 'a TCP address works, and reading needs no admin level');
  await rejects(user.setState('api', 'one', 'ready'), 'HERD_ERR_HAPROXY_COMMAND', new RegExp(`127\\.0\\.0\\.1:${tcpApi} refused .*(Permission denied|Require)`));
  await rejects(new HaproxyRuntime(`${haproxy.dir}/missing.sock`).command('show info'), 'HERD_ERR_HAPROXY_UNREACHABLE', /missing\.sock: ENOENT/);
  await rejects(new HaproxyRuntime(`127.0.0.1:${await freePort()}`).command('show info'), 'HERD_ERR_HAPROXY_UNREACHABLE', /ECONNREFUSED/);

  // A socket that accepts and never answers: the command times out, naming the address.
  const accepted: net.Socket[] = [];
  const silent = net.createServer((s) => accepted.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const s of accepted) s.destroy();
    silent.close(() => resolve());
  }));
  const silentAddress = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  await rejects(new HaproxyRuntime(silentAddress, { timeoutMs: 300 }).command('show info'), 'HERD_ERR_HAPROXY_UNREACHABLE', /no answer .* within 0\.3 s/);
});

test('runtime API addresses: unix paths, host:port, [v6]:port', async () => {
  assert.deepEqual(parseAddress('/run/haproxy/admin.sock'), { path: '/run/haproxy/admin.sock' });
  assert.deepEqual(parseAddress('admin.sock'), { path: 'admin.sock' });
  assert.deepEqual(parseAddress('127.0.0.1:9999'), { host: '127.0.0.1', port: 9999 });
  assert.deepEqual(parseAddress('lb.internal:9999'), { host: 'lb.internal', port: 9999 });
  assert.deepEqual(parseAddress('[::1]:9999'), { host: '::1', port: 9999 });
  await assert.rejects(new HaproxyRuntime('/x').command('show stat; show info'), /one command per call/);
});
