/** What `herd heap` asks the daemon and what it answers (src/daemon/heap/heapRequest.ts). */

/** The snapshot's pieces come as 'chunk' replies, in order, before this result. */
export interface HeapSnapshotResult {
  app: string;
  worker: number;
  pid: number;
  /** Characters of JSON sent as chunks: the client checks it got them all. */
  chars: number;
  chunks: number;
  /** The most of it that waited in the daemon at once for the client to read (characters; at most 64 MB). */
  peakQueued: number;
  /** The worker's event loop was blocked this long, by its own loop-delay histogram (src/daemon/heap/snapshotStream.ts). */
  pauseMs: number;
  /** From the snapshot asked to its last piece here: the pause and the transfer to the daemon. */
  answeredMs: number;
  /** The free-memory check: twice the worker's heapUsed (or RSS) against MemAvailable (null: unknown). */
  memory: { needed: number; available: number | null; basis: 'heapUsed' | 'rss'; forced: boolean };
  /**
   * Whether the worker was out of rotation during the pause (other workers
   * took its connections): servers paused, keep-alive connections closed or
   * answered with `Connection: close`, those still open (they waited).
   */
  rotation: { out: boolean; paused: number; closedIdle: number; answeredWithClose: number; open: number; resumed: number } | null;
  /** What the user should know: the app did not answer meanwhile, the worker could not be taken out. */
  warnings: string[];
}
