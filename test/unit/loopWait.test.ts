import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { HttpProbe } from '../../src/agent/httpProbe';
import { LoopWait } from '../../src/agent/loopWait';

/** A loop driven by hand: `idle` is the loop's cumulative idle ms, `endTurn` runs the end-of-turn callback. */
function fakeLoop(start = 0) {
  const state = { idle: 0, pending: null as (() => void) | null, scheduled: 0 };
  const wait = new LoopWait(() => state.idle, (fn) => {
    state.pending = fn;
    state.scheduled++;
  }, start);
  const endTurn = () => {
    const fn = state.pending;
    state.pending = null;
    fn?.();
  };
  return { wait, state, endTurn };
}

test('requests read in one busy turn count the handlers that ran before them', () => {
  const { wait, state, endTurn } = fakeLoop();
  state.idle = 50; // the loop blocked in epoll, then woke at t=100 with three new connections ready
  assert.equal(wait.waitOf(100, undefined), 0);
  assert.equal(wait.waitOf(120, undefined), 20);
  assert.equal(wait.waitOf(140, undefined), 40);
  assert.equal(state.scheduled, 1, 'one end-of-turn callback per turn, not per request');
  endTurn();
});

test('a loop that never went idle keeps its busy stretch: the wait spans turns', () => {
  const { wait, state, endTurn } = fakeLoop();
  state.idle = 10;
  wait.waitOf(100, undefined);
  endTurn();
  // Next turn: epoll found data at once (idle time did not grow).
  assert.equal(wait.waitOf(160, undefined), 60);
  endTurn();
  state.idle = 11; // now it blocked: the stretch starts again at the next request
  assert.equal(wait.waitOf(500, undefined), 0);
  endTurn();
});

test('on a keep-alive connection the previous response bounds the arrival', () => {
  const { wait, state, endTurn } = fakeLoop();
  state.idle = 1;
  wait.waitOf(100, undefined); // busy since 100
  // This connection's previous response finished at 130: its request came after.
  assert.equal(wait.waitOf(170, 130), 40);
  // A response that finished before the busy stretch is no better bound than the stretch.
  assert.equal(wait.waitOf(180, 20), 80);
  endTurn();
  assert.equal(wait.waitOf(300, 290), 10);
  endTurn();
});

test('the wait is never negative', () => {
  const { wait, state } = fakeLoop(1000);
  assert.equal(wait.waitOf(999, undefined), 0);
  state.idle = 1;
  assert.equal(wait.waitOf(1000, 2000), 0);
});

test('a turn without requests schedules nothing', () => {
  const { wait, state, endTurn } = fakeLoop();
  state.idle = 5;
  wait.waitOf(10, undefined);
  endTurn();
  endTurn();
  assert.equal(state.scheduled, 1);
});

test('a new connection on a loop that stays busy: its first request waits from when it was accepted, not from when the loop got busy', async (t) => {
  const probe = new HttpProbe();
  const waits: number[] = [];
  t.after(probe.add((r) => waits.push(r.waitMs)));
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  // Five requests, each on a new connection, 150 ms apart, from another process (this loop is kept busy).
  const client = spawn(process.execPath, ['-e', `
    const http = require('node:http');
    let n = 0;
    const one = () => http.get({ host: '127.0.0.1', port: ${port}, agent: false }, (res) => { res.resume(); res.on('end', () => (++n < 5 ? setTimeout(one, 150) : process.exit(0))); });
    one();`], { stdio: 'ignore' });
  t.after(() => client.kill());
  const exited = new Promise<void>((resolve) => client.once('exit', () => resolve()));
  // Busy without a pause: an immediate chain never lets epoll block, yet polls I/O every iteration.
  let busy = true;
  const spin = () => {
    const end = Date.now() + 5;
    while (Date.now() < end) { /* busy */ }
    if (busy) setImmediate(spin);
  };
  const started = Date.now();
  setImmediate(spin);
  await exited;
  busy = false;
  const elapsed = Date.now() - started;
  assert.equal(waits.length, 5);
  // From the busy stretch's start the last one would have waited most of the run (~600 ms+).
  assert.ok(Math.max(...waits) < elapsed / 3, `waits ${waits.map((w) => w.toFixed(1)).join(', ')} over ${elapsed} ms`);
});

