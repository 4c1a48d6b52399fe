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

test('a new connection counts from this worker\'s previous accept (it was not queued then): a pause in accepting is charged, a long busy stretch is not', () => {
  const { wait, endTurn } = fakeLoop(0);
  // Accepting every turn of a loop busy for ten minutes: about a turn, not ten minutes.
  let bound = 0;
  for (let t = 0; t <= 600_000; t += 500) {
    bound = wait.accepted(t);
    endTurn();
  }
  assert.equal(bound, 599_500);
  // Two connections accepted in one turn share the earlier accept as their floor.
  assert.equal(wait.accepted(601_000), 600_000);
  assert.equal(wait.accepted(601_001), 600_000);
  endTurn();
  // The worker stopped accepting for 3 s (its overload guard): the next connection may have queued all that while.
  assert.equal(wait.accepted(604_001), 601_001);
  assert.equal(wait.waitOf(604_010, 601_001), 3009);
});
