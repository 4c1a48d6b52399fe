import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { io } from 'socket.io-client';
import { eventually, FIXTURES, freePort, herdHome, kill, list, type CliResult } from '../helpers';

/**
 * Sticky sessions. Every address in 127.0.0.0/8 is the loopback interface
 * on Linux, so a test can be many clients: each binds its own source
 * address, and the daemon sees that address as the client's.
 */
const address = (i: number) => `127.0.${Math.floor(i / 250)}.${(i % 250) + 2}`;

type Herd = (args: string[], env?: Record<string, string>) => Promise<CliResult>;

async function startApp(t: TestContext, app: Record<string, unknown>): Promise<{ herd: Herd; port: number }> {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({ apps: [{ name: 'app', instances: 2, ...app, env: { PORT: String(port), ...(app.env as object) } }] }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 0, r.stderr);
  return { herd, port };
}

interface Served {
  pid: number;
  worker: string;
  remote: string;
  healthChecks: number;
}

/** One GET from `from`, on a new connection unless an agent is given. */
function getFrom(port: number, from: string, agent?: http.Agent, urlPath = '/'): Promise<Served> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, localAddress: agent ? undefined : from, agent: agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as Served) : reject(new Error(`status ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
  });
}

/** Request loops from many addresses, on keep-alive or new connections, until stop() (or the test's end); every failure counted. */
function loadFrom(t: TestContext, port: number, from: string[], keepAlive: boolean) {
  let running = true;
  t.after(() => {
    running = false;
  });
  const stats = { ok: 0, failed: 0, errors: [] as string[] };
  const loops = from.map(async (addr) => {
    const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: addr }) : undefined;
    while (running) {
      try {
        await getFrom(port, addr, agent);
        stats.ok++;
      } catch (err) {
        stats.failed++;
        if (stats.errors.length < 10) stats.errors.push((err as Error).message);
      }
    }
    agent?.destroy();
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}

/** Which worker (slot id) serves each address. */
async function placement(port: number, from: string[]): Promise<Map<string, Served>> {
  return new Map(await Promise.all(from.map(async (a) => [a, await getFrom(port, a)] as const)));
}

async function stickyStats(herd: Herd) {
  const r = await herd(['describe', 'app', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { sticky: { accepted: number; handedOff: number; rerouted: number; waiting: number; dropped: Record<string, number> } | null }).sticky;
}

type ClientOutcome = { ok: true; pid: number; transport: string } | { ok: false; error: string };

/**
 * socket.io's default client from `from`: HTTP long-polling first (a new
 * connection for every poll, as without an agent), then the upgrade to
 * WebSocket; then one message and its acknowledgement.
 */
function socketIoClient(port: number, from: string): Promise<ClientOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ClientOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: 'no outcome within 30s' }), 30_000);
  });
  return Promise.race([deadline, socketIoExchange(port, from)]).finally(() => clearTimeout(timer));
}

async function socketIoExchange(port: number, from: string): Promise<ClientOutcome> {
  const agent = new http.Agent({ localAddress: from });
  // engine.io-client passes `agent` to its Node HTTP and WebSocket requests; its type says string | boolean.
  const socket = io(`http://127.0.0.1:${port}`, { agent: agent as unknown as string, reconnection: false, timeout: 10_000 });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const engine = socket.io.engine;
    if (engine.transport.name !== 'websocket') {
      await new Promise<void>((resolve, reject) => {
        engine.once('upgrade', () => resolve());
        engine.once('upgradeError', reject);
        socket.once('disconnect', (why) => reject(new Error(`disconnected: ${why}`)));
      });
    }
    const reply = (await socket.timeout(10_000).emitWithAck('echo', from)) as { msg: string; pid: number };
    assert.equal(reply.msg, from);
    return { ok: true, pid: reply.pid, transport: engine.transport.name };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    socket.disconnect();
    agent.destroy();
  }
}

const clients = Array.from({ length: 100 }, (_, i) => address(i));

