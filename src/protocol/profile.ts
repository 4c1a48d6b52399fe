/** `herd profile` and profileOnStall on the control protocol. */

/** Longest `herd profile --duration` (and profileOnStall duration): a profile past it is a mistake, and its file a burden. */
export const MAX_PROFILE_MS = 5 * 60_000;
/** Shortest: below it a profile holds too few samples to say anything. */
export const MIN_PROFILE_MS = 100;

/**
 * One worker's outcome. The profile itself comes as 'chunk' replies before
 * the result: the workers' JSON texts one after the other, in this order,
 * `chars` characters each (0 when it failed).
 */
export interface WorkerProfileOutcome {
  worker: number;
  pid: number | null;
  chars: number;
  /** Why there is no profile (no inspector, the worker exited meanwhile), or null. */
  error: string | null;
}

export interface ProfileResult {
  name: string;
  durationMs: number;
  /** The sampling interval, µs. */
  intervalUs: number;
  /** Epoch ms the profiles started. */
  startedAt: number;
  profiles: WorkerProfileOutcome[];
}

/** A profile herd took because a worker's event loop was slow (app key profileOnStall). */
export interface StallProfileView {
  /** Epoch ms the capture started. */
  time: number;
  worker: number;
  pid: number;
  /** The event-loop delay that triggered it (the worker's max over its last metrics report), ms. */
  delayMs: number;
  durationMs: number;
  /** The .cpuprofile under $HERD_HOME/profiles/<app>/. */
  path: string;
  /** Its name in that directory, as the dashboard asks for it. */
  file: string;
}
