import type { InspectorSession } from '../worker/inspectorSession';

/**
 * How much of a snapshot the daemon may hold that its client has not read.
 * The inspector offers no flow control: V8 writes the snapshot as fast as it
 * serializes it and the daemon cannot slow it down. The control socket's own
 * buffer (4 MB, then the client's reads pace it) comes first; behind it, at
 * most this much waits here. A client that falls this far behind (it writes
 * to a slow or full disk) loses the snapshot, and the daemon's memory stays
 * bounded whatever the heap's size.
 */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** Pieces of a file sent on in order, each after the last one was taken. */
export class ChunkForwarder {
  private readonly queue: string[] = [];
  private queuedBytes = 0;
  private pumping: Promise<void> | null = null;
  failed: Error | null = null;
  /** Settles when it fails: flush() does not wait for a send that may never end (a client that stopped reading). */
  private readonly abandoned: Promise<void>;
  private abandon: () => void = () => {};
  /** Characters sent on. */
  sent = 0;
  /** The most that waited here at once (characters). */
  peakQueued = 0;

  constructor(private readonly send: (data: string) => Promise<void>, private readonly maxQueued = MAX_QUEUED_BYTES) {
    this.abandoned = new Promise((resolve) => (this.abandon = resolve));
  }

  push(data: string): void {
    if (this.failed) return;
    this.queue.push(data);
    this.queuedBytes += data.length;
    this.peakQueued = Math.max(this.peakQueued, this.queuedBytes);
    if (this.queuedBytes > this.maxQueued) {
      this.fail(new Error(`the client read the snapshot too slowly: more than ${Math.round(this.maxQueued / 1024 / 1024)} MB waited in the daemon`));
      return;
    }
    this.pumping ??= this.pump();
  }

  /** Resolves once everything pushed was sent on; rejects with why it could not be. */
  async flush(): Promise<void> {
    while (this.pumping && !this.failed) await Promise.race([this.pumping, this.abandoned]);
    if (this.failed) throw this.failed;
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failed) {
        const data = this.queue.shift() as string;
        this.queuedBytes -= data.length;
        await this.send(data);
        this.sent += data.length;
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.pumping = null;
    }
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.abandon();
  }
}

export interface TakenSnapshot {
  /**
   * How long the worker's event loop was blocked by the snapshot (GC, graph,
   * serialization), as the worker's own loop-delay histogram saw it
   * (perf_hooks.monitorEventLoopDelay, 10 ms resolution: the longest delay
   * while the snapshot was taken); the time to its last piece where the
   * worker's Node has no process.getBuiltinModule (before 20.16 and 22.3).
   * Reading the worker's clock before and after the command does not work:
   * V8 runs the snapshot as a task of its own on some versions (22), after
   * commands sent later.
   */
  pauseMs: number;
  /** From HeapProfiler.takeHeapSnapshot sent to its answer here, after its last piece: the pause plus the transfer. */
  answeredMs: number;
  chunks: number;
}

const PAUSE_KEY = "Symbol.for('herd.heapPause')";
// Answered once the histogram has taken its first samples: its first timer
// run only sets its starting point, so a block before it would go unseen.
const WATCH_LOOP = `(() => { const get = process.getBuiltinModule; if (typeof get !== 'function') return false;
  const h = get('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }); h.enable(); globalThis[${PAUSE_KEY}] = h;
  return new Promise((resolve) => setTimeout(() => resolve(true), 40)); })()`;
// Read after a few turns of the loop: the histogram records the long delay
// only when its timer runs late, and this command may run (by interrupt)
// before that.
const READ_LOOP = `new Promise((resolve) => setTimeout(() => { const h = globalThis[${PAUSE_KEY}]; if (!h) return resolve(null);
  h.disable(); delete globalThis[${PAUSE_KEY}]; resolve(h.max / 1e6); }, 50))`;

async function evaluate(session: InspectorSession, expression: string, timeoutMs: number): Promise<unknown> {
  const r = await session.send<{ result?: { value?: unknown } }>('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, timeoutMs);
  return r.result?.value ?? null;
}

/**
 * Take a heap snapshot on an open inspector session; every piece goes to
 * `onChunk` as it arrives. Resolves once the inspector answered, i.e. after
 * its last piece.
 */
export async function takeSnapshot(session: InspectorSession, onChunk: (data: string) => void, timeoutMs: number): Promise<TakenSnapshot> {
  let chunks = 0;
  const off = session.on('HeapProfiler.addHeapSnapshotChunk', (params) => {
    if (typeof params.chunk !== 'string') return;
    chunks++;
    onChunk(params.chunk);
  });
  let watching = false;
  try {
    await session.send('HeapProfiler.enable', {}, timeoutMs);
    watching = (await evaluate(session, WATCH_LOOP, timeoutMs).catch(() => false)) === true;
    const started = process.hrtime.bigint();
    await session.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, timeoutMs);
    const answeredMs = Number(process.hrtime.bigint() - started) / 1e6;
    const loopMax = watching ? await evaluate(session, READ_LOOP, timeoutMs).catch(() => null) : null;
    watching = false;
    return { pauseMs: typeof loopMax === 'number' && loopMax > 0 ? loopMax : answeredMs, answeredMs, chunks };
  } finally {
    off();
    if (watching) void evaluate(session, READ_LOOP, 2000).catch(() => {});
    void session.send('HeapProfiler.disable', {}, 2000).catch(() => {});
  }
}
