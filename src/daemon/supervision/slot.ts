import type { WorkerStatus } from '../../protocol/control';
import type { WorkerProcess } from '../worker/workerProcess';

/**
 * A place for one worker of an app. The process in it changes (crash,
 * restart, reload); the slot keeps its id, its restart count and the reason
 * for its current status.
 */
export class Slot {
  proc: WorkerProcess | null = null;
  /** A replacement being started while `proc` keeps serving (reload, memory limit). */
  next: WorkerProcess | null = null;
  status: WorkerStatus = 'starting';
  reason = 'starting';
  restarts = 0;
  consecutiveCrashes = 0;
  /** Why its last process ended; null before the first exit. */
  lastExit: string | null = null;
  /** Pending restart after a crash. */
  timer: NodeJS.Timeout | null = null;
  /** Waiting for an errored app's cool-down to end. */
  held = false;

  constructor(readonly id: number) {}

  set(status: WorkerStatus, reason: string): void {
    this.status = status;
    this.reason = reason;
  }

  cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
