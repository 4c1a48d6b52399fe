import type { StickyStats } from '../../protocol/control';
import { addressHash, pickSlot } from './stickyHash';

/**
 * Sticky sessions for one app: the daemon accepts the connections of the
 * app's sticky listening sockets itself and hands each to a worker chosen by
 * the client's address, so every connection of one client reaches the same
 * worker (socket.io's long-polling needs this: its handshake, polls and
 * upgrade are separate connections).
 *
 * It speaks Node's own cluster round-robin protocol, which every worker runs
 * already: the worker's queryServer is answered without a handle, so the
 * cluster child code sets the server up in round-robin mode, and each
 * connection arrives as { act: 'newconn', key, seq } with the client handle.
 * The worker answers { ack: seq, accepted }; a refusal (its server is closing,
 * or it is at maxConnections) sends the connection to another worker.
 *
 * Unlike Node's round-robin primary, which hands one connection at a time to
 * each worker and waits for its answer, several connections may be in flight
 * to one worker (bounded, so a stuck worker cannot make the daemon hold an
 * unbounded number of descriptors), and connections wait in a bounded queue
 * when no worker can take them, so that clients wait while workers restart
 * instead of being refused. What cannot wait is closed and counted.
 */

/** Node's internal handle of an accepted connection (TCPWrap, PipeWrap). */
export interface ClientHandle {
  close(cb?: () => void): void;
  getpeername?(out: Record<string, unknown>): number;
}

/** The app's listening handle, as far as accepting on it goes. */
export interface AcceptingHandle {
  listen(backlog: number): number;
  onconnection: ((status: number, client?: ClientHandle) => void) | null;
}

/** Node's cluster child reads exactly these fields of a round-robin connection. */
export interface NewConnMessage {
  cmd: 'NODE_CLUSTER';
  act: 'newconn';
  key: string;
  seq: number;
}

export interface StickyWorker {
  /** Daemon-wide unique id (its NODE_UNIQUE_ID): of two workers of one slot, the newer has the higher id. */
  readonly id: number;
  /** Clients hash to slots, so a slot's replacement worker gets its clients back. */
  readonly slot: number;
  /** Ready and not draining: may get new connections. */
  accepting(): boolean;
  /** Sends a connection; false when the channel is closed. `done` reports a failed write. */
  send(message: NewConnMessage, handle: ClientHandle, done: (error: Error | null) => void): boolean;
  /** Calls fn once when the worker's channel is gone (exit, disconnect). */
  onGone(fn: () => void): void;
}

export interface StickyOptions {
  /** ms a connection may wait for a worker before it is closed (read at each use: a reload may change it). */
  holdMs: () => number;
  /** Connections waiting at most; more are closed at once. */
  maxWaiting?: number;
  /** Connections sent to one worker and not yet answered, at most. */
  maxInFlight?: number;
  now?: () => number;
}

/** Node's default listen backlog; the kernel queues this many before the daemon accepts. */
const BACKLOG = 511;
const MAX_WAITING = 1024;
const MAX_IN_FLIGHT = 32;

interface Connection {
  key: string;
  handle: ClientHandle;
  hash: number;
  since: number;
  /** Workers that refused it (maxConnections): it goes to another one. */
  refusedBy: Set<number> | null;
}

interface WorkerState {
  worker: StickyWorker;
  keys: Set<string>;
  inFlight: Map<number, Connection>;
  nextSeq: number;
}

type DropReason = Exclude<keyof StickyStats['dropped'], 'total'>;

export class StickyRouter {
  private readonly workers = new Map<number, WorkerState>();
  private readonly listening = new Set<string>();
  private waiting: Connection[] = [];
  private expiry: NodeJS.Timeout | null = null;
  private readonly maxWaiting: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;
  private readonly counts = { accepted: 0, handedOff: 0, rerouted: 0, acceptErrors: 0 };
  private readonly dropped: Record<DropReason, number> = { timedOut: 0, queueFull: 0, refused: 0, stopped: 0 };
  private readonly perSlot = new Map<number, number>();

