import type { JobSpec } from '../../config/types';
import { localZone } from '../../config/job';
import { loadCroner } from '../../util/croner';

/** A job's ticks: the scheduled instants, epoch ms. */
export interface TickSchedule {
  /** The first tick strictly after `afterMs`, or null when the schedule has no more. */
  next(afterMs: number): number | null;
  /** The zone the ticks are computed in. */
  readonly timezone: string;
}


/**
 * The ticks as croner computes them, in the job's zone. Every host of a
 * fleet computes the same instants from the same expression and zone, which
 * is what makes a tick's time its identity.
 */
export function cronTicks(job: Pick<JobSpec, 'schedule' | 'timezone'>): TickSchedule {
  const timezone = job.timezone ?? localZone();
  const cron = new (loadCroner().Cron)(job.schedule, { paused: true, timezone });
  return {
    timezone,
    next: (afterMs) => cron.nextRun(new Date(afterMs))?.getTime() ?? null,
  };
}

/** The ticks in (fromMs, toMs], at most `limit` of them (a long downtime of a per-second job is counted, not listed). */
export function ticksBetween(schedule: TickSchedule, fromMs: number, toMs: number, limit = 100_000): { count: number; last: number | null } {
  let count = 0;
  let last: number | null = null;
  let t = schedule.next(fromMs);
  while (t !== null && t <= toMs && count < limit) {
    count++;
    last = t;
    t = schedule.next(t);
  }
  return { count, last };
}