test('socket.io, default client, 2 workers, sticky: 100 of 100 clients connect, upgrade and exchange a message', { timeout: 120_000 }, async (t) => {
  const { port } = await startApp(t, { script: path.join(FIXTURES, 'sticky-socketio.js'), sticky: true });
  const outcomes = await Promise.all(clients.map((from) => socketIoClient(port, from)));
  const failed = outcomes.filter((o) => !o.ok);
  assert.deepEqual(failed, []);
  const pids = new Set(outcomes.map((o) => (o.ok ? o.pid : 0)));
  assert.equal(pids.size, 2, 'clients of both workers');
  assert.ok(outcomes.every((o) => o.ok && o.transport === 'websocket'));
});

test('socket.io, default client, 2 workers, not sticky: clients fail (the reason for sticky)', { timeout: 120_000 }, async (t) => {
  // A client whose first polls all reached the worker that holds its session fails only when
  // the ping exchange comes round: after 2 s here, not socket.io's 25 s, which the test would wait out.
  const { port } = await startApp(t, { script: path.join(FIXTURES, 'sticky-socketio.js'), env: { PING_INTERVAL_MS: '2000' } });
  const outcomes = await Promise.all(clients.map((from) => socketIoClient(port, from)));
  const failed = outcomes.filter((o) => !o.ok).length;
  assert.ok(failed > 0, 'without sticky sessions a client\'s polls reach a worker that does not know its session');
  t.diagnostic(`${failed} of ${clients.length} clients failed without sticky`);
});

test('sticky: an address keeps its worker; a reload under load loses no request and keeps each address on its slot', { timeout: 120_000 }, async (t) => {
  const { herd, port } = await startApp(t, { script: path.join(FIXTURES, 'sticky-http.js'), sticky: true });
  const from = Array.from({ length: 16 }, (_, i) => address(200 + i));
  const before = await placement(port, from);
  assert.equal(new Set([...before.values()].map((s) => s.worker)).size, 2, 'both workers serve');
  for (const [a, s] of before) assert.equal(s.remote, `::ffff:${a}`, 'the worker sees the client\'s own address');
  assert.deepEqual(await placement(port, from), before, 'the same address, the same worker');

  const keepAlive = loadFrom(t, port, from.slice(0, 8), true);
  const fresh = loadFrom(t, port, from.slice(8), false);
  for (let i = 0; i < 2; i++) {
    const r = await herd(['reload', 'app']);
    assert.equal(r.code, 0, r.stderr);
  }
  const [k, f] = [await keepAlive.stop(), await fresh.stop()];
  assert.ok(k.ok > 50 && f.ok > 50, `served ${k.ok} keep-alive, ${f.ok} new-connection requests`);
  assert.deepEqual([k.failed, k.errors, f.failed, f.errors], [0, [], 0, []]);

  const after = await placement(port, from);
  for (const a of from) {
    assert.equal(after.get(a)?.worker, before.get(a)?.worker, `${a} is still served by worker ${before.get(a)?.worker}`);
    assert.notEqual(after.get(a)?.pid, before.get(a)?.pid, 'by its new process');
  }
  const stats = await stickyStats(herd);
  assert.equal(stats?.dropped.total, 0);
});

test('sticky: while every worker restarts, connections wait in the daemon and none fails', { timeout: 120_000 }, async (t) => {
  const { herd, port } = await startApp(t, { script: path.join(FIXTURES, 'sticky-http.js'), sticky: true });
  const from = Array.from({ length: 10 }, (_, i) => address(300 + i));
  const fresh = loadFrom(t, port, from, false);
  await eventually(async () => ((await stickyStats(herd))?.handedOff ?? 0) > 20 || undefined, 15_000, 'traffic');
  const r = await herd(['restart', 'app']);
  assert.equal(r.code, 0, r.stderr);
  const stats = await fresh.stop();
  assert.ok(stats.ok > 20, `served ${stats.ok}`);
  assert.deepEqual([stats.failed, stats.errors], [0, []]);

  // A worker killed from outside (requests it was serving die with it): once
  // the daemon knows, its clients go to the other worker, then back to its
  // replacement.
  const pid = (await list(herd))[0]?.workers[0]?.pid;
  assert.ok(pid);
  kill(pid);
  await eventually(async () => (await list(herd))[0]?.workers[0]?.pid !== pid || undefined, 10_000, 'the daemon to see the exit');
  const during = loadFrom(t, port, from, false);
  await eventually(async () => (await list(herd))[0]?.workers.every((w) => w.status === 'online') || undefined, 15_000, 'the replacement');
  const again = await during.stop();
  assert.deepEqual([again.failed, again.errors], [0, []]);
  assert.equal((await stickyStats(herd))?.dropped.total, 0);
});

