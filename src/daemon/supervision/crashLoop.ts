import type { CrashLoopSpec } from '../../config/types';
import type { ListenFailure } from '../sockets/portConflict';
import type { Clock } from './clock';
import { CrashWindow } from './restartPolicy';

/**
 * An app's crash-loop state. Crashes of workers that could not run count in
 * a sliding window; `maxCrashes` of them make a crash loop, and the app is
 * errored for a cool-down instead of burning CPU on restarts. The app's
 * slots wait (`held`) until the cool-down ends and then start again.
 */
export class CrashLoop {
  private window: CrashWindow;
  private until: number | null = null;
  private cancelCoolDown: (() => void) | null = null;
  /** The app is errored because it could not listen: the cool-down retries only once the port is free. */
  listenFailure: ListenFailure | null = null;

  constructor(private readonly spec: () => CrashLoopSpec, private readonly clock: Clock) {
    this.window = new CrashWindow(spec());
  }

  get errored(): boolean {
    return this.until !== null;
  }

  /** When the cool-down ends (ms since epoch); null when the app is not errored. */
  get retryAt(): number | null {
    return this.until;
  }

  /**
   * Counts a crash: only `unstable` ones (never ready, or up for less than
   * minUptime) make a loop. True when the app is in a crash loop now.
   */
  crashed(unstable: boolean): boolean {
    if (this.until !== null) return true;
    return unstable && this.window.record(this.clock.now());
  }

  /** Errored for a cool-down; `over` runs when it ends. False when the app was errored already. */
  enter(over: () => void): boolean {
    if (this.until !== null) return false;
    this.coolDown(over);
    return true;
  }

  /** A cool-down ended but its condition still holds (the port is still in use): another one. */
  extend(over: () => void): void {
    this.cancelCoolDown?.();
    this.coolDown(over);
  }

  /** Not errored any more, and the crash count starts over (a restart, a reload, the cool-down's retry). */
  clear(): void {
    this.cancelCoolDown?.();
    this.cancelCoolDown = null;
    this.until = null;
    this.listenFailure = null;
    this.window = new CrashWindow(this.spec());
  }

  private coolDown(over: () => void): void {
    const ms = this.spec().coolDown;
    this.until = this.clock.now() + ms;
    this.cancelCoolDown = this.clock.after(ms, () => {
      this.cancelCoolDown = null;
      over();
    });
  }
}
