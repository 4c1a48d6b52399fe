import type { JobQueueView } from '../metrics/view';
import { formatMs as ms } from '../util/units';

/** A queue app's queue, as the daemon last read it from Redis. */
export function jobsLine(j: JobQueueView): string {
  const counts = `waiting ${j.waiting}${j.prioritized > 0 ? ` (+${j.prioritized} prioritized)` : ''}  active ${j.active}  delayed ${j.delayed}  failed ${j.failed}  completed ${j.completed}`;
  const duration = j.duration === null ? '' : `  job time p50 ${ms(j.duration.p50)}  p99 ${ms(j.duration.p99)} (last ${j.duration.count})`;
  const stale = j.at === null ? `  (Redis unreadable: ${j.error ?? 'unknown'}; counts as last read)` : '';
  return `  queue ${counts}${duration}${stale}`;
}
