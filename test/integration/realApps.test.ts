// Apps shaped like real ones that herd got wrong: they start child processes,
// cluster themselves, run in fork mode, close their server on SIGTERM, or
// hold WebSockets open.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { alive, eventually, FIXTURES, freePort, get, herdHome, list, load, RUNTIME } from '../helpers';

type Herd = ReturnType<typeof herdHome>;

/** Writes a herd config with these apps into the test's HERD_HOME and returns its path. */
function config(h: Herd, apps: Record<string, unknown>[]): string {
  const file = path.join(h.home, 'herd.config.json');
  writeFileSync(file, JSON.stringify({ apps }));
  return file;
}

/** Variables only herd's agent reads: a child of a worker must not see them. */
const AGENT_ONLY = ['NODE_UNIQUE_ID', 'HERD_METRICS', 'HERD_OVERLOAD', 'HERD_ACCESS_LOG', 'HERD_LISTEN_FDS'];

for (const execMode of ['cluster', 'fork'] as const) {
  test(`${execMode} mode: a worker's fork() and spawn(process.execPath) children run as under plain node`, async (t) => {
    const h = herdHome(t);
    const port = await freePort();
    const file = config(h, [{
      name: 'jobs', script: path.join(FIXTURES, 'real-fork-child.js'), execMode, nodeArgs: ['--max-old-space-size=256'],
      env: { PORT: String(port) }, accessLog: true, overload: { maxInFlight: 1000 },
    }]);
    const started = await h.herd(['start', file]);
    assert.equal(started.code, 0, started.stderr);
    for (let i = 0; i < 3; i++) {
      const r = await get(port);
      assert.equal(r.status, 200);
      const reply = JSON.parse(r.body) as { result: number; execArgv: string[]; env: string[]; isWorker: boolean; agent: boolean };
      assert.equal(reply.result, 42);
      // The app's own Node options are passed on, herd's are not.
      assert.deepEqual(reply.execArgv, ['--max-old-space-size=256']);
      assert.equal(reply.isWorker, false);
      assert.equal(reply.agent, false);
      for (const name of AGENT_ONLY) assert.ok(!reply.env.includes(name), `${name} in the child's environment`);
      // Documented for the app, and a child belongs to the same worker.
      assert.ok(reply.env.includes('HERD_WORKER_ID') && reply.env.includes('NODE_APP_INSTANCE'));
    }
    const spawned = JSON.parse((await get(port, '/spawn')).body) as { code: number; child: { execArgv: string[]; env: string[]; agent: boolean } };
    assert.equal(spawned.code, 0);
    assert.deepEqual(spawned.child.execArgv, []);
    assert.equal(spawned.child.agent, false);
    for (const name of AGENT_ONLY) assert.ok(!spawned.child.env.includes(name), `${name} in the spawned child's environment`);
    const [app] = await list(h.herd);
    assert.equal(app?.workers[0]?.restarts, 0, 'the worker never crashed');
  });
}

test('fork mode: ready when the app listens; a request right after start and every request during reloads succeed', async (t) => {
  const h = herdHome(t);
  const port = await freePort();
  const file = config(h, [{ name: 'api', script: path.join(FIXTURES, 'real-fork-api.js'), execMode: 'fork', env: { PORT: String(port) } }]);
  const started = await h.herd(['start', file]);
  assert.equal(started.code, 0, started.stderr);
  assert.equal((await get(port)).status, 200, 'served right after herd start');
  const described = await h.herd(['describe', 'api']);
  assert.match(described.stdout, new RegExp(`listening +\\*:${port}`));
  assert.match(described.stdout, new RegExp(`online restarts 0: listening on \\*:${port}`));
  const traffic = load(port, 10);
  const pids = new Set<number | null>();
  for (let i = 0; i < 2; i++) {
    const r = await h.herd(['reload', 'api']);
    assert.equal(r.code, 0, r.stderr);
    pids.add((await list(h.herd))[0]?.workers[0]?.pid ?? null);
  }
  const stats = await traffic.stop();
  assert.equal(pids.size, 2, 'each reload started a new worker');
  assert.ok(stats.ok > 20, `served ${stats.ok}`);
  assert.deepEqual({ failed: stats.failed, non2xx: stats.non2xx, errors: stats.errors }, { failed: 0, non2xx: 0, errors: [] });
  // Stopped, the port is released: nothing of herd's holds it.
  assert.equal((await h.herd(['stop', 'api'])).code, 0);
  await assert.rejects(get(port), /ECONNREFUSED/);
});

test('fork mode: a worker that never listens is ready after the settle time, and says so', async (t) => {
  const h = herdHome(t);
  const file = config(h, [{ name: 'queue', script: path.join(FIXTURES, 'real-queue-worker.js'), execMode: 'fork' }]);
  const started = await h.herd(['start', file]);
  assert.equal(started.code, 0, started.stderr);
  const described = await h.herd(['describe', 'queue']);
  assert.match(described.stdout, /online restarts 0: no listening socket after 1s; counted as ready/);
  assert.match(described.stdout, /listening +-/);
});

