import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { haproxyBackend } from '../../src/config/fleet';
import { loadTarget, type LoadOptions } from '../../src/config/load';
import { HerdError } from '../../src/errors';
import { tcpPorts } from '../../src/daemon/supervision/appMetrics';
import { fleetView } from '../../src/fleet/status';
import type { HostSummary } from '../../src/fleet/types';
import { openSummary, sealSummary } from '../../src/fleet/summarySeal';
import { Histogram } from '../../src/metrics/histogram';

let dir = '';
let seq = 0;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'herd-fleet-config-'));
  await writeFile(path.join(dir, 'server.js'), "require('node:http').createServer().listen(process.env.PORT);\n");
});
after(() => rm(dir, { recursive: true, force: true }));

async function load(fleet: unknown, env: Record<string, string> = {}) {
  const file = path.join(dir, `c${++seq}.config.js`);
  await writeFile(file, `module.exports = ${JSON.stringify({ fleet, apps: [{ name: 'api', script: 'server.js' }] })};\n`);
  const opts: LoadOptions = { cwd: dir, env: { PATH: '/usr/bin', HOME: '/home/me', ...env }, envName: null, overrides: {}, interpreter: '/usr/bin/node', cpus: 2 };
  return loadTarget(file, opts);
}

async function problems(fleet: unknown, env: Record<string, string> = {}): Promise<string> {
  try {
    await load(fleet, env);
  } catch (err) {
    assert.ok(err instanceof HerdError);
    assert.equal(err.code, 'HERD_ERR_CONFIG_INVALID');
    return (err.details ?? []).join('\n');
  }
  throw new Error('expected a config error');
}

test('fleet: redis URL, host, address and secret are read; the password and secret may come from env', async () => {
  const r = await load({ redis: 'redis://10.0.0.5:6379', host: 'web-1', address: '10.0.0.11' }, { HERD_FLEET_SECRET: 'a'.repeat(20), HERD_FLEET_REDIS_PASSWORD: 'pw' });
  assert.deepEqual(r.settings?.fleet, { redis: 'redis://:pw@10.0.0.5:6379', host: 'web-1', address: '10.0.0.11', secret: 'a'.repeat(20) });
});

test('fleet: secretFile is read relative to the config file', async () => {
  await writeFile(path.join(dir, 'fleet.secret'), `${'s'.repeat(24)}\n`);
  const r = await load({ redis: 'rediss://user:pass@redis.internal:6380', host: 'h', address: '10.0.0.1', secretFile: 'fleet.secret' });
  assert.equal(r.settings?.fleet?.secret, 's'.repeat(24));
  assert.equal(r.settings?.fleet?.redis, 'rediss://user:pass@redis.internal:6380');
});

test('fleet: each bad field is named, and no secret or password is shown', async () => {
  const text = await problems({ redis: 'http://:hunter2@x:1', host: 'bad host!', secret: 'short-secret' });
  assert.match(text, /fleet\.redis: must be a redis:\/\/ or rediss:\/\/ URL/);
  assert.doesNotMatch(text, /hunter2/);
  assert.match(text, /fleet\.host: must be 1-63 letters/);
  assert.match(text, /fleet\.secret: must be at least 16 characters/);
  assert.doesNotMatch(text, /short-secret/);
  assert.match(await problems({ host: 'h' }), /fleet\.redis: is required/);
  assert.match(await problems({ redis: 'redis://r:6379' }), /fleet\.secret: is required \(or secretFile, or env HERD_FLEET_SECRET\)/);
  assert.match(await problems({ redis: 'redis://r:6379', secretFile: 'nope' }), /fleet\.secretFile: cannot read .*nope: ENOENT/);
  // An unknown key is a warning, as everywhere in the config.
  assert.match((await load({ redis: 'redis://r:6379', secret: 'x'.repeat(20), extra: 1 })).warnings.join('\n'), /fleet\.extra/);
});

