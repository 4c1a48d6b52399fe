import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { test } from 'node:test';
import { eventually, NODE, running } from '../helpers';
import { createFleetNet, netnsProblem, type FleetChild, type FleetNet } from './netns';
import { REDIS_CLI, redisProblem, startRedis } from './redisServer';

/**
 * The fleet test harness tests itself: network namespaces on a bridge, a real
 * Redis on the bridge address reached from every namespace, a server in one
 * namespace reached from the root namespace and from another, and nothing of
 * it left afterwards, even when the test using it fails halfway.
 */
const skip = netnsProblem() || redisProblem();

function httpGet(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
  });
}

/** What of a run is still on the machine: its namespaces and links. */
function leftovers(id: string): string[] {
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.includes(id));
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').filter((n) => n.includes(id));
  return [...ns.map((n) => `netns ${n}`), ...links.map((l) => `link ${l}`)];
}

/** The port a server started with SERVER prints once it listens. */
async function listeningPort(child: FleetChild): Promise<number> {
  const m = await eventually(() => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited: ${child.output()}`);
    return /listening (\d+)/.exec(child.output()) ?? undefined;
  }, 10_000, 'the server in the namespace to listen');
  return Number(m[1]);
}

const SERVER = `
const http = require('http');
const server = http.createServer((req, res) => res.end('hello from ' + process.env.HOST_NAME));
server.listen(0, process.env.HOST_ADDRESS, () => console.log('listening ' + server.address().port));
`;

test('fleet harness: 3 namespaces on a bridge, Redis on the bridge address answers each, a server in host1 answers the root namespace and host2, Redis restarts on its port; nothing is left afterwards', { skip }, async (t) => {
  let id = '';
  let redisPid: number | undefined;
  let redisDir = '';

  await t.test('the fleet', async (t) => {
    const net = await createFleetNet(t, 3);
    id = net.id;
    assert.match(net.subnet, /^10\.213\.\d+\.0\/24$/);
    assert.equal(net.hosts.length, 3);
    assert.deepEqual(net.hosts.map((h) => h.address.split('.')[3]), ['11', '12', '13']);
    assert.equal(net.bridgeAddress.split('.')[3], '1');
    for (const h of net.hosts) assert.ok(h.ns.startsWith(`herd-${id}-`) && h.ns.length <= 32);
    assert.ok(net.bridge.length <= 15 && net.hosts.every((h) => h.veth.length <= 15));

    const redis = await startRedis(t, { bind: [net.bridgeAddress] });
    redisPid = redis.pid;
    redisDir = redis.dir;
    assert.equal(redis.url, `redis://${net.bridgeAddress}:${redis.port}`);

    const pingFrom = async (h: FleetNet['hosts'][number]) => (await net.run(h, REDIS_CLI, ['-h', net.bridgeAddress, '-p', String(redis.port), 'ping'])).stdout.trim();
    for (const h of net.hosts) assert.equal(await pingFrom(h), 'PONG', `redis-cli ping from ${h.ns}`);

    const [h1, h2, h3] = net.hosts as [FleetNet['hosts'][number], FleetNet['hosts'][number], FleetNet['hosts'][number]];
    const server = net.exec(h1, NODE, ['-e', SERVER], { env: { ...process.env, HOST_NAME: h1.name, HOST_ADDRESS: h1.address } });
    const port = await listeningPort(server);
    assert.deepEqual(await httpGet(h1.address, port), { status: 200, body: 'hello from host1' }, 'GET from the root namespace');
    const fromH2 = await net.run(h2, NODE, ['-e', `require('http').get('http://${h1.address}:${port}/', (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => console.log(res.statusCode + ' ' + b)); })`]);
    assert.equal(fromH2.stdout.trim(), '200 hello from host1', `GET from host2: ${fromH2.stderr}`);
    // Only host1 holds the address: nothing listens on it in host2's namespace.
    const inH2 = await net.run(h2, NODE, ['-e', `require('net').connect(${port}, '127.0.0.1').on('connect', () => console.log('open')).on('error', (e) => console.log(e.code))`]);
    assert.equal(inH2.stdout.trim(), 'ECONNREFUSED');

    // Redis down, then back on the same port: the hosts see both.
    await redis.stop();
    assert.equal(redis.running, false);
    assert.notEqual(await pingFrom(h1), 'PONG');
    await redis.start();
    assert.notEqual(redis.pid, redisPid);
    redisPid = redis.pid;
    assert.equal(await pingFrom(h1), 'PONG');

    // A host cut off from the bridge, then back.
    await net.disconnect(h3);
    const cut = await net.run(h3, REDIS_CLI, ['-h', net.bridgeAddress, '-p', String(redis.port), '-t', '1', 'ping'], { timeoutMs: 10_000 });
    assert.notEqual(cut.stdout.trim(), 'PONG');
    await net.reconnect(h3);
    await eventually(async () => ((await pingFrom(h3)) === 'PONG' ? true : undefined), 10_000, 'host3 to reach Redis again');

    // An orphan the test does not hold (a daemon's child): the cleanup finds it with ip netns pids.
    assert.equal((await net.run(h2, 'sh', ['-c', 'sleep 600 >/dev/null 2>&1 &'])).code, 0);
    assert.equal((await net.pids(h2)).length, 1);
    // kill(host): the host dies.
    await net.kill(h1);
    await eventually(() => (server.exitCode !== null || server.signalCode !== null ? true : undefined), 5000, 'the server in host1 to end');
    assert.deepEqual(await net.pids(h1), []);
  });

  await t.test('a password, loopback only (protected mode stays on)', async (t) => {
    const redis = await startRedis(t, { bind: ['127.0.0.1'], password: 'p@ss word' });
    assert.equal(redis.url, `redis://:p%40ss%20word@127.0.0.1:${redis.port}`);
    assert.equal(await redis.ping(), true);
    const noAuth = spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(redis.port), 'ping'], { encoding: 'utf8' });
    assert.match(noAuth.stdout + noAuth.stderr, /NOAUTH/);
    const withAuth = spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(redis.port), '--no-auth-warning', '-a', 'p@ss word', 'ping'], { encoding: 'utf8' });
    assert.equal(withAuth.stdout.trim(), 'PONG');
  });

  await t.test('a test failing halfway still removes its network and kills what it started', async (t) => {
    const hooks: (() => unknown)[] = [];
    const runHooks = async () => {
      for (const hook of hooks.splice(0)) await hook();
    };
    t.after(runHooks); // a safety net should an assertion below fail first
    let failing: FleetNet | undefined;
    let pid: number | undefined;
    await assert.rejects(async () => {
      failing = await createFleetNet({ after: (fn) => hooks.push(fn) }, 2);
      const child = failing.exec(failing.hosts[1] as FleetNet['hosts'][number], 'sleep', ['600']);
      pid = child.pid;
      throw new Error('the test fails here');
    }, /the test fails here/);
    assert.ok(failing && pid !== undefined);
    assert.equal(running(pid), true);
    await runHooks();
    assert.equal(running(pid), false);
    assert.deepEqual(leftovers(failing.id), []);
  });

  await t.test('nothing of the run is left', () => {
    assert.ok(id, 'the fleet subtest created a network');
    assert.deepEqual(leftovers(id), []);
    assert.ok(redisPid !== undefined && !running(redisPid), `redis-server ${redisPid} is gone`);
    assert.equal(existsSync(redisDir), false, 'the redis directory is removed');
  });
});
