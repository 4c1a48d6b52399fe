/** Run times of finished jobs, as BullMQ keeps them on each job (epoch ms). */
export interface JobTimes {
  processedOn: number;
  finishedOn: number;
}

/**
 * p50 and p99 of the run time (processedOn to finishedOn) of `jobs`, in ms;
 * null when none has both times (no job finished yet, or the app removes
 * its jobs on completion: `removeOnComplete: true`).
 */
export function jobDurations(jobs: readonly JobTimes[]): { p50: number; p99: number; count: number } | null {
  const ms = jobs
    .filter((j) => Number.isFinite(j.processedOn) && Number.isFinite(j.finishedOn) && j.processedOn > 0 && j.finishedOn >= j.processedOn)
    .map((j) => j.finishedOn - j.processedOn)
    .sort((a, b) => a - b);
  if (ms.length === 0) return null;
  return { p50: rank(ms, 0.5), p99: rank(ms, 0.99), count: ms.length };
}

/** Nearest-rank percentile of sorted values. */
function rank(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