  constructor(private readonly options: StickyOptions) {
    this.maxWaiting = options.maxWaiting ?? MAX_WAITING;
    this.maxInFlight = options.maxInFlight ?? MAX_IN_FLIGHT;
    this.now = options.now ?? Date.now;
  }

  /** Start accepting on the listening handle of `key`. Returns 0 or an errno. */
  listen(key: string, handle: AcceptingHandle): number {
    handle.onconnection = (status, client) => this.accept(key, status, client);
    const errno = handle.listen(BACKLOG);
    if (errno === 0) this.listening.add(key);
    else handle.onconnection = null;
    return errno;
  }

  isListening(key: string): boolean {
    return this.listening.has(key);
  }

  /** A worker's server listens on `key` (its queryServer was answered). */
  add(key: string, worker: StickyWorker): void {
    let state = this.workers.get(worker.id);
    if (!state) {
      state = { worker, keys: new Set(), inFlight: new Map(), nextSeq: 0 };
      this.workers.set(worker.id, state);
      worker.onGone(() => this.gone(worker.id));
    }
    state.keys.add(key);
    this.flush();
  }

  /**
   * The worker closed its server on `key` (it drains). Connections already
   * on their way come back refused and go to another worker.
   */
  remove(workerId: number, key: string): void {
    this.workers.get(workerId)?.keys.delete(key);
  }

  /** The worker's answer to newconn `seq`. */
  ack(workerId: number, seq: number, accepted: boolean): void {
    const state = this.workers.get(workerId);
    const conn = state?.inFlight.get(seq);
    if (!state || !conn) return;
    state.inFlight.delete(seq);
    if (accepted) {
      // The worker has its own descriptor now.
      conn.handle.close();
      this.counts.handedOff++;
      this.perSlot.set(state.worker.slot, (this.perSlot.get(state.worker.slot) ?? 0) + 1);
    } else {
      (conn.refusedBy ??= new Set()).add(workerId);
      this.counts.rerouted++;
      this.route(conn);
    }
    // One more connection may go to this worker.
    this.flush();
  }

  /** Workers changed state (one became ready): connections waiting for one may go now. */
  retry(): void {
    this.flush();
  }

  stats(): StickyStats {
    const d = this.dropped;
    return {
      ...this.counts,
      waiting: this.waiting.length,
      dropped: { total: d.timedOut + d.queueFull + d.refused + d.stopped, ...d },
      perSlot: [...this.perSlot].sort((a, b) => a[0] - b[0]).map(([slot, connections]) => ({ slot, connections })),
    };
  }

  /**
   * The app stops: waiting connections are closed (counted), connections in
   * flight are left to their workers, which are being stopped too.
   */
  close(): void {
    for (const conn of this.waiting) this.drop(conn, 'stopped');
    this.waiting = [];
    for (const state of this.workers.values()) {
      for (const conn of state.inFlight.values()) conn.handle.close();
    }
    this.workers.clear();
    this.listening.clear();
    this.disarm();
  }

  // ---- internals --------------------------------------------------------

  private accept(key: string, status: number, client: ClientHandle | undefined): void {
    if (status !== 0 || !client) {
      this.counts.acceptErrors++;
      return;
    }
    this.counts.accepted++;
    this.route({ key, handle: client, hash: addressHash(peerAddress(client)), since: this.now(), refusedBy: null });
  }

  /** Send it to its worker now, or let it wait. */
  private route(conn: Connection): void {
    if (this.tryDispatch(conn) === 'wait') this.enqueue(conn);
  }

  private tryDispatch(conn: Connection): 'done' | 'wait' {
    const target = this.choose(conn);
    if (target === 'none') return 'wait';
    if (target === 'refused') {
      // Every worker that could take it refused it: as net.Server does above maxConnections.
      this.drop(conn, 'refused');
      return 'done';
    }
    // Sticky means this worker or none: it waits rather than go to another.
    if (target.inFlight.size >= this.maxInFlight) return 'wait';
    const seq = target.nextSeq++;
    target.inFlight.set(seq, conn);
    const sent = target.worker.send({ cmd: 'NODE_CLUSTER', act: 'newconn', key: conn.key, seq }, conn.handle, (error) => {
      if (error) this.unanswered(target, seq);
    });
    if (!sent) {
      target.inFlight.delete(seq);
      this.gone(target.worker.id);
      return this.tryDispatch(conn);
    }
    return 'done';
  }

