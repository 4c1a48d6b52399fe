import type { App } from './app';
import { isHeld, releasedSince } from '../worker/diagnosticHold';

/** How often workers are pinged and health checks fall due. */
const TICK_MS = 250;

/**
 * Watches every online worker of every app:
 *  - stall watchdog: each tick pings the worker's agent over IPC; the agent
 *    answers from its event loop, so a worker stuck in synchronous code goes
 *    silent. Silent for the app's `stallTimeout`: the app kills and replaces it.
 *  - health checks: every `healthCheck.interval` the agent requests the path
 *    from its own HTTP server (so the check reaches that worker and no
 *    other); `failures` failures in a row get the worker replaced, new first.
 * Workers that are starting or draining are left alone: listenTimeout and
 * killTimeout bound those.
 */
export class WorkerMonitor {
  private readonly timer: NodeJS.Timeout;
  private lastTick = Date.now();
  /** When each worker was last pinged: at most once a second (or a quarter of a shorter stallTimeout). */
  private readonly lastPing = new WeakMap<object, number>();
  /** No stall kills before this: the supervisor itself was late, and pongs may be waiting unread. */
  private graceUntil = 0;

  constructor(private readonly apps: () => Iterable<App>) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  tick(now = Date.now()): void {
    // A supervisor that was stopped or starved (machine suspended, swapping)
    // must not take every worker's silence for a stall.
    if (now - this.lastTick > TICK_MS * 4) this.graceUntil = now + TICK_MS * 4;
    this.lastTick = now;
    for (const app of this.apps()) {
      if (app.stopped) continue;
      const { stallTimeout, healthCheck } = app.spec;
      for (const slot of app.slots) {
        const proc = slot.proc;
        if (!proc || !proc.ready || proc.draining || proc.exited || slot.status !== 'online') continue;
        // Paused on purpose (a heap snapshot): neither stalled nor unhealthy.
        if (isHeld(proc)) continue;
        // No agent (runner 'exec'), nobody to answer a ping: only health checks apply.
        if (stallTimeout > 0 && proc.hasAgent) {
          const silent = now - Math.max(proc.lastPongAt, releasedSince(proc));
          if (silent > stallTimeout && now >= this.graceUntil) {
            app.killStalled(slot, proc, silent);
            continue;
          }
          // Pinging every tick would cost a 16-worker daemon hundreds of IPC
          // messages a second for no gain in detection time.
          const every = Math.min(1000, Math.max(TICK_MS, stallTimeout / 4));
          if (now - (this.lastPing.get(proc) ?? 0) >= every - 5) {
            this.lastPing.set(proc, now);
            proc.ping();
          }
        }
        if (healthCheck && !proc.healthPending && now - proc.lastHealthAt >= healthCheck.interval) {
          // On schedule rather than tick-late, so `failures` checks take `failures` intervals.
          proc.lastHealthAt = proc.lastHealthAt === 0 ? now : Math.max(proc.lastHealthAt + healthCheck.interval, now - TICK_MS);
          proc.healthPending = true;
          void proc.healthCheck(healthCheck.path, healthCheck.timeout).then((outcome) => {
            proc.healthPending = false;
            const ok = outcome.status >= 200 && outcome.status < 400;
            if (ok) {
              proc.healthFailures = 0;
              return;
            }
            proc.healthFailures++;
            const what = outcome.error ?? `status ${outcome.status}`;
            app.healthCheckFailed(slot, proc, what);
          });
        }
      }
    }
  }
}
