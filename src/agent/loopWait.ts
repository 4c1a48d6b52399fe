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
 *   when this worker last accepted connections before (see accepted()): the
 *   connection was not in the accept queue then, so its time in that queue
 *   counts too, up to that bound (the daemon reports the queue's length as
 *   http.queue).
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
 * for a new connection, the time since this worker's last accept when other
 * workers took the connections meanwhile.
 */
export class LoopWait {
  private turnOpen = false;
  /** This turn accepted a connection already. */
  private acceptTurn = false;
  /** When this worker last accepted a connection, and the last accept before this turn's. */
  private lastAccept: number | undefined;
  private acceptFloor: number | undefined;
  private idleMark: number;
  private busySince: number;

  constructor(
    /** Cumulative ms the loop spent blocked in epoll (performance.nodeTiming.idleTime). */
    private readonly idleTime: () => number,
    /** Run `fn` once at the end of this loop turn (setImmediate). */
    private readonly endOfTurn: (fn: () => void) => void,
    now: number,
  ) {
    this.idleMark = idleTime();
    this.busySince = now;
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
   * A connection this worker accepts at `now`: the earliest it can have
   * arrived, which its first request's wait counts from. libuv accepts every
   * pending connection at once (until EAGAIN), so one accepted in this turn
   * was not there when this worker last accepted, in an earlier turn; and it
   * arrived after the loop got busy. So a worker that stopped accepting for a
   * while (its overload guard) charges the new connections that while, and
   * one that accepts every turn at most a turn.
   */
  accepted(now: number): number {
    this.openTurn(now);
    if (!this.acceptTurn) {
      this.acceptTurn = true;
      this.acceptFloor = this.lastAccept;
    }
    this.lastAccept = now;
    const floor = this.acceptFloor;
    return floor !== undefined && floor > this.busySince ? floor : this.busySince;
  }

  private openTurn(now: number): void {
    if (this.turnOpen) return;
    this.turnOpen = true;
    if (this.idleTime() > this.idleMark) this.busySince = now;
    this.endOfTurn(this.closeTurn);
  }

  private readonly closeTurn = (): void => {
    this.turnOpen = false;
    this.acceptTurn = false;
    this.idleMark = this.idleTime();
  };
}
