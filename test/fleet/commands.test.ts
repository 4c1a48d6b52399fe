import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { RolloutReport } from '../../src/fleet/rollout';
import type { AppInfo } from '../../src/protocol/control';
import { eventually, FIXTURES, running } from '../helpers';
import { fleetStatus, helloApp, hostTargets, member, SECRET, traffic, type Member } from './members';
import { createFleetNet, netnsProblem } from './netns';
import { REDIS_CLI, redisProblem, startRedis } from './redisServer';

/** Each host has its own copy of the app (its cwd), as a deploy puts it there. */
function deploy(m: Member, script: string): string {
  const dir = path.join(m.home, 'app');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), '{"name":"api","version":"1.0.0"}\n');
  writeFileSync(path.join(dir, 'server.js'), script);
  return dir;
}

async function workerPids(m: Member): Promise<number[]> {
  const r = await m.herd(['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const api = (JSON.parse(r.stdout) as AppInfo[]).find((a) => a.name === 'api');
  return (api?.workers ?? []).filter((w) => w.status === 'online').map((w) => w.pid as number).sort();
}

test('fleet commands: restart and scale one host, a rolling reload of every host with 0 failed requests; a deploy that throws at boot stops at the first host; --expect-revision catches other code on disk; forged, replayed and misdirected commands are refused and logged', { skip: netnsProblem() || redisProblem() }, async (t) => {
  const net = await createFleetNet(t, 3);
  const redis = await startRedis(t, { bind: [net.bridgeAddress] });
  const members = net.hosts.map((h) => member(t, net, h, redis.url, { apps: [] }));
  const good = readFileSync(path.join(FIXTURES, 'hello.js'), 'utf8');
  for (const m of members) {
    const cwd = deploy(m, good);
    writeFileSync(m.config, readFileSync(m.config, 'utf8').replace('"apps":[]', `"apps":[${JSON.stringify(helloApp({ script: 'server.js', cwd }))}]`));
    const r = await m.herd(['start', m.config]);
    assert.equal(r.code, 0, `${m.host.name}: ${r.stderr}`);
  }
  const [h1, h2, h3] = members as [Member, Member, Member];
  const joined = await eventually(async () => {
    const { view } = await fleetStatus(h1);
    return view.hosts.filter((h) => h.online && h.apps.some((a) => a.name === 'api' && a.online === 2)).length === 3 ? view : undefined;
  }, 20_000, 'three hosts up with api online');
  const revision = joined.apps[0]?.revisions[0] as string;
  assert.equal(joined.apps[0]?.revisions.length, 1);

  // One host, before traffic starts (a restart is not zero-downtime).
  const before3 = await workerPids(h3);
  const restarted = await h1.herd(['fleet', 'restart', 'api', '--host', 'host3']);
  assert.equal(restarted.code, 0, restarted.stderr + restarted.stdout);
  assert.match(restarted.stdout, /host3\s+restart done/);
  assert.notDeepEqual(await workerPids(h3), before3);
  const scaled = await h1.herd(['fleet', 'scale', 'api', '3', '--host', 'host2', '--json']);
  assert.equal(scaled.code, 0, scaled.stderr);
  assert.deepEqual(JSON.parse(scaled.stdout).results.map((o: { host: string; ok: boolean }) => [o.host, o.ok]), [['host2', true]]);
  assert.equal((await workerPids(h2)).length, 3);

  const load = traffic(t, hostTargets(net.hosts));
  const rolled = await h1.herd(['fleet', 'reload', 'api'], 120_000);
  assert.equal(rolled.code, 0, rolled.stderr + rolled.stdout);
  // Host by host, each one's progress streamed back.
  const order = ['host1', 'host2', 'host3'].map((h) => rolled.stdout.indexOf(`${h}: reloading`));
  assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > (order[k - 1] as number))), rolled.stdout);
  assert.match(rolled.stdout, /host2: api: reloaded/);
  assert.match(rolled.stdout, /every host reloaded/);

  // A deploy that throws at boot, copied to every host.
  const pidsBefore = await Promise.all(members.map(workerPids));
  for (const m of members) deploy(m, "throw new Error('v2 cannot read its config');\n");
  const refused = await h1.herd(['fleet', 'reload', 'api', '--expect-revision', revision, '--json']);
  assert.equal(refused.code, 1);
  const refusedReport = JSON.parse(refused.stdout) as RolloutReport;
  assert.deepEqual(refusedReport.hosts.map((h) => h.state), ['refused', 'refused', 'refused']);
  assert.match(refusedReport.stopped ?? '', /3 host\(s\) do not have revision .*nothing was reloaded/);
  const broken = await h1.herd(['fleet', 'reload', 'api', '--json'], 120_000);
  assert.equal(broken.code, 1, broken.stdout);
  const report = JSON.parse(broken.stdout) as RolloutReport;
  assert.deepEqual(report.hosts.map((h) => [h.host, h.state]), [['host1', 'failed'], ['host2', 'not reached'], ['host3', 'not reached']]);
  assert.match(report.hosts[0]?.message ?? '', /reload of "api" aborted/);
  assert.deepEqual(report.hosts.map((h) => h.before), [revision, revision, revision], 'every host still runs the revision it ran');
  assert.deepEqual(await Promise.all(members.map(workerPids)), pidsBefore, 'every host keeps its workers');
  const stats = await load.stop();
  assert.equal(stats.failed + stats.non2xx, 0, stats.errors.join('; '));
  assert.ok(stats.ok > 100, `${stats.ok} requests`);
  t.diagnostic(`${stats.ok} requests to the three hosts during the rollouts, 0 failed`);

  // Commands host2 must refuse: a forged one, a replay of a real one, one for an app it does not run.
  const url = new URL(redis.url);
  const cli = (...args: string[]) => net.run(net.hosts[0]!, REDIS_CLI, ['-h', url.hostname, '-p', url.port, ...args]);
  const forged = JSON.stringify({ id: 'forged-0000-0001', sender: 'mallory:1', host: 'host2', at: Date.now(), verb: 'stop', app: 'api' });
  assert.equal((await cli('XADD', 'herd:fleet:cmd:host2', '*', 'c', forged, 's', 'ab'.repeat(32))).code, 0);
  const range = await cli('--raw', 'XRANGE', 'herd:fleet:cmd:host2', '-', '+', 'COUNT', '1');
  const [, , text, , sig] = range.stdout.trim().split('\n');
  assert.match(text ?? '', /"verb":"scale"/);
  assert.equal((await cli('XADD', 'herd:fleet:cmd:host2', '*', 'c', text as string, 's', sig as string)).code, 0);
  const misdirected = await h1.herd(['fleet', 'stop', 'billing', '--host', 'host2']);
  assert.equal(misdirected.code, 1);
  assert.match(misdirected.stdout, /refused by host2: this host runs no app "billing"/);
  const log = await eventually(async () => {
    const text2 = readFileSync(path.join(h2.home, 'daemon.log'), 'utf8');
    return (text2.match(/fleet: refused/g) ?? []).length >= 3 ? text2 : undefined;
  }, 10_000, 'three refusals in host2\'s daemon.log');
  assert.match(log, /fleet: refused "stop" "api" from "mallory:1" \(command forged-0000-0001\): bad signature/);
  assert.match(log, /fleet: refused "scale" "api" from "host1:\d+" .*: (replayed|its time is)/);
  assert.match(log, /fleet: refused "stop" "billing" .*runs no app "billing"/);
  assert.doesNotMatch(log, new RegExp(SECRET));
  assert.equal((await workerPids(h2)).length, 3, 'nothing changed on host2');

  // host3's daemon dies; the next herd command there starts one that adopts the app and joins the fleet again by itself.
  const dead = Number(readFileSync(path.join(h3.home, 'daemon.pid'), 'utf8'));
  process.kill(dead, 'SIGKILL');
  await eventually(() => (readFileSync(path.join(h3.home, 'daemon.pid'), 'utf8').trim() === String(dead) && !running(dead) ? true : undefined), 10_000, 'host3\'s daemon to die');
  assert.equal((await workerPids(h3)).length, 2);
  const back = await eventually(async () => {
    const { view } = await fleetStatus(h1);
    const host3 = view.hosts.find((h) => h.name === 'host3');
    return host3?.online && host3.lastSeenS < 2 ? host3 : undefined;
  }, 15_000, 'host3 back in the fleet');
  assert.equal(back.apps.find((a) => a.name === 'api')?.online, 2);
  const again = await h1.herd(['fleet', 'scale', 'api', '1', '--host', 'host3']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
});

