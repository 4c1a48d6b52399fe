import type { JobSpec } from '../../config/types';
import { timezoneValid } from '../../config/job';
import { HerdError } from '../../errors';
import { cronTicks } from './jobSchedule';

/** The daemon's own check of a job it is sent (the CLI checked the file already): a bad one starts nothing. */
export function checkJob(app: string, job: JobSpec): void {
  if (job.timezone !== null && !timezoneValid(job.timezone)) {
    throw new HerdError('HERD_ERR_USAGE', { message: `app "${app}": timezone "${job.timezone}" is not an IANA time zone name (e.g. 'Europe/Berlin', 'UTC')` });
  }
  try {
    cronTicks(job);
  } catch (err) {
    throw new HerdError('HERD_ERR_USAGE', { message: `app "${app}": cron "${job.schedule}" is not a cron schedule: ${(err as Error).message}` });
  }
}