test('fleet.lb: the HAProxy runtime API and backends (one for every app, or per app); absent, it is not set; bad fields are named', async () => {
  const base = { redis: 'redis://r:6379', secret: 'x'.repeat(20), host: 'h', address: '10.0.0.1' };
  assert.equal((await load(base)).settings?.fleet?.lb, undefined);
  const one = await load({ ...base, lb: { haproxy: { socket: '127.0.0.1:9999', backend: 'be_all' } } });
  assert.deepEqual(one.settings?.fleet?.lb, { haproxy: { socket: '127.0.0.1:9999', backend: 'be_all' } });
  assert.equal(haproxyBackend(one.settings?.fleet?.lb, 'api'), 'be_all');
  const per = await load({ ...base, lb: { haproxy: { backend: { api: 'be_api' } } } });
  assert.deepEqual(per.settings?.fleet?.lb, { haproxy: { socket: null, backend: { api: 'be_api' } } });
  assert.equal(haproxyBackend(per.settings?.fleet?.lb, 'api'), 'be_api');
  assert.equal(haproxyBackend(per.settings?.fleet?.lb, 'admin'), 'admin', 'an app not listed: its name');
  assert.equal(haproxyBackend(undefined, 'api'), 'api');
  const text = await problems({ ...base, lb: { haproxy: { socket: '', backend: { api: 'bad name', web: 3 } }, nginx: {} } });
  assert.match(text, /fleet\.lb\.haproxy\.socket: must be a non-empty string/);
  assert.match(text, /fleet\.lb\.haproxy\.backend\.api: must be a backend name/);
  assert.match(text, /fleet\.lb\.haproxy\.backend\.web: must be a backend name/);
  assert.match(await problems({ ...base, lb: { haproxy: { backend: ['a'] } } }), /fleet\.lb\.haproxy\.backend: must be a backend name .* or an object/);
  assert.match(await problems({ ...base, lb: 'haproxy' }), /fleet\.lb: must be an object/);
  assert.match((await load({ ...base, lb: { nginx: {} } })).warnings.join('\n'), /fleet\.lb\.nginx/);
});

function summary(name: string, apps: { name: string; rps: number; errorRate: number; ms: number[]; revision?: string }[]): HostSummary {
  return {
    name, address: `10.0.0.${name.length}`, version: '0.1.0', pid: 1, at: 0, health: name === 'a' ? { host: '0.0.0.0', port: 9400 } : null,
    apps: apps.map((a) => {
      const h = new Histogram();
      for (const ms of a.ms) h.observe(ms);
      return { name: a.name, status: 'online', workers: 2, online: 2, revision: a.revision ?? 'r1', disk: a.revision ?? 'r1', rps: a.rps, p99: h.percentile(0.99), errorRate: a.errorRate, cpu: 10, memory: 1000, latency: h.toWire(), ports: [8080], healthPath: name === 'a' ? '/health' : null };
    }),
  };
}

test('fleet view: hosts whose registration expired are down; app totals merge latency buckets instead of averaging percentiles', () => {
  const now = 100_000;
  const fast = Array.from({ length: 99 }, () => 1);
  const view = fleetView([
    { name: 'b', lastSeen: now - 500, summary: summary('b', [{ name: 'api', rps: 100, errorRate: 0.02, ms: fast }]) },
    { name: 'a', lastSeen: now - 300, summary: summary('a', [{ name: 'api', rps: 100, errorRate: 0, ms: [...fast, 1000], revision: 'r2' }]) },
    { name: 'c', lastSeen: now - 60_000, summary: null },
  ], now);
  assert.deepEqual(view.hosts.map((h) => [h.name, h.online, h.lastSeenS]), [['a', true, 0.3], ['b', true, 0.5], ['c', false, 60]]);
  // What a load balancer needs: the health endpoint, each app's ports and health path; no latency buckets.
  assert.deepEqual(view.hosts.map((h) => [h.health, h.apps.map((a) => [a.ports, a.healthPath])]), [
    [{ host: '0.0.0.0', port: 9400 }, [[[8080], '/health']]], [null, [[[8080], null]]], [null, []],
  ]);
  assert.equal('latency' in (view.hosts[0]?.apps[0] ?? {}), false);
  const [api] = view.apps;
  assert.equal(api?.hosts, 2);
  assert.equal(api?.workers, 4);
  assert.deepEqual(api?.revisions, ['r1', 'r2']);
  assert.equal(api?.rps, 200);
  assert.equal(api?.errorRate, 0.01);
  // 199 requests at 1 ms and one at 1 s: p99 of the merged buckets is about 1 ms (averaging the hosts' p99s would say ~500 ms).
  assert.ok((api?.p99 ?? 0) < 2, String(api?.p99));
  assert.ok((api?.p50 ?? 0) >= 1 && (api?.p50 ?? 0) < 1.05, String(api?.p50));
});

