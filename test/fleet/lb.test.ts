import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { HaproxyRuntime } from '../../src/fleet/haproxyRuntime';
import type { FleetView } from '../../src/fleet/status';
import { CLI, eventually, FIXTURES, freePort, NODE } from '../helpers';
import { haproxyCheck, haproxyProblem, nginxCheck, nginxProblem, startHaproxy } from './haproxyServer';
import { createFleetNet, netnsProblem, type FleetHost, type FleetNet } from './netns';
import { redisProblem, startRedis } from './redisServer';

const SECRET = 'fleet-test-secret-0123456789';
const APP_PORT = 8080;
const HEALTH_PORT = 9400;

interface Member {
  host: FleetHost;
  home: string;
  herd: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** A herd host in its namespace: one worker of hello.js on 8080, herd's /ready on 9400 (all addresses), joined to the fleet. */
function member(t: TestContext, net: FleetNet, host: FleetHost, redis: string): Member {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-lb-'));
  const env = { ...process.env, HERD_HOME: home };
  const herd = (args: string[]) => net.run(host, NODE, [CLI, ...args], { env, timeoutMs: 60_000 });
  t.after(async () => {
    await herd(['kill']).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });
  writeFileSync(path.join(home, 'herd.config.js'), `module.exports = ${JSON.stringify({
    fleet: { redis, host: host.name, address: host.address, secret: SECRET },
    health: { port: HEALTH_PORT, host: '0.0.0.0', shutdownDelay: 0 },
    apps: [{ name: 'api', script: path.join(FIXTURES, 'hello.js'), instances: 1, env: { PORT: String(APP_PORT) } }],
  })};\n`);
  return { host, home, herd };
}

async function start(m: Member): Promise<void> {
  const r = await m.herd(['start', path.join(m.home, 'herd.config.js')]);
  assert.equal(r.code, 0, `${m.host.name}: ${r.stderr}`);
}

async function registry(m: Member): Promise<FleetView> {
  const r = await m.herd(['fleet', 'status', '--json']);
  return JSON.parse(r.stdout) as FleetView;
}

/** The pid of each host's worker: hello.js answers with its pid, so a body says which host served it. */
async function workerPid(m: Member): Promise<string> {
  const r = await m.herd(['list', '--json']);
  const [app] = JSON.parse(r.stdout) as { workers: { pid: number | null }[] }[];
  const pid = app?.workers[0]?.pid;
  assert.ok(pid, `${m.host.name}: no worker pid in ${r.stdout}`);
  return String(pid);
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    }).on('error', reject);
  });
}

/** `n` requests through the balancer: every one must succeed; resolves with the pids that served them. */
async function through(port: number, n: number): Promise<Set<string>> {
  const pids = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await get(port);
    assert.equal(r.status, 200, `request ${i} through HAProxy: ${r.status} ${r.body}`);
    pids.add(r.body);
  }
  return pids;
}