for (const variant of ['server.close()', 'server.close(() => process.exit(0))']) {
  for (const execMode of ['cluster', 'fork'] as const) {
    test(`${execMode} mode: an app whose SIGTERM handler does ${variant} exits once drained, not at killTimeout`, { timeout: 45_000 }, async (t) => {
      const h = herdHome(t);
      const port = await freePort();
      // With a minute to drain, a worker kept alive by herd itself would hold up reload and stop past the test's timeout.
      const file = config(h, [{
        name: 'api', script: path.join(FIXTURES, 'real-sigterm-close.js'), execMode, instances: execMode === 'cluster' ? 2 : 1, killTimeout: '60s',
        env: { PORT: String(port), EXIT_ON_CLOSE: variant === 'server.close()' ? '0' : '1' },
      }]);
      assert.equal((await h.herd(['start', file])).code, 0);
      assert.equal((await get(port)).status, 200);
      const r = await h.herd(['reload', 'api']);
      assert.equal(r.code, 0, r.stderr);
      const described = await h.herd(['describe', 'api']);
      assert.match(described.stdout, /old pid \d+ drained \(.*\) and exited with code 0/);
      assert.doesNotMatch(described.stdout, /drain deadline|SIGKILL/);
      assert.equal((await get(port)).status, 200);
      assert.equal((await h.herd(['stop', 'api'])).code, 0);
      assert.equal((await list(h.herd))[0]?.status, 'stopped');
    });
  }
}

test('an app that keeps running after its SIGTERM handler is ended at the deadline, and describe says what it kept open', { timeout: 45_000 }, async (t) => {
  const h = herdHome(t);
  const port = await freePort();
  const file = config(h, [{ name: 'api', script: path.join(FIXTURES, 'real-sigterm-close.js'), killTimeout: '2s', env: { PORT: String(port), LINGER: '1' } }]);
  assert.equal((await h.herd(['start', file])).code, 0);
  const r = await h.herd(['reload', 'api']);
  assert.equal(r.code, 0, r.stderr);
  const described = await h.herd(['describe', 'api']);
  assert.match(described.stdout, /old pid \d+ drained, but the app kept running after its shutdown \(still open: .*Timeout.*\); ended at the drain deadline/);
});

interface WsClient {
  /** pid of the worker of each connection, in order. */
  pids: number[];
  /** Close code of each connection that ended, in order. */
  codes: number[];
  /** ms after `since` each connection ended. */
  closedAt: number[];
  stop(): void;
}

/** A WebSocket client that reconnects whenever its connection closes, as browser apps do. */
function wsClient(port: number, since: () => number): Promise<WsClient> {
  const state: WsClient = { pids: [], codes: [], closedAt: [], stop: () => (stopped = true) };
  let stopped = false;
  let current: WebSocket | null = null;
  return new Promise((resolve, reject) => {
    const connect = () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      current = ws;
      ws.on('message', (data) => {
        const m = /^hello (\d+)$/.exec(String(data));
        if (m) {
          state.pids.push(Number(m[1]));
          if (state.pids.length === 1) resolve(state);
        }
      });
      ws.on('close', (code) => {
        state.codes.push(code);
        state.closedAt.push(Date.now() - since());
        if (!stopped) setImmediate(connect);
      });
      ws.on('error', (err) => {
        if (state.pids.length === 0) reject(err);
      });
    };
    state.stop = () => {
      stopped = true;
      current?.terminate();
    };
    connect();
  });
}

test('WebSockets: on reload every client gets the app\'s close frame (1001, never 1006) and reconnects to a new worker', { timeout: 60_000 }, async (t) => {
  const h = herdHome(t);
  const port = await freePort();
  const file = config(h, [{
    name: 'chat', script: path.join(FIXTURES, 'real-ws-chat.js'), instances: 2, env: { PORT: String(port), HERD_RUNTIME: RUNTIME },
  }]);
  assert.equal((await h.herd(['start', file])).code, 0);
  const clients = await Promise.all(Array.from({ length: 100 }, () => wsClient(port, () => 0)));
  t.after(() => clients.forEach((c) => c.stop()));
  const oldPids = new Set((await list(h.herd))[0]?.workers.map((w) => w.pid));
  const r = await h.herd(['reload', 'chat']);
  assert.equal(r.code, 0, r.stderr);
  const newPids = new Set((await list(h.herd))[0]?.workers.map((w) => w.pid));
  // Every client ends up on a new worker (one that reconnected to the second
  // old worker before it was replaced was closed a second time, also with 1001).
  await eventually(() => (clients.every((c) => newPids.has(c.pids[c.pids.length - 1] ?? -1)) ? true : undefined), 20_000, 'every client on a new worker');
  const codes = clients.flatMap((c) => c.codes);
  assert.ok(codes.length >= 100, `${codes.length} closes`);
  assert.deepEqual([...new Set(codes)], [1001]);
  for (const c of clients) assert.ok(oldPids.has(c.pids[0] ?? -1));
  const described = await h.herd(['describe', 'chat']);
  assert.match(described.stdout, /WebSockets closed by the app \d+, by herd 0/);
});

