import { HerdError } from '../../errors';
import type { HeapSnapshotResult } from '../../protocol/heap';
import type { RequestOf } from '../../protocol/control';
import type { ReplyStream } from '../control/controlServer';
import type { App } from '../supervision/app';
import { metricsView } from '../supervision/appMetrics';
import { holdWorker, isHeld } from '../worker/diagnosticHold';
import { InspectorSession, type InspectableProcess } from '../worker/inspectorSession';
import type { Worker } from '../worker/worker';
import { checkMemory, mb, readMemAvailable } from './memoryCheck';
import { ChunkForwarder, takeSnapshot } from './snapshotStream';

/**
 * `herd heap`: a heap snapshot of one worker, streamed from its inspector
 * through the daemon to the CLI, which writes the file; the worker writes
 * nothing. Around the snapshot, which blocks the worker's event loop, the
 * worker is out of rotation when the app has other workers to serve
 * (src/agent/rotation.ts), and the stall watchdog leaves it alone.
 */

const OPEN_TIMEOUT_MS = 5000;
const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;
/**
 * The worker puts itself back in rotation when the daemon has not renewed
 * its lease for this long (the daemon died mid-snapshot). The snapshot blocks
 * the worker's loop, so the lease's timer cannot fire during it, only after
 * it, when the daemon puts the worker back at once anyway; before and after
 * it, the daemon renews every RENEW_MS.
 */
export const LEASE_MS = 15_000;
const RENEW_MS = 5000;
const ROTATION_CALL_MS = 10_000;

const busy = new WeakSet<Worker>();

export interface HeapDeps {
  appForWorker(name: string, what: string): App;
  /** MemAvailable (tests give their own). */
  memAvailable?: () => number | null;
  /** The worker's heap in use and RSS, from its last metrics report (tests give their own). */
  workerMemory?: (app: App, slot: number) => { heapUsed: number; rss: number };
}

function lastMemory(app: App, slot: number): { heapUsed: number; rss: number } {
  const view = metricsView(app, slot).workers.find((w) => w.id === slot);
  return { heapUsed: view?.memory.heapUsed ?? 0, rss: view?.memory.rss ?? 0 };
}

export async function heapSnapshot(
  deps: HeapDeps, r: RequestOf<'heapSnapshot'>, progress: (message: string) => void, stream: ReplyStream,
): Promise<HeapSnapshotResult> {
  const app = deps.appForWorker(r.name, 'heap');
  const { slot, proc } = pickWorker(app, r.worker, progress);
  const label = { name: app.name, worker: slot.id };
  if (!proc.hasAgent || app.spec.runner === 'exec') {
    throw new HerdError('HERD_ERR_USAGE', { message: `heap: app "${app.name}" runs with runner 'exec': its workers have no herd agent, so herd cannot open their inspector; heap snapshots need runner 'node'` });
  }
  if (!isInspectable(proc)) throw new HerdError('HERD_ERR_HEAP_SNAPSHOT', { ...label, reason: 'this worker cannot open its inspector' });
  if (busy.has(proc)) throw new HerdError('HERD_ERR_HEAP_SNAPSHOT', { ...label, reason: 'a snapshot of this worker is being taken already' });

  const used = (deps.workerMemory ?? lastMemory)(app, slot.id);
  const memory = checkMemory(used.heapUsed, used.rss, (deps.memAvailable ?? readMemAvailable)());
  if (!memory.ok && !r.force) {
    throw new HerdError('HERD_ERR_HEAP_MEMORY', {
      ...label, needed: mb(memory.needed), basis: `twice its ${memory.basis}`, available: mb(memory.available ?? 0),
    }, ['the snapshot grows the worker by about its heap while it runs; --force takes it anyway']);
  }
  const warnings: string[] = [];
  if (memory.available === null) warnings.push('free memory unknown (no /proc/meminfo): not checked');
  else if (!memory.ok) warnings.push(`taken with --force: it needs about ${mb(memory.needed)}, ${mb(memory.available)} was available`);

  // Workers busy with a snapshot of their own (or held) serve nothing meanwhile: two snapshots at once must not take every worker out.
  const others = app.slots.filter((s) => s !== slot && s.status === 'online' && s.proc?.ready && !s.proc.exited && !s.proc.draining &&
    !busy.has(s.proc) && !isHeld(s.proc)).length;
  const rotate = others > 0 && app.spec.execMode === 'cluster';
  if (!rotate) {
    warnings.push(others === 0
      ? `${app.name} has no other worker in rotation: it does not answer while the snapshot is taken (connections wait in the socket's queue)`
      : `${app.name} runs in fork mode: worker ${slot.id} keeps its connections and does not answer them while the snapshot is taken`);
  }
  for (const w of warnings) progress(`warning: ${w}`);

  busy.add(proc);
  const release = holdWorker(proc);
  let session: InspectorSession | null = null;
  let rotation: HeapSnapshotResult['rotation'] = null;
  let pauseTried = false;
  let renewal: NodeJS.Timeout | null = null;
  let released = false;
  // The worker is let go (back in rotation, watched again, free for the next
  // snapshot) as soon as the snapshot is answered: sending its rest to a slow
  // client does not keep it held.
  const letGo = async () => {
    if (released) return;
    released = true;
    if (renewal) clearInterval(renewal);
    // Whatever failed, once pause was tried the worker is put back (resume is idempotent).
    if (pauseTried && session) await resume(session, rotation, warnings);
    session?.close();
    release();
    busy.delete(proc);
  };
  try {
    try {
      session = await InspectorSession.open(proc, OPEN_TIMEOUT_MS);
    } catch (err) {
      throw new HerdError('HERD_ERR_HEAP_SNAPSHOT', { ...label, reason: (err as Error).message });
    }
    if (rotate) {
      pauseTried = true;
      rotation = await pause(session, warnings);
      if (rotation) {
        const s = session;
        renewal = setInterval(() => void callRotation(s, `renew(${LEASE_MS})`).catch(() => {}), RENEW_MS);
        renewal.unref();
        progress(`worker ${slot.id} out of rotation: ${rotation.paused} server(s) stopped accepting; ` +
          `${rotation.closedIdle} idle keep-alive connection(s) closed, ${rotation.answeredWithClose} answered with Connection: close` +
          (rotation.open > 0 ? `; ${rotation.open} still open wait for the snapshot` : ''));
      }
    }
    progress(`taking a heap snapshot of ${app.name}[${slot.id}] (pid ${proc.pid}); its event loop is blocked meanwhile`);
    const forwarder = new ChunkForwarder((data) => stream.chunk(data));
    let taken;
    try {
      taken = await takeSnapshot(session, (data) => forwarder.push(data), SNAPSHOT_TIMEOUT_MS);
    } catch (err) {
      throw new HerdError('HERD_ERR_HEAP_SNAPSHOT', { ...label, reason: (err as Error).message });
    }
    await letGo();
    try {
      await forwarder.flush();
    } catch (err) {
      throw new HerdError('HERD_ERR_HEAP_SNAPSHOT', { ...label, reason: (err as Error).message });
    }
    return {
      app: app.name, worker: slot.id, pid: proc.pid ?? 0, chars: forwarder.sent, chunks: taken.chunks, peakQueued: forwarder.peakQueued, pauseMs: Math.round(taken.pauseMs), answeredMs: Math.round(taken.answeredMs),
      memory: { needed: memory.needed, available: memory.available, basis: memory.basis, forced: !memory.ok },
      rotation, warnings,
    };
  } finally {
    await letGo();
  }
}

