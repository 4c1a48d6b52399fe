/**
 * How long a request waited for the worker's event loop before Node read it,
 * as far as a process can know. The clock herd starts at the 'request' event
 * misses that wait, and it is the whole story when the loop is overloaded
 * (a 20 ms synchronous route, 2 workers, 50 keep-alive connections: clients
 * saw p99 3.5 s while the handlers took 23 ms).
 *
 * A request read at `t` arrived after two lower bounds, and waited
 * t - max(A, B):
 * - A, when the previous response on the same connection finished: an
 *   HTTP/1.1 client does not send its next (non-pipelined) request before it
 *   got the previous response. For a new connection's first request, A is
 *   the last time this worker saw the server's accept queue empty (see
 *   accepted()): its time in that queue counts too (the daemon reports the
 *   queue's length as http.queue).
 * - B, the start of the loop's current busy stretch. libuv counts idle time
 *   only while epoll_wait blocks: it first polls with timeout 0 and counts
 *   nothing when something is ready already (deps/uv/src/unix/linux.c,
 *   uv__io_poll with UV_METRICS_IDLE_TIME, which Node always sets). So if the
 *   loop's idle time grew since the last turn that read requests, the loop
 *   blocked with nothing to read, and every byte read in this turn arrived
 *   after it blocked: B = this turn's first request. If idle time did not
 *   grow, the loop has been busy all along and B stays where it was.
 *
 * Turns are told apart with one setImmediate per turn that read requests
 * (never a chain of them, which would keep the loop from ever blocking).
 * What cannot be seen: time between the loop waking up and the turn's first
 * request (a timer that ran 100 ms before the socket was read), and a
 * client's SYN retransmits when the accept queue overflowed. What may be
 * counted that a client did not wait: on a keep-alive connection while the
 * loop is busy, a client's own pause between a response and its next request;
 * for a new connection, part of the time since the accept queue was last seen
 * empty when the queue never emptied (bounded: see accepted()), or when the
 * loop's turns that emptied it ran no request (a loop busy with timers).
 */
export class LoopWait {
  private turnOpen = false;
  /** When the current turn's first request or accept was seen. */
  private turnStart = 0;
  /** When the previous turn this object saw began (the construction time before any). */
  private previousTurnStart: number;
  private readonly queues = new Map<ListeningServer, AcceptQueue>();
  private idleMark: number;
  private busySince: number;

  constructor(
    /** Cumulative ms the loop spent blocked in epoll (performance.nodeTiming.idleTime). */
    private readonly idleTime: () => number,
    /** Run `fn` once at the end of this loop turn (setImmediate). */
    private readonly endOfTurn: (fn: () => void) => void,
    now: number,
    /** The most connections a listening socket's accept queue holds: the listen backlog (511 in Node, capped by net.core.somaxconn) plus one. */
    private readonly queueLimit = DEFAULT_QUEUE_LIMIT,
  ) {
    this.idleMark = idleTime();
    this.busySince = now;
    this.previousTurnStart = now;
  }

  /**
   * The wait, ms, of a request read at `now` whose connection's previous
   * response finished (or, for its first request, which was accepted) at
   * `previousDone` (undefined when not known).
   */
  waitOf(now: number, previousDone: number | undefined): number {
    this.openTurn(now);
    const since = previousDone !== undefined && previousDone > this.busySince ? previousDone : this.busySince;
    return now > since ? now - since : 0;
  }

  /**
   * A connection this worker accepts at `now` from `server`'s listening
   * socket: the earliest it can have arrived, which its first request's
   * wait counts from. libuv (since 1.45, Node 20) accepts one connection per
   * loop turn and relies on epoll reporting the socket again, so under load
   * a connection can wait in the kernel's queue for many turns, one accept
   * per turn of every worker ahead of it. Two facts bound its arrival:
   * - A turn of this worker that did work and accepted nothing from the
   *   server found its queue empty (epoll reports a listening socket with a
   *   connection queued), so a connection accepted later arrived after that
   *   turn began; and the loop's busy stretch began after it last blocked,
   *   with nothing queued.
   * - The queue is first in, first out and holds at most `queueLimit`
   *   connections: each accept by any worker after the connection arrived
   *   took one of those ahead of it, so it arrived after this worker's
   *   `queueLimit`-th accept before its own. An accept queue that never
   *   empties (a standing backlog) is therefore charged at most that many
   *   accepts, however long it stands.
   */
  accepted(now: number, server: ListeningServer): number {
    this.openTurn(now);
    let queue = this.queues.get(server);
    if (!queue) {
      // Not accepted from before: the previous turn accepted nothing from it.
      queue = { server, emptyAt: this.previousTurnStart, acceptedThisTurn: false, accepts: new Float64Array(this.queueLimit), next: 0, count: 0 };
      this.queues.set(server, queue);
    }
    let floor = queue.emptyAt > this.busySince ? queue.emptyAt : this.busySince;
    if (queue.count === queue.accepts.length) {
      const oldest = queue.accepts[queue.next]!;
      if (oldest > floor) floor = oldest;
    } else {
      queue.count++;
    }
    queue.accepts[queue.next] = now;
    queue.next = (queue.next + 1) % queue.accepts.length;
    queue.acceptedThisTurn = true;
    return floor;
  }

  /** A server that closed: its queue is gone. */
  forget(server: ListeningServer): void {
    this.queues.delete(server);
  }

  private openTurn(now: number): void {
    if (this.turnOpen) return;
    this.turnOpen = true;
    this.turnStart = now;
    if (this.idleTime() > this.idleMark) this.busySince = now;
    this.endOfTurn(this.closeTurn);
  }

  private readonly closeTurn = (): void => {
    this.turnOpen = false;
    for (const queue of this.queues.values()) {
      if (queue.acceptedThisTurn) queue.acceptedThisTurn = false;
      // A server out of rotation (herd heap's pause) watches no queue: it saw nothing empty.
      else if (queue.server.listening !== false) queue.emptyAt = this.turnStart;
    }
    this.previousTurnStart = this.turnStart;
    this.idleMark = this.idleTime();
  };
}

/**
 * Node's default listen backlog (511) plus one: Linux queues a connection
 * while fewer than backlog + 1 wait (sk_acceptq_is_full). The kernel caps a
 * backlog at net.core.somaxconn; an app that passes a larger one may have a
 * standing backlog charged less than it waited.
 */
export const DEFAULT_QUEUE_LIMIT = 512;

/** A net.Server as LoopWait needs it: `listening` is false while its handle is away. */
export interface ListeningServer {
  readonly listening?: boolean;
}

interface AcceptQueue {
  server: ListeningServer;
  /** When a turn of this worker last began that found the queue empty. */
  emptyAt: number;
  acceptedThisTurn: boolean;
  /** The last `queueLimit` accept times, a ring: `next` is the oldest once full. */
  accepts: Float64Array;
  next: number;
  count: number;
}
