import { HerdError } from '../../errors';
import type { ReloadTarget } from './reloadTarget';
import { loadCroner } from '../../util/croner';

/** The schedule's next run, for describe; and how to stop it. */
export interface Schedule {
  next(): number | null;
  stop(): void;
}

export type ScheduleFactory = (expression: string, fire: () => void) => Schedule;

/** croner in the daemon's local time zone, as PM2 (which uses croner too) runs cron_restart. */
export const cronSchedule: ScheduleFactory = (expression, fire) => {
  const job = new (loadCroner().Cron)(expression, fire);
  return { next: () => job.nextRun()?.getTime() ?? null, stop: () => job.stop() };
};

/** Throws HERD_ERR_CRON_INVALID (the app's name and croner's reason) when `expression` is not a schedule. */
export function checkCronSchedule(app: string, expression: string): void {
  try {
    new (loadCroner().Cron)(expression, { paused: true }).stop();
  } catch (err) {
    throw new HerdError('HERD_ERR_CRON_INVALID', { name: app, schedule: expression, reason: (err as Error).message });
  }
}

/**
 * PM2's `cron_restart`, as a rolling reload (new workers first, so no request
 * fails; PM2 restarts). A run never overlaps an operation already under way
 * on the app (its own previous reload, a `herd reload`, a restart): it is
 * skipped and logged, and the next run comes on schedule.
 */
export class CronReload {
  private readonly schedule: Schedule;
  private running = false;

  constructor(private readonly target: ReloadTarget, readonly expression: string, factory: ScheduleFactory = cronSchedule) {
    this.schedule = factory(expression, () => this.fire());
  }

  /** Epoch ms of the next run. */
  next(): number | null {
    return this.schedule.next();
  }

  stop(): void {
    this.schedule.stop();
  }

  /** One scheduled run (public for tests). */
  fire(now = new Date()): void {
    const target = this.target;
    if (target.stopped) return;
    const at = now.toISOString();
    const busy = this.running ? 'the previous cron reload' : target.busy;
    if (busy !== null) {
      target.note(`cron reload at ${at} skipped: ${busy} in progress`);
      return;
    }
    target.note(`cron reload at ${at}`);
    this.running = true;
    target.reload(target.spec, () => {})
      .catch((err: unknown) => target.note(`cron reload failed: ${(err as Error).message}`))
      .finally(() => {
        this.running = false;
      });
  }
}
