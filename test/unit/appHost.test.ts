// The host side of an app (src/shim): exit journal, readiness rules, snapshot,
// and the daemon side (HostClient, HostedWorker) driving real child processes
// through the in-memory link.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '../../src/config/types';
import { HostClient } from '../../src/daemon/hosts/hostClient';
import type { ExitEvent, HostSnapshot } from '../../src/protocol/shim';
import { AppHost } from '../../src/shim/appHost';
import { ExitJournal, JOURNAL_CAPACITY } from '../../src/shim/exitJournal';
import { memoryLink } from '../../src/shim/link';
import { readyBy } from '../../src/shim/readiness';
import { eventually } from '../helpers';
import { testSpec } from '../fakes/appHarness';
import { execPlan, memorySink, rawHost } from '../fakes/hostHarness';

test('exit journal: bounded, oldest dropped and counted, acknowledged exits forgotten', () => {
  const journal = new ExitJournal();
  const exit = (worker: number): Omit<ExitEvent, 'seq'> => ({
    type: 'exit', worker, slot: 0, pid: 100 + worker, stderrTail: [], drainReport: null, forcedExit: null,
    info: { code: 1, signal: null, intended: false, reason: 'exited with code 1', uptimeMs: 5 },
  });
  for (let i = 1; i <= JOURNAL_CAPACITY + 44; i++) assert.equal(journal.record(exit(i)).seq, i);
  assert.equal(JOURNAL_CAPACITY, 256);
  assert.equal(journal.pending().length, 256);
  assert.equal(journal.lost, 44);
  assert.equal(journal.pending()[0]?.seq, 45);
  journal.ack(100);
  assert.equal(journal.pending()[0]?.seq, 101);
  assert.equal(journal.pending().length, 200);
  journal.ack(100); // again: nothing more
  assert.equal(journal.pending().length, 200);
  journal.ack(JOURNAL_CAPACITY + 44);
  assert.deepEqual(journal.pending(), []);
  assert.equal(journal.record(exit(1)).seq, JOURNAL_CAPACITY + 45, 'numbers go on after an ack');
});

test('readiness: a promised ready signal is the only one that counts; otherwise listening or settling; /proc always', () => {
  const rules: [Parameters<typeof readyBy>[0], boolean, boolean][] = [
    ['readyMessage', true, true], ['readyMessage', false, false],
    ['readyCall', true, true], ['readyCall', false, false],
    ['listening', false, true], ['listening', true, false],
    ['settled', false, true], ['settled', true, false],
    ['watched', false, true], ['watched', true, true],
  ];
  for (const [signal, waitReady, ready] of rules) assert.equal(readyBy(signal, waitReady), ready, `${signal} waitReady=${waitReady}`);
});

test('host: a worker spawned, its output logged, its exit journaled until acknowledged; snapshot says so', async (t) => {
  const { request, received, logs, appHost } = rawHost();
  t.after(() => void request({ type: 'exit' }).catch(() => undefined));
  const spawned = await request({ type: 'spawn', worker: 7, slot: 2, plan: execPlan('console.log("hello"); console.error("oops"); setTimeout(() => process.exit(3), 300)') });
  assert.equal(spawned.ok, true);
  const pid = (spawned as { result: { pid: number } }).result.pid;
  assert.ok(pid > 0);
  assert.deepEqual(received.find((m) => m.type === 'spawned'), { type: 'spawned', worker: 7, pid });

  const running = appHost.snapshot();
  assert.equal(running.app, 'api');
  assert.equal(running.host.pid, process.pid);
  assert.equal(running.host.protocol, 1);
  assert.equal(running.workers.length, 1);
  const w = running.workers[0];
  assert.equal(w?.worker, 7);
  assert.equal(w?.slot, 2);
  assert.equal(w?.pid, pid);
  assert.equal(w?.ready, false);
  assert.equal(w?.draining, false);
  assert.deepEqual(running.exits, []);
  assert.deepEqual(running.sockets, { listening: [], size: 0, sticky: null });

  const exit = await eventually(() => received.find((m): m is ExitEvent => m.type === 'exit'), 10_000, 'exit');
  assert.equal(exit.seq, 1);
  assert.equal(exit.worker, 7);
  assert.equal(exit.pid, pid);
  assert.equal(exit.info.code, 3);
  assert.equal(exit.info.intended, false);
  assert.deepEqual(exit.stderrTail, ['oops']);
  // Two pipes: their lines may arrive in either order.
  assert.deepEqual(logs.lines.map((l) => `${l.app} ${l.worker} ${l.stream} ${l.msg}`).sort(), ['api 2 err oops', 'api 2 out hello']);

  const after = (await request({ type: 'snapshot' })) as { result: HostSnapshot };
  assert.deepEqual(after.result.workers, []);
  assert.deepEqual(after.result.exits.map((e) => e.seq), [1], 'kept until acknowledged');
});