test('WebSockets: without a hook they stay open for websocketDrain, then herd closes them', { timeout: 60_000 }, async (t) => {
  const h = herdHome(t);
  const port = await freePort();
  const file = config(h, [{
    name: 'chat', script: path.join(FIXTURES, 'real-ws-chat.js'), websocketDrain: '2s', env: { PORT: String(port), HERD_RUNTIME: RUNTIME, NO_HOOK: '1' },
  }]);
  assert.equal((await h.herd(['start', file])).code, 0);
  let reloadStarted = 0;
  const clients = await Promise.all(Array.from({ length: 20 }, () => wsClient(port, () => reloadStarted)));
  t.after(() => clients.forEach((c) => c.stop()));
  reloadStarted = Date.now();
  const r = await h.herd(['reload', 'chat']);
  assert.equal(r.code, 0, r.stderr);
  await eventually(() => (clients.every((c) => c.codes.length > 0) ? true : undefined), 10_000, 'every old connection closed');
  for (const c of clients) {
    // The old worker's drain starts after the reload began; closing at 250ms was the bug.
    assert.ok((c.closedAt[0] ?? 0) >= 1900, `closed ${c.closedAt[0]}ms after the reload began`);
  }
  const described = await h.herd(['describe', 'chat']);
  assert.match(described.stdout, /WebSockets closed by the app 0, by herd 20/);
});

test('fork mode: an app that clusters itself runs its own cluster; reload and stop take its workers down gracefully', { timeout: 60_000 }, async (t) => {
  const h = herdHome(t);
  const port = await freePort();
  const file = config(h, [{ name: 'own', script: path.join(FIXTURES, 'real-self-cluster.js'), execMode: 'fork', env: { PORT: String(port), DELAY_MS: '5' } }]);
  const started = await h.herd(['start', file]);
  assert.equal(started.code, 0, started.stderr);
  const primary = (await list(h.herd))[0]?.workers[0]?.pid;
  const first = (await get(port)).body.trim().split(' ').map(Number);
  assert.equal(first[1], primary, 'served by a cluster worker of the primary herd started');
  const described = await h.herd(['describe', 'own']);
  assert.match(described.stdout, new RegExp(`online restarts 0: listening on \\*:${port}`));
  assert.match(described.stdout, /runs its own cluster/);
  assert.doesNotMatch(described.stdout, /warning/);

  const seen = new Set<number>();
  // A request in flight in an old cluster worker when the reload drains it is
  // answered, and the port passes to the new primary without refusing a
  // connection. (Connections: Node's worker.disconnect() closes idle keep-alive
  // connections at once, which races with a request sent at that moment, as
  // under plain node.)
  const during = get(port, '/slow');
  const traffic = load(port, 10, '/', false);
  const r = await h.herd(['reload', 'own']);
  assert.equal(r.code, 0, r.stderr);
  const stats = await traffic.stop();
  assert.equal((await during).status, 200);
  assert.deepEqual({ failed: stats.failed, non2xx: stats.non2xx, errors: stats.errors }, { failed: 0, non2xx: 0, errors: [] });
  const next = (await list(h.herd))[0]?.workers[0]?.pid;
  assert.notEqual(next, primary);
  assert.ok(primary !== undefined && primary !== null && !alive(primary), 'the old primary exited');
  for (let i = 0; i < 6; i++) {
    const [worker, parent] = (await get(port)).body.trim().split(' ').map(Number);
    assert.equal(parent, next);
    seen.add(worker ?? 0);
  }
  // A request in flight when the stop begins is answered; then nothing is left.
  const slow = get(port, '/slow');
  assert.equal((await h.herd(['stop', 'own'])).code, 0);
  assert.equal((await slow).status, 200);
  for (const pid of [...seen, next ?? 0]) assert.ok(!alive(pid), `pid ${pid} still runs after stop`);
  await assert.rejects(get(port), /ECONNREFUSED/);
});

test('cluster mode: an app that clusters itself is detected and herd says what to do', async (t) => {
  const h = herdHome(t);
  const port = await freePort();
  const file = config(h, [{ name: 'own', script: path.join(FIXTURES, 'real-self-cluster.js'), instances: 2, env: { PORT: String(port) } }]);
  const started = await h.herd(['start', file]);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /own: real-self-cluster\.js:\d+ reads cluster\.isPrimary/);
  assert.match(started.stdout, /exec_mode 'fork'/);
  const described = await h.herd(['describe', 'own']);
  assert.match(described.stdout, /warning +real-self-cluster\.js:\d+ reads cluster\.isPrimary.*exec_mode 'fork'.*instances/);
  assert.match(described.stdout, /\[0\] pid \d+ clusters itself/);
  // It serves, as one process per herd worker.
  assert.equal((await get(port)).status, 200);
});
