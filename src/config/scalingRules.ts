import type { ScalingSpec } from './types';

/**
 * What the app's other settings rule out: a job does not scale; fork-mode
 * workers (no shared port, often no HTTP at all) scale only on their queue;
 * `queue.waiting` needs the `queue` key that says which queue.
 */
export function scalingProblem(scaling: ScalingSpec, app: { execMode: 'cluster' | 'fork'; job: boolean; queue: boolean }): string | null {
  const metric = scaling.autoscale.metric;
  if (app.job) return 'a job (cron) runs one process at each tick; it does not scale';
  if (metric === 'queue.waiting' && !app.queue) return "metric 'queue.waiting' needs the app's queue key (queue: { redis, name }; docs/queues.md)";
  if (app.execMode === 'fork' && metric !== 'queue.waiting') {
    return `metric '${metric}' reads herd's HTTP metrics of cluster workers; in fork mode scale on 'queue.waiting' (a queue app) or use execMode 'cluster'`;
  }
  return null;
}