test('host: ackExits forgets the acknowledged exits (and needs no reply)', async (t) => {
  const { request, received, appHost, daemon } = rawHost();
  t.after(() => void request({ type: 'exit' }).catch(() => undefined));
  await request({ type: 'spawn', worker: 1, slot: 0, plan: execPlan('process.exit(0)') });
  await eventually(() => received.find((m) => m.type === 'exit'), 10_000, 'exit');
  assert.equal(appHost.snapshot().exits.length, 1);
  daemon.send({ type: 'ackExits', upTo: 1 });
  await eventually(() => appHost.snapshot().exits.length === 0 || undefined, 5000, 'ack');
  assert.equal(received.filter((m) => m.type === 'reply').length, 1, 'only the spawn was answered');
});

test('host: a stop drains a worker without the agent with SIGINT to its group; the exit is intended', async (t) => {
  const { request, received, logs } = rawHost();
  t.after(() => void request({ type: 'exit' }).catch(() => undefined));
  await request({ type: 'spawn', worker: 3, slot: 0, plan: execPlan('process.on("SIGINT", () => { console.log("bye"); process.exit(0); }); setInterval(() => {}, 1000); console.log("up")') });
  // Its SIGINT handler must be installed before the stop: wait for its first line.
  await eventually(() => logs.lines.some((l) => l.msg === 'up') || undefined, 10_000, 'up');
  const stopped = await request({ type: 'stop', worker: 3, timeoutMs: 5000, websocketDrainMs: 0 });
  assert.equal(stopped.ok, true);
  const exit = await eventually(() => received.find((m): m is ExitEvent => m.type === 'exit'), 10_000, 'exit');
  assert.equal(exit.info.intended, true);
  assert.equal(exit.info.code, 0);
  assert.ok(logs.lines.some((l) => l.msg === 'bye'), 'its last line was read before the exit was reported');
});

test('daemon side: HostClient and HostedWorker over the link: pid, exit with its tail, exits acknowledged', async (t) => {
  const { daemon, host } = memoryLink();
  const logs = memorySink();
  const appHost = new AppHost('api', host, logs);
  const client = new HostClient(daemon);
  t.after(() => client.close());
  const spec = testSpec({
    runner: 'exec', execMode: 'fork', instances: 1, interpreter: process.execPath,
    script: '-e', args: ['console.error("going"); process.exit(4)'], cwd: process.cwd(), env: { PATH: process.env.PATH ?? '' },
    logs: { ...DEFAULTS.logs }, logFiles: { out: null, err: null, combined: null }, instanceVar: 'NODE_APP_INSTANCE',
  });
  const exits: number[] = [];
  const worker = client.createWorker({
    spec, slot: 0, uniqueId: 11,
    onReady: () => {}, onMetrics: () => {}, onExit: (_w, info) => void exits.push(info.code ?? -1),
  });
  assert.equal(worker.pid, null, 'the pid arrives over the link');
  await worker.whenSpawned();
  assert.ok((worker.pid ?? 0) > 0);
  const outcome = await worker.whenReady(10_000);
  assert.equal(outcome.kind, 'exited');
  assert.deepEqual(exits, [4]);
  assert.deepEqual(worker.stderrTail.toArray(), ['going']);
  assert.deepEqual(logs.configured, ['api'], 'the log settings were sent before the spawn');
  await eventually(() => appHost.snapshot().exits.length === 0 || undefined, 5000, 'the exit acknowledged');
});
