import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { eventually, runCli } from '../helpers';
import { fleetStatus, hostTargets, member, SECRET, traffic, type Member } from './members';
import { createFleetNet, netnsProblem } from './netns';
import { REDIS_CLI, redisProblem, startRedis } from './redisServer';

test('three hosts join a fleet through Redis: herd fleet status shows every host and app, and totals; Redis stopped: every host serves on, status says so; Redis back: every host registers again', { skip: netnsProblem() || redisProblem() }, async (t) => {
  const net = await createFleetNet(t, 3);
  const redis = await startRedis(t, { bind: [net.bridgeAddress] });
  const members = net.hosts.map((h) => member(t, net, h, redis.url));
  for (const m of members) {
    const r = await m.herd(['start', path.join(m.home, 'herd.config.js')]);
    assert.equal(r.code, 0, `${m.host.name}: ${r.stderr}`);
  }
  const [first] = members as [Member, ...Member[]];
  const joined = await eventually(async () => {
    const { view } = await fleetStatus(first);
    const up = view.hosts.filter((h) => h.online && h.apps.some((a) => a.name === 'api' && a.online === 2));
    return up.length === 3 ? view : undefined;
  }, 20_000, 'three hosts up with api online');
  assert.deepEqual(joined.hosts.map((h) => [h.name, h.address]), net.hosts.map((h) => [h.name, h.address]));
  assert.equal(joined.self, 'host1');
  assert.ok(joined.redis.ok);
  assert.doesNotMatch(JSON.stringify(joined), new RegExp(SECRET), 'the secret is never shown');
  const api = joined.apps.find((a) => a.name === 'api');
  assert.equal(api?.hosts, 3);
  assert.equal(api?.workers, 6);
  assert.equal(api?.online, 6);
  // One revision: the same files on every host (a content hash: FIXTURES may not be a git work tree).
  assert.equal(api?.revisions.length, 1, JSON.stringify(api?.revisions));
  const text = await first.herd(['fleet', 'status']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /3 of 3 host\(s\) up/);
  assert.match(text.stdout, /host1 \(this\)/);

  // Someone who can write to Redis but has not the secret publishes a host of their own,
  // shaped to put a server of theirs into a generated balancer config.
  const forged = { ...joined.hosts[0], name: 'mallory', address: '10.6.6.6', pid: 1, at: Date.now(), apps: [{ ...(joined.hosts[0]?.apps[0] ?? {}), latency: { b: [], n: 0, sum: 0, max: 0 } }] };
  const cli = (...args: string[]) => new Promise<void>((resolve, reject) => execFile(REDIS_CLI, ['-h', redis.host, '-p', String(redis.port), ...args], (err) => (err ? reject(err) : resolve())));
  await cli('SET', 'herd:fleet:host:mallory', JSON.stringify({ summary: JSON.stringify(forged), sig: '0'.repeat(64) }), 'PX', '60000');
  await cli('ZADD', 'herd:fleet:hosts', String(Date.now()), 'mallory');
  const seen = await fleetStatus(first);
  const mallory = seen.view.hosts.find((h) => h.name === 'mallory');
  assert.equal(mallory?.online, false);
  assert.match(mallory?.problem ?? '', /signature does not check/);
  assert.equal(seen.view.apps.find((a) => a.name === 'api')?.hosts, 3, 'a refused host is in no total');
  assert.match((await first.herd(['fleet', 'status'])).stdout, /refused \(counted as down\):\nmallory: its summary's signature does not check/);
  const lb = await first.herd(['lb', 'haproxy', 'api']);
  assert.equal(lb.code, 0, lb.stderr);
  assert.doesNotMatch(lb.stdout, /10\.6\.6\.6|server mallory/);
  await cli('DEL', 'herd:fleet:host:mallory');
  await cli('ZREM', 'herd:fleet:hosts', 'mallory');

  // Redis goes away for a while: nothing local notices.
  const load = traffic(t, hostTargets(net.hosts));
  await redis.stop();
  const unseen = await fleetStatus(first);
  assert.equal(unseen.code, 1);
  assert.equal(unseen.view.redis.ok, false);
  assert.match(unseen.stderr, /HERD_ERR_FLEET_UNSEEN|cannot be read/);
  const local = await first.herd(['list', '--json']);
  assert.equal(local.code, 0, 'local commands work without Redis');
  assert.equal((await first.herd(['reload', 'api'])).code, 0, 'a local reload works without Redis');
  await redis.start();
  const back = Date.now();
  await eventually(async () => {
    const { view } = await fleetStatus(first);
    return view.redis.ok && view.hosts.filter((h) => h.online && h.lastSeenS < 2).length === 3 ? view : undefined;
  }, 20_000, 'every host registered again');
  t.diagnostic(`every host registered again ${Date.now() - back} ms after Redis came back`);
  const stats = await load.stop();
  assert.equal(stats.failed, 0, stats.errors.join('; '));
  assert.ok(stats.ok > 0);
  for (const m of members) {
    const log = readFileSync(path.join(m.home, 'daemon.log'), 'utf8');
    assert.match(log, /fleet: Redis at redis:\/\/.* cannot be reached/);
    assert.match(log, /fleet: Redis at redis:\/\/.* answers again/);
    assert.doesNotMatch(log, new RegExp(SECRET));
  }
});

test('herd fleet status on a host that joined no fleet says so (HERD_ERR_FLEET_OFF)', { skip: netnsProblem() || redisProblem() }, async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-fleet-'));
  t.after(async () => {
    await runCli(['kill'], { HERD_HOME: home });
    rmSync(home, { recursive: true, force: true });
  });
  assert.equal((await runCli(['daemon'], { HERD_HOME: home })).code, 0);
  const r = await runCli(['fleet', 'status'], { HERD_HOME: home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HERD_ERR_FLEET_OFF/);
  assert.equal((await runCli(['fleet', 'reboot'], { HERD_HOME: home })).code, 2);
});
