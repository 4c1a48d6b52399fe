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

/** Readable reason for a process exit. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  if (code === 0) return 'exited with code 0';
  return `exited with code ${code ?? 'unknown'}`;
}
