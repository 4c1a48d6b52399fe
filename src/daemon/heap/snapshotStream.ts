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
  /** Characters sent on. */
  sent = 0;
  /** The most that waited here at once (characters). */
  peakQueued = 0;

  constructor(private readonly send: (data: string) => Promise<void>, private readonly maxQueued = MAX_QUEUED_BYTES) {}

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
    while (this.pumping) await this.pumping;
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
  }
}

export interface TakenSnapshot {
  /**
   * How long the worker's main thread was busy with the snapshot (GC, graph,
   * serialization), read on the worker's own clock: the inspector runs one
   * command after the other there, so a clock read sent just before the
   * snapshot and one sent just after it bracket it.
   */
  pauseMs: number;
  /** From HeapProfiler.takeHeapSnapshot sent to its answer here, after its last piece: the pause plus the transfer. */
  answeredMs: number;
  chunks: number;
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
  try {
    await session.send('HeapProfiler.enable', {}, timeoutMs);
    const clock = () => session.send<{ result?: { value?: unknown } }>('Runtime.evaluate', { expression: 'performance.now()', returnByValue: true }, timeoutMs)
      .then((r) => (typeof r.result?.value === 'number' ? r.result.value : null));
    const started = process.hrtime.bigint();
    // Sent together, run in this order by the worker.
    const [before, , after] = await Promise.all([
      clock(),
      session.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, timeoutMs).then(() => process.hrtime.bigint()),
      clock(),
    ]);
    const answeredMs = Number(process.hrtime.bigint() - started) / 1e6;
    const pauseMs = before !== null && after !== null ? after - before : answeredMs;
    return { pauseMs, answeredMs, chunks };
  } finally {
    off();
    void session.send('HeapProfiler.disable', {}, 2000).catch(() => {});
  }
}