test('herd lb haproxy: the config from the registry passes haproxy -c and serves every host; --sync --once adds a host that joins, removes one whose app is gone, keeps one that is down', { skip: netnsProblem() || redisProblem() || haproxyProblem() || nginxProblem(), timeout: 90_000 }, async (t) => {
  const net = await createFleetNet(t, 3);
  const redis = await startRedis(t, { bind: [net.bridgeAddress] });
  const [m1, m2, m3] = net.hosts.map((h) => member(t, net, h, redis.url)) as [Member, Member, Member];
  await Promise.all([start(m1), start(m2)]);
  const servesApi = (v: FleetView, name: string) => v.hosts.some((h) => h.name === name && h.online && h.health !== null && h.apps.some((a) => a.name === 'api' && a.ports.includes(APP_PORT)));
  const joined = await eventually(async () => {
    const v = await registry(m1);
    return servesApi(v, 'host1') && servesApi(v, 'host2') ? v : undefined;
  }, 20_000, 'host1 and host2 serve api in the registry');
  assert.deepEqual(joined.hosts.find((h) => h.name === 'host1')?.health, { host: '0.0.0.0', port: HEALTH_PORT });

  // The config, made on host1 from the registry, with a runtime API socket the test swaps for its own.
  const front = await freePort();
  const SOCKET = '/herd-test-socket-placeholder.sock';
  const made = await m1.herd(['lb', 'haproxy', 'api', '--port', String(front), '--socket', SOCKET]);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, new RegExp(`server host1 ${net.hosts[0]?.address}:${APP_PORT} check port ${HEALTH_PORT} weight 100`));
  assert.match(made.stdout, new RegExp(`server host2 ${net.hosts[1]?.address}:${APP_PORT} check port ${HEALTH_PORT} weight 100`));
  const haproxy = await startHaproxy(t, (socket) => made.stdout.replace(SOCKET, socket));
  const checked = haproxyCheck(haproxy.config);
  assert.ok(checked.ok, checked.output);
  const nginx = await m1.herd(['lb', 'nginx', 'api', '--port', String(front), '--static', FIXTURES]);
  assert.equal(nginx.code, 0, nginx.stderr);
  writeFileSync(path.join(haproxy.dir, 'nginx.conf'), nginx.stdout);
  const ng = nginxCheck(path.join(haproxy.dir, 'nginx.conf'), haproxy.dir);
  assert.ok(ng.ok, ng.output);

  const api = new HaproxyRuntime(haproxy.socket);
  const up = (names: string[]) => eventually(async () => {
    const servers = await api.servers('api');
    return names.every((n) => servers.find((s) => s.name === n)?.status === 'UP') ? servers : undefined;
  }, 15_000, `${names.join(', ')} UP in HAProxy`);
  await up(['host1', 'host2']);
  const [pid1, pid2] = [await workerPid(m1), await workerPid(m2)];
  assert.deepEqual([...(await through(front, 10))].sort(), [pid1, pid2].sort(), 'requests reach both hosts');

  const sync = (m: Member, extra: string[] = []) => m.herd(['lb', 'haproxy', 'api', '--sync', '--once', '--socket', haproxy.socket, ...extra]);

  // A third host joins: --sync adds it without a reload.
  await start(m3);
  await eventually(async () => (servesApi(await registry(m1), 'host3') ? true : undefined), 20_000, 'host3 serves api in the registry');
  const added = await sync(m1);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, new RegExp(`api/host3 added: ${net.hosts[2]?.address}:${APP_PORT} \\(check port ${HEALTH_PORT}\\)`));
  await up(['host1', 'host2', 'host3']);
  const pid3 = await workerPid(m3);
  assert.ok((await through(front, 12)).has(pid3), 'requests reach the host --sync added');
  const again = await sync(m1);
  assert.match(again.stdout, /3 host\(s\) of api in the registry, 0 change\(s\)/, 'a second pass changes nothing');

  // host2's app is deleted: gone from the registry, its server is removed. host3's herd is killed: down, its server stays.
  assert.equal((await m2.herd(['delete', 'api'])).code, 0);
  assert.equal((await m3.herd(['kill'])).code, 0);
  await eventually(async () => {
    const v = await registry(m1);
    const h2 = v.hosts.find((h) => h.name === 'host2');
    const h3 = v.hosts.find((h) => h.name === 'host3');
    return h2?.online && !h2.apps.some((a) => a.name === 'api') && h3 && !h3.online ? true : undefined;
  }, 20_000, 'host2 without api, host3 down');
  const removed = await sync(m1);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /api\/host2 removed: gone from the registry/);
  assert.doesNotMatch(removed.stdout, /host3/);
  const left = await eventually(async () => {
    const servers = await api.servers('api');
    return servers.find((s) => s.name === 'host3')?.status === 'DOWN' ? servers : undefined;
  }, 15_000, 'host3 marked DOWN by its health check');
  assert.deepEqual(left.map((s) => s.name), ['host1', 'host3']);
  assert.deepEqual([...(await through(front, 6))], [pid1], 'host1 serves everything');

  // Errors name what was wrong.
  const unreachable = await sync(m1, ['--socket', path.join(haproxy.dir, 'nope.sock')]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /nope\.sock.*HERD_ERR_HAPROXY_UNREACHABLE/);
  const noBackend = await sync(m1, ['--backend', 'web']);
  assert.equal(noBackend.code, 1);
  assert.match(noBackend.stderr, /no backend "web".*HERD_ERR_HAPROXY_BACKEND/);
  const noApp = await m1.herd(['lb', 'haproxy', 'web']);
  assert.equal(noApp.code, 1);
  assert.match(noApp.stderr, /app named "web".*HERD_ERR_LB_NO_APP/);
  const noDir = await m1.herd(['lb', 'nginx', 'api', '--static', path.join(haproxy.dir, 'missing')]);
  assert.equal(noDir.code, 2);
  assert.match(noDir.stderr, /--static .*missing: no such directory.*HERD_ERR_LB_STATIC/);
});
