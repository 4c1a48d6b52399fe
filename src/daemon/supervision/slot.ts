import type { WorkerStatus } from '../../protocol/control';
import type { Worker } from '../worker/worker';

/**
 * Every status a slot may go to from each status. One meaning each:
 *  - starting:  its process was spawned and is not ready yet
 *  - online:    its process is ready and serves
 *  - replacing: its process cannot serve (it exited, or closed its last
 *               server) and a replacement is starting
 *  - backoff:   no process; a restart is scheduled after the backoff delay
 *  - held:      no process and no restart scheduled: it waits for the app's
 *               cool-down (crash loop, a port in use) or for a reload to fill it
 *  - draining:  its process is being stopped on purpose
 *  - stopped:   no process and none coming (stopped, autorestart off)
 * A slot's process being replaced by a reload stays `online` (it serves
 * until its replacement is ready); the replacement is listed as `starting`.
 */
export const TRANSITIONS: Readonly<Record<WorkerStatus, readonly WorkerStatus[]>> = {
  starting: ['starting', 'online', 'replacing', 'backoff', 'held', 'draining', 'stopped'],
  online: ['online', 'starting', 'replacing', 'backoff', 'held', 'draining', 'stopped'],
  replacing: ['replacing', 'online', 'starting', 'backoff', 'held', 'draining', 'stopped'],
  backoff: ['starting', 'held', 'stopped'],
  held: ['held', 'starting', 'online', 'backoff', 'stopped'],
  draining: ['stopped'],
  stopped: ['stopped', 'starting', 'online'],
};

/** What to do with a transition the table does not allow: throw (tests) or report and go on (the daemon). */
export type IllegalTransition = (slot: number, from: WorkerStatus, to: WorkerStatus, reason: string) => void;

export const throwOnIllegal: IllegalTransition = (slot, from, to, reason) => {
  throw new Error(`worker ${slot}: illegal transition ${from} -> ${to} (${reason})`);
};

/**
 * A place for one worker of an app. The process in it changes (crash,
 * restart, reload); the slot keeps its id, its restart count, and its
 * lifecycle: the status, the reason for it, and the restart a backoff
 * scheduled. Status changes only through transition().
 */
export class Slot {
  proc: Worker | null = null;
  /** A replacement being started while `proc` keeps serving (reload, memory limit). */
  next: Worker | null = null;
  restarts = 0;
  consecutiveCrashes = 0;
  /** Why its last process ended; null before the first exit. */
  lastExit: string | null = null;
  private current: WorkerStatus = 'starting';
  private why = 'starting';
  /** Cancels the restart scheduled in `backoff`. */
  private cancelRestart: (() => void) | null = null;

  constructor(readonly id: number, private readonly illegal: IllegalTransition) {}

  get status(): WorkerStatus {
    return this.current;
  }

  get reason(): string {
    return this.why;
  }

  /**
   * Go to `to` for `reason`. A transition the table forbids is reported to
   * the app's handler; when that does not throw, it still happens, so the
   * daemon keeps supervising with the status it decided on.
   */
  transition(to: WorkerStatus, reason: string): void {
    if (!TRANSITIONS[this.current].includes(to)) this.illegal(this.id, this.current, to, reason);
    if (this.current === 'backoff' && to !== 'backoff') {
      this.cancelRestart?.();
      this.cancelRestart = null;
    }
    this.current = to;
    this.why = reason;
  }

  /** Enter `backoff` with `cancel` for the restart it scheduled. */
  backoff(reason: string, cancel: () => void): void {
    this.transition('backoff', reason);
    this.cancelRestart = cancel;
  }

  /** The scheduled restart is running now: nothing to cancel any more. */
  restartDue(): void {
    this.cancelRestart = null;
  }
}
