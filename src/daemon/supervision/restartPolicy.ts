import type { BackoffSpec, CrashLoopSpec } from '../../config/types';

/** Delay before restarting a worker after its n-th consecutive crash (n >= 1). */
export function backoffDelay(consecutiveCrashes: number, spec: BackoffSpec): number {
  const n = Math.max(1, consecutiveCrashes);
  const delay = spec.initial * Math.pow(spec.factor, n - 1);
  return Math.min(spec.max, Math.max(0, Math.round(delay)));
}

/**
 * Crashes of an app's workers inside a sliding window. Reaching the limit means
 * a crash loop: restarting again would only burn CPU, so the app waits for a
 * cool-down instead.
 */
export class CrashWindow {
  private times: number[] = [];

  constructor(private readonly spec: CrashLoopSpec) {}

  /** Records a crash at `now`; true when this crash completes a loop. */
  record(now: number): boolean {
    this.times.push(now);
    this.prune(now);
    return this.times.length >= this.spec.maxCrashes;
  }

  count(now: number): number {
    this.prune(now);
    return this.times.length;
  }

  clear(): void {
    this.times = [];
  }

  private prune(now: number): void {
    const since = now - this.spec.window;
    while (this.times.length > 0 && (this.times[0] ?? 0) < since) this.times.shift();
  }
}

/** When and why a crashed worker that is not in a crash loop starts again. */
export interface RestartPlan {
  delay: number;
  /** The slot's count of crashes in a row after this one. */
  consecutiveCrashes: number;
  /** How long it had served (ready) before it crashed, when that reset the backoff; null otherwise. */
  servedMs: number | null;
}

/**
 * Backoff is for a worker that cannot run. One that became ready and served
 * for minUptime was killed from outside (OOM killer, an operator, chaos) or
 * hit a rare fault: it is replaced at once and its backoff starts over, so
 * repeated kills of healthy workers never pile up delays. A worker that ran
 * for backoff.resetAfter without becoming ready starts again from the first delay.
 */
export function restartPlan(previousCrashes: number, uptimeMs: number, servedMs: number, spec: { backoff: BackoffSpec; crashLoop: CrashLoopSpec }): RestartPlan {
  if (servedMs >= spec.crashLoop.minUptime) return { delay: 0, consecutiveCrashes: 0, servedMs };
  const consecutiveCrashes = uptimeMs >= spec.backoff.resetAfter ? 1 : previousCrashes + 1;
  return { delay: backoffDelay(consecutiveCrashes, spec.backoff), consecutiveCrashes, servedMs: null };
}