  /**
   * The worker for this connection: per slot the newest worker that accepts
   * on the connection's key, then the slot by rendezvous hashing of the
   * client's address. 'none' when no worker accepts; 'refused' when all that
   * do refused this connection already.
   */
  private choose(conn: Connection): WorkerState | 'none' | 'refused' {
    const bySlot = new Map<number, WorkerState>();
    let refusing = false;
    for (const state of this.workers.values()) {
      if (!state.keys.has(conn.key) || !state.worker.accepting()) continue;
      if (conn.refusedBy?.has(state.worker.id)) {
        refusing = true;
        continue;
      }
      const current = bySlot.get(state.worker.slot);
      if (!current || current.worker.id < state.worker.id) bySlot.set(state.worker.slot, state);
    }
    if (bySlot.size === 0) return refusing ? 'refused' : 'none';
    return bySlot.get(pickSlot(conn.hash, bySlot.keys())) as WorkerState;
  }

  private enqueue(conn: Connection): void {
    if (this.waiting.length >= this.maxWaiting) {
      this.drop(conn, 'queueFull');
      return;
    }
    this.waiting.push(conn);
    this.arm();
  }

  /** Send what waits, oldest first, where a worker can take it; close what waited too long. */
  private flush(): void {
    if (this.waiting.length === 0) return;
    const holdMs = this.options.holdMs();
    const now = this.now();
    const still: Connection[] = [];
    // route() may append to this.waiting while we go through it (a worker gone mid-send).
    const batch = this.waiting;
    this.waiting = still;
    for (const conn of batch) {
      if (now - conn.since >= holdMs) this.drop(conn, 'timedOut');
      else if (this.tryDispatch(conn) === 'wait') still.push(conn);
    }
    if (still.length === 0) this.disarm();
    else this.arm();
  }

  /** A send failed after it was queued: the channel is broken, the worker is as good as gone. */
  private unanswered(state: WorkerState, seq: number): void {
    if (state.inFlight.has(seq)) this.gone(state.worker.id);
  }

  /**
   * The worker exited or its channel closed. Connections it did not answer
   * go to another worker: the daemon still holds them, and a worker answers
   * as soon as it receives one, so most likely it never saw them.
   */
  private gone(workerId: number): void {
    const state = this.workers.get(workerId);
    if (!state) return;
    this.workers.delete(workerId);
    const orphans = [...state.inFlight.values()];
    state.inFlight.clear();
    for (const conn of orphans) {
      this.counts.rerouted++;
      this.route(conn);
    }
  }

  private drop(conn: Connection, reason: DropReason): void {
    this.dropped[reason]++;
    conn.handle.close();
  }

  /** One timer for the oldest waiting connection, only while something waits. */
  private arm(): void {
    if (this.expiry !== null || this.waiting.length === 0) return;
    const oldest = this.waiting.reduce((min, c) => Math.min(min, c.since), Infinity);
    const delay = Math.max(0, oldest + this.options.holdMs() - this.now());
    this.expiry = setTimeout(() => {
      this.expiry = null;
      this.flush();
    }, delay + 1);
    this.expiry.unref();
  }

  private disarm(): void {
    if (this.expiry !== null) clearTimeout(this.expiry);
    this.expiry = null;
  }
}

/** The client's address, the key of its stickiness; '' for a Unix socket (every client the same). */
function peerAddress(handle: ClientHandle): string {
  if (typeof handle.getpeername !== 'function') return '';
  const out: Record<string, unknown> = {};
  return handle.getpeername(out) === 0 && typeof out.address === 'string' ? out.address : '';
}
