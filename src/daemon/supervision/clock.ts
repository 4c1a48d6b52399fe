/**
 * Time as App reads it: the daemon uses the system clock, unit tests a fake
 * one they advance by hand, so backoff, cool-downs and timeouts run in
 * milliseconds without sleeping.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