test('sticky: with no worker at all, a connection waits killTimeout + listenTimeout, then is closed and counted', { timeout: 120_000 }, async (t) => {
  const { herd, port } = await startApp(t, {
    script: path.join(FIXTURES, 'sticky-http.js'), sticky: true, instances: 1, autorestart: false, killTimeout: '500ms', listenTimeout: '1s',
  });
  const pid = (await list(herd))[0]?.workers[0]?.pid;
  assert.ok(pid);
  kill(pid);
  await eventually(async () => (await list(herd))[0]?.workers[0]?.status === 'stopped' || undefined, 10_000, 'the worker to be gone');
  const started = Date.now();
  await assert.rejects(getFrom(port, address(400)), /socket hang up|ECONNRESET/);
  assert.ok(Date.now() - started >= 1400, `waited ${Date.now() - started}ms`);
  const s = await stickyStats(herd);
  assert.deepEqual([s?.dropped.total, s?.dropped.timedOut, s?.waiting], [1, 1, 0]);
  const text = await herd(['describe', 'app']);
  assert.match(text.stdout, /sticky dropped {2}1: 1 waited too long for a ready worker/);
});

test('sticky: a connection a worker refuses (at maxConnections) is served by the other worker', { timeout: 120_000 }, async (t) => {
  const { herd, port } = await startApp(t, { script: path.join(FIXTURES, 'sticky-http.js'), sticky: true });
  const from = Array.from({ length: 30 }, (_, i) => address(500 + i));
  const placed = await placement(port, from);
  const ofWorker0 = from.filter((a) => placed.get(a)?.worker === '0');
  assert.ok(ofWorker0.length >= 2, 'addresses of worker 0');
  // A client of worker 0 keeps its connection open and limits worker 0 to one connection: it is full.
  const holder = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: ofWorker0[0] });
  t.after(() => holder.destroy());
  assert.equal((await getFrom(port, ofWorker0[0] as string, holder, '/one-connection')).worker, '0');
  const served = await Promise.all(ofWorker0.slice(1).map((a) => getFrom(port, a)));
  assert.deepEqual(served.map((s) => s.worker), served.map(() => '1'));
  assert.equal((await getFrom(port, ofWorker0[0] as string, holder)).worker, '0', 'the holder is still served by worker 0');
  const s = await stickyStats(herd);
  assert.ok((s?.rerouted ?? 0) >= served.length, `re-routed ${s?.rerouted}`);
  assert.equal(s?.dropped.total, 0);
});

test('sticky: health checks find the round-robin server in the worker', { timeout: 120_000 }, async (t) => {
  const { herd, port } = await startApp(t, {
    script: path.join(FIXTURES, 'sticky-http.js'), sticky: true, healthCheck: { path: '/health', interval: '100ms', failures: 2 },
  });
  const pids = (await list(herd))[0]?.workers.map((w) => w.pid);
  // Each worker answered several checks; none failed, so none was replaced.
  const from = Array.from({ length: 16 }, (_, i) => address(600 + i));
  await eventually(async () => {
    const seen = [...(await placement(port, from)).values()];
    return new Set(seen.map((s) => s.worker)).size === 2 && seen.every((s) => s.healthChecks >= 3) ? true : undefined;
  }, 15_000, 'health checks answered by both workers');
  assert.deepEqual((await list(herd))[0]?.workers.map((w) => w.pid), pids);
  const d = JSON.parse((await herd(['describe', 'app', '--json'])).stdout) as { events: { message: string }[] };
  assert.ok(!d.events.some((e) => /health check failed/.test(e.message)), JSON.stringify(d.events));
});
