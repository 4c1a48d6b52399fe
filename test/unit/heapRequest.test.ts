import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { HerdError } from '../../src/errors';
import { heapSnapshot, type HeapDeps } from '../../src/daemon/heap/heapRequest';
import type { App } from '../../src/daemon/supervision/app';
import type { ReplyStream } from '../../src/daemon/control/controlServer';
import { holdWorker, isHeld } from '../../src/daemon/worker/diagnosticHold';

/** An app of `count` online workers whose inspector records that it was asked to open. */
function fakeApp(count: number, runner: 'node' | 'exec' = 'node') {
  const opened: number[] = [];
  const slots = Array.from({ length: count }, (_, id) => ({
    id,
    status: 'online',
    proc: {
      pid: 1000 + id, ready: true, exited: null, draining: false, hasAgent: runner === 'node',
      openInspector: async () => {
        opened.push(id);
        return null;
      },
    },
  }));
  const app = { name: 'api', spec: { runner, execMode: 'cluster' }, slots } as unknown as App;
  return { app, opened, procs: slots.map((s) => s.proc) };
}

const stream: ReplyStream = { line: () => true, chunk: async () => {}, closed: new Promise(() => {}) };
const MB = 1024 * 1024;

async function refusal(deps: HeapDeps, worker: number | null, force = false): Promise<HerdError> {
  const err = await heapSnapshot(deps, { type: 'heapSnapshot', name: 'api', worker, force }, () => {}, stream).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof HerdError, String(err));
  return err;
}

test('short free memory refuses before anything is done to the worker, and says how much is needed and free', async () => {
  const { app, opened, procs } = fakeApp(2);
  const deps: HeapDeps = { appForWorker: () => app, memAvailable: () => 300 * MB, workerMemory: () => ({ heapUsed: 200 * MB, rss: 260 * MB }) };
  const err = await refusal(deps, 1);
  assert.equal(err.code, 'HERD_ERR_HEAP_MEMORY');
  assert.match(err.message, /heap snapshot of api\[1\]: it needs about 400 MB \(twice its heapUsed\), 300 MB is available/);
  assert.match(err.details.join('\n'), /--force/);
  assert.deepEqual(opened, []);
  assert.equal(isHeld(procs[1] as object), false);
  // --force goes on (here to the inspector, which does not open), and lets the worker go again.
  const forced = await refusal(deps, 1, true);
  assert.equal(forced.code, 'HERD_ERR_HEAP_SNAPSHOT');
  assert.match(forced.message, /inspector did not open/);
  assert.deepEqual(opened, [1]);
  assert.equal(isHeld(procs[1] as object), false);
});

test('an unknown worker, and an app without the agent, are refused with what to do', async () => {
  const deps = (app: App): HeapDeps => ({ appForWorker: () => app, memAvailable: () => 1024 * MB, workerMemory: () => ({ heapUsed: MB, rss: MB }) });
  const two = fakeApp(2);
  assert.equal((await refusal(deps(two.app), 7)).code, 'HERD_ERR_WORKER_NOT_FOUND');
  const exec = fakeApp(1, 'exec');
  const err = await refusal(deps(exec.app), null);
  assert.equal(err.code, 'HERD_ERR_USAGE');
  assert.match(err.message, /runner 'exec'.*heap snapshots need runner 'node'/);
  assert.deepEqual([...two.opened, ...exec.opened], []);
});

test('a worker held by another snapshot does not count as one that serves: no rotation, and a warning says so', async () => {
  const { app, procs } = fakeApp(2);
  const release = holdWorker(procs[1] as object);
  try {
    const messages: string[] = [];
    await heapSnapshot({ appForWorker: () => app, memAvailable: () => null, workerMemory: () => ({ heapUsed: 0, rss: 0 }) },
      { type: 'heapSnapshot', name: 'api', worker: 0, force: false }, (m) => messages.push(m), stream).catch(() => {});
    assert.ok(messages.some((m) => /no other worker in rotation/.test(m)), messages.join('\n'));
    assert.equal(isHeld(procs[0] as object), false, 'let go after its failure');
  } finally {
    release();
  }
});