function pickWorker(app: App, id: number | null, progress: (message: string) => void) {
  const online = app.slots.filter((s) => s.proc && s.proc.ready && !s.proc.exited && !s.proc.draining && s.status === 'online');
  if (id === null) {
    const first = online[0];
    if (!first?.proc) throw new HerdError('HERD_ERR_NOT_RUNNING', { name: app.name, action: 'take a heap snapshot of' });
    if (app.slots.length > 1) progress(`${app.name} has ${app.slots.length} workers; taking worker ${first.id} (--worker picks another)`);
    return { slot: first, proc: first.proc };
  }
  const slot = app.slots.find((s) => s.id === id);
  if (!slot) throw new HerdError('HERD_ERR_WORKER_NOT_FOUND', { name: app.name, worker: id });
  if (!slot.proc || !online.includes(slot)) throw new HerdError('HERD_ERR_NOT_RUNNING', { name: `${app.name}[${id}]`, action: 'take a heap snapshot of' });
  return { slot, proc: slot.proc };
}

function isInspectable(proc: Worker): proc is Worker & InspectableProcess {
  return typeof (proc as Partial<InspectableProcess>).openInspector === 'function';
}

/** Call the agent's rotation (src/agent/rotation.ts) in the worker, through the inspector. */
async function callRotation(session: InspectorSession, call: string): Promise<unknown> {
  const answer = await session.send<{ result?: { value?: unknown }; exceptionDetails?: { exception?: { description?: string }; text?: string } }>('Runtime.evaluate', {
    expression: `(() => { const r = globalThis[Symbol.for('herd.rotation')]; return r ? r.${call} : null; })()`,
    awaitPromise: true,
    returnByValue: true,
  }, ROTATION_CALL_MS);
  if (answer.exceptionDetails) throw new Error(answer.exceptionDetails.exception?.description?.split('\n')[0] ?? answer.exceptionDetails.text ?? 'it threw');
  return answer.result?.value ?? null;
}

async function pause(session: InspectorSession, warnings: string[]): Promise<HeapSnapshotResult['rotation']> {
  let value: unknown;
  try {
    value = await callRotation(session, `pause(${LEASE_MS})`);
  } catch (err) {
    warnings.push(`the worker could not be taken out of rotation (${(err as Error).message}): its connections wait for the snapshot`);
    return null;
  }
  if (value === null) {
    warnings.push("the worker's agent cannot leave rotation (an older herd started it): its connections wait for the snapshot");
    return null;
  }
  const v = value as { paused: number; skipped: string[]; closedIdle: number; answeredWithClose: number; open: number };
  for (const why of v.skipped ?? []) warnings.push(`one server stays in rotation: ${why}`);
  return { out: v.paused > 0, paused: v.paused, closedIdle: v.closedIdle, answeredWithClose: v.answeredWithClose, open: v.open, resumed: 0 };
}

/** Put the worker back; also when pause failed (it may have closed some servers before). Idempotent in the worker. */
async function resume(session: InspectorSession, rotation: HeapSnapshotResult['rotation'], warnings: string[]): Promise<void> {
  if (rotation && (rotation.paused === 0 || rotation.resumed !== 0)) return;
  try {
    const value = (await callRotation(session, 'resume()')) as { resumed: number; errors: string[] } | null;
    if (rotation) rotation.resumed = value?.resumed ?? 0;
    for (const e of value?.errors ?? []) warnings.push(`a server did not listen again: ${e}`);
  } catch (err) {
    // It puts itself back once its lease runs out.
    warnings.push(`the worker could not be put back in rotation now (${(err as Error).message}); it does so itself within ${LEASE_MS / 1000} s`);
    if (rotation) rotation.resumed = -1;
  }
}