test('a new connection counts from the last turn that found its accept queue empty: a burst queued behind a busy loop is charged its whole wait', () => {
  const { wait, state, endTurn } = fakeLoop(0);
  const server = { listening: true };
  state.idle = 1;
  // Busy turns of 500 ms reading keep-alive requests, nothing to accept: the queue is empty each time.
  for (let t = 0; t < 2000; t += 500) {
    wait.waitOf(t, t - 1);
    endTurn();
  }
  // 1,500: the last turn that saw it empty. Thirty connections arrive at 2,100; libuv accepts one per turn.
  const floors: number[] = [];
  for (let k = 0; k < 30; k++) {
    const t = 2500 + k * 500;
    wait.waitOf(t, t - 1);
    floors.push(wait.accepted(t + 1, server));
    endTurn();
  }
  assert.deepEqual([...new Set(floors)], [1500], 'every one of the burst may have waited since the queue was last seen empty');
  // A turn without an accept: the queue is empty again, and the next connection counts from that turn.
  wait.waitOf(20_000, 19_999);
  endTurn();
  assert.equal(wait.accepted(20_500, server), 20_000);
  endTurn();
});

test('a standing accept queue is charged at most as many of this worker\'s accepts as the queue holds, not since it last emptied', () => {
  const { wait, endTurn } = fakeLoop(0);
  const limit = 8;
  const turns: (() => void)[] = [];
  const small = new LoopWait(() => 0, (fn) => turns.push(fn), 0, limit);
  const server = { listening: true };
  // Ten minutes of one accept every 500 ms turn, never an empty turn.
  let floor = 0;
  for (let t = 500; t <= 600_000; t += 500) {
    floor = small.accepted(t, server);
    turns.shift()?.();
  }
  assert.equal(floor, 600_000 - limit * 500, 'the accept that many turns before');
  // Another server accepting every turn does not stop this one's empty turns from counting.
  const other = { listening: true };
  wait.accepted(100, server);
  wait.accepted(100, other);
  endTurn();
  wait.accepted(600, other);
  endTurn();
  assert.equal(wait.accepted(1100, server), 600);
  endTurn();
});

test('a worker out of rotation (its server not listening) sees no empty queue while away', () => {
  const { wait, state, endTurn } = fakeLoop(0);
  const server = { listening: true };
  state.idle = 1;
  wait.accepted(100, server);
  endTurn();
  wait.waitOf(600, 599);
  endTurn(); // empty at 600
  server.listening = false;
  for (let t = 1100; t < 5000; t += 500) {
    wait.waitOf(t, t - 1);
    endTurn();
  }
  server.listening = true;
  assert.equal(wait.accepted(5100, server), 600, 'charged from before the pause, while other workers took the queue');
  endTurn();
  wait.forget(server);
});

test('under a real busy loop, connections queued behind it are accepted one per turn and charged their wait', async (t) => {
  const probe = new HttpProbe();
  const waits: number[] = [];
  t.after(probe.add((r) => waits.push(r.waitMs)));
  const server = http.createServer((_req, res) => {
    const end = Date.now() + 40;
    while (Date.now() < end) { /* a 40 ms handler */ }
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  // Another process opens 8 connections at once and times each one's single request.
  const client = spawn(process.execPath, ['-e', `
    const net = require('node:net');
    const times = [];
    for (let i = 0; i < 8; i++) {
      const start = performance.now();
      const s = net.connect(${port}, '127.0.0.1', () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'));
      s.on('data', () => {});
      s.on('end', () => { times.push(performance.now() - start); if (times.length === 8) { process.stdout.write(JSON.stringify(times)); process.exit(0); } });
    }`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => client.kill());
  let out = '';
  client.stdout.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => client.once('exit', () => resolve()));
  await exited;
  const clientTimes = JSON.parse(out) as number[];
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(waits.length, 8);
  // The slowest client waited for the seven before it (~280 ms); herd charges its wait, not one turn.
  const slowest = Math.max(...clientTimes);
  const herdSlowest = Math.max(...waits) + 40;
  assert.ok(herdSlowest > slowest * 0.5 && herdSlowest < slowest * 1.5, `client ${clientTimes.map((x) => x.toFixed(0)).join(', ')}; herd waits ${waits.map((w) => w.toFixed(0)).join(', ')}`);
});