test('fleet summary ports: the TCP ports among listening addresses, each once; pipes are none', () => {
  assert.deepEqual(tcpPorts(['[::]:8080', '0.0.0.0:8080', '127.0.0.1:3000', '/tmp/app.sock', '*:0', '[fe80::1%eth0]:9000']), [3000, 8080, 9000]);
  assert.deepEqual(tcpPorts([]), []);
});

test('fleet summaries are signed: a forged, altered, renamed or unsigned one is refused, naming why; a field that could inject into a balancer config is refused', () => {
  const secret = 'a'.repeat(32);
  const good = summary('a', [{ name: 'api', rps: 1, errorRate: 0, ms: [1] }]);
  const sealed = sealSummary(good, secret);
  assert.deepEqual(openSummary(sealed, 'a', secret), { summary: good, problem: null });
  assert.match(openSummary(sealed, 'a', 'b'.repeat(32)).problem ?? '', /signature does not check/);
  const altered = JSON.parse(sealed) as { summary: string; sig: string };
  altered.summary = altered.summary.replace('10.0.0.1', '10.6.6.6');
  assert.match(openSummary(JSON.stringify(altered), 'a', secret).problem ?? '', /signature does not check/);
  assert.match(openSummary(JSON.stringify(good), 'a', secret).problem ?? '', /not signed/);
  assert.match(openSummary('{', 'a', secret).problem ?? '', /not JSON/);
  // Signed by a fleet member, but published under another host's key.
  assert.match(openSummary(sealed, 'b', secret).problem ?? '', /name is "a", but it is registered as "b"/);
  const bad = (change: (s: HostSummary) => void) => {
    const s = structuredClone(good);
    change(s);
    return openSummary(sealSummary(s, secret), 'a', secret).problem ?? '';
  };
  assert.match(bad((s) => (s.address = '10.0.0.1:80 backup\n  server evil 6.6.6.6')), /address .* is not an IP address or host name/);
  assert.match(bad((s) => ((s.apps[0] as { healthPath: string | null }).healthPath = '/x\n  http-request deny')), /apps\[0\]\.healthPath must be null or a path/);
  assert.match(bad((s) => ((s.apps[0] as { healthPath: string | null }).healthPath = '/x; return 200')), /apps\[0\]\.healthPath/);
  assert.match(bad((s) => ((s.apps[0] as { ports: number[] }).ports = [0])), /apps\[0\]\.ports must be TCP ports/);
  assert.match(bad((s) => (s.health = { host: 'x y', port: 1 })), /health must be null or/);
  assert.match(bad((s) => ((s.apps[0] as { rps: number }).rps = -1)), /apps\[0\]\.rps must be a number >= 0/);
  assert.match(bad((s) => ((s.apps[0] as { latency: unknown }).latency = { b: 'x' })), /apps\[0\]\.latency must be a histogram/);
  assert.equal(bad((s) => (s.address = 'web-1.internal.example')), '');
  assert.equal(bad((s) => (s.address = 'fd00::5')), '');
  // A refused host counts as down, with the reason.
  const view = fleetView([{ name: 'a', lastSeen: 0, summary: null, problem: 'its summary is not signed' }], 0);
  assert.deepEqual(view.hosts.map((h) => [h.online, h.problem]), [[false, 'its summary is not signed']]);
});
