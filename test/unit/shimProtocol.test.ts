// The daemon <-> host protocol (src/protocol/shim.ts) over the in-memory link:
// JSON-only, asynchronous, every message type handled, unknown types answered
// with an error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DaemonToShim, ShimToDaemon } from '../../src/protocol/shim';
import { memoryLink } from '../../src/shim/link';
import { eventually } from '../helpers';
import { execPlan, rawHost } from '../fakes/hostHarness';

test('the in-memory link delivers a JSON copy, later, in order, and nothing after close', async () => {
  const { daemon, host } = memoryLink();
  const got: DaemonToShim[] = [];
  host.onMessage((m) => void got.push(m));
  const line = { time: 1, app: 'api', worker: 0, stream: 'out' as const, msg: 'a', extra: () => 1, gone: undefined };
  daemon.send({ type: 'writeLog', line });
  daemon.send({ type: 'ackExits', upTo: 3 });
  line.msg = 'changed after sending';
  assert.deepEqual(got, [], 'not delivered synchronously');
  await eventually(() => got.length === 2 || undefined, 1000);
  assert.deepEqual(got, [
    { type: 'writeLog', line: { time: 1, app: 'api', worker: 0, stream: 'out', msg: 'a' } },
    { type: 'ackExits', upTo: 3 },
  ], 'a copy through JSON: no function, no undefined, no later change');
  const back: ShimToDaemon[] = [];
  daemon.onMessage((m) => void back.push(m));
  host.send({ type: 'draining', worker: 1 });
  daemon.close();
  daemon.send({ type: 'ackExits', upTo: 4 });
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(back, []);
  assert.equal(got.length, 2);
});

/** One well-formed message of every type: a type added to the union without one here does not compile. */
const samples: { [T in DaemonToShim['type']]: Omit<Extract<DaemonToShim, { type: T }>, 'id'> } = {
  hello: { type: 'hello', protocol: 1, daemonPid: process.pid, token: 'x', takeover: false },
  snapshot: { type: 'snapshot' },
  configure: {
    type: 'configure',
    logs: { maxSize: 1024, retain: 1, daily: false, gzip: false, maxLineLength: 1024 },
    files: { out: null, err: null, combined: null },
    sockets: { sticky: false, holdMs: 0 },
  },
  spawn: { type: 'spawn', worker: 1, slot: 0, plan: execPlan('setInterval(() => {}, 1000)') },
  toAgent: { type: 'toAgent', worker: 1, message: { type: 'ping', seq: 1 } },
  signal: { type: 'signal', worker: 1, signal: 'SIGCONT' },
  openInspector: { type: 'openInspector', worker: 99, timeoutMs: 10 },
  writeLog: { type: 'writeLog', line: { time: 1, app: 'api', worker: 0, stream: 'out', msg: 'from herd' } },
  follow: { type: 'follow', on: false },
  flushLogs: { type: 'flushLogs' },
  sockets: { type: 'sockets', action: { kind: 'stickyStats' } },
  stop: { type: 'stop', worker: 99, timeoutMs: 1000, websocketDrainMs: 0 },
  kill: { type: 'kill', worker: 1, reason: null },
  ackExits: { type: 'ackExits', upTo: 1 },
  exit: { type: 'exit' },
};

/** Messages without an id get no reply. */
const events = new Set<DaemonToShim['type']>(['writeLog', 'ackExits']);

test('every daemon message type is handled by the host; requests get exactly one reply', async () => {
  const { daemon, received, logs } = rawHost();
  let id = 0;
  for (const sample of Object.values(samples)) {
    if (events.has(sample.type)) {
      daemon.send(sample as DaemonToShim);
      continue;
    }
    const mine = ++id;
    daemon.send({ ...sample, id: mine } as DaemonToShim);
    const reply = await eventually(() => received.find((m): m is Extract<ShimToDaemon, { type: 'reply' }> => m.type === 'reply' && m.id === mine), 5000, sample.type);
    // A worker that does not exist is an answer of its own, not an unknown message.
    if (!reply.ok) assert.equal(reply.error.code, 'HERD_ERR_WORKER_NOT_FOUND', `${sample.type}: ${reply.error.message}`);
    else assert.ok(!['stop', 'openInspector'].includes(sample.type), `${sample.type} to a worker that does not exist`);
    assert.equal(received.filter((m) => m.type === 'reply' && m.id === mine).length, 1);
  }
  assert.ok(logs.lines.some((l) => l.msg === 'from herd'), 'writeLog wrote the line');
  assert.ok(received.some((m) => m.type === 'exit' && m.worker === 1), 'the killed worker exit was reported');
});

test('an unknown message type gets an error reply naming it; one without an id is passed over', async () => {
  const { daemon, received } = rawHost();
  daemon.send({ type: 'reboot', id: 5 } as unknown as DaemonToShim);
  daemon.send({ type: 'reboot' } as unknown as DaemonToShim);
  daemon.send({ type: 'snapshot', id: 6 });
  await eventually(() => received.some((m) => m.type === 'reply' && m.id === 6) || undefined, 5000);
  const reply = received.find((m) => m.type === 'reply' && m.id === 5);
  assert.ok(reply && reply.type === 'reply' && !reply.ok);
  assert.equal(reply.error.code, 'HERD_ERR_BAD_REQUEST');
  assert.match(reply.error.message, /unknown host message type "reboot"/);
  assert.equal(received.filter((m) => m.type === 'reply').length, 2);
});
