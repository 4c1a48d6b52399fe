import type { App } from '../daemon/supervision/app';
import type { AlertMetric } from './alertMetrics';

/**
 * The current value of an alert metric for an app; null when there is
 * nothing to judge (no request in the window for a latency, metrics off).
 */
export function alertValue(app: App, metric: AlertMetric, windowMs: number): number | null {
  const workers = app.info().workers.filter((w) => w.pid !== null);
  const reports = app.metrics.workerReports().map((r) => r.report).filter((r) => r !== null);
  const recent = () => app.metrics.recent(windowMs / 1000);
  switch (metric) {
    case 'cpu':
      return workers.reduce((n, w) => n + w.cpu, 0);
    case 'memory.rss':
      return workers.reduce((n, w) => n + w.memory, 0);
    case 'workers.online':
      return app.slots.filter((s) => s.status === 'online').length;
    default:
      break;
  }
  if (app.spec.metrics === false) return null;
  switch (metric) {
    case 'http.latency.p50':
    case 'http.latency.p90':
    case 'http.latency.p99': {
      const r = recent();
      if (r.latency.count === 0) return null;
      return r.latency.percentile(metric === 'http.latency.p50' ? 0.5 : metric === 'http.latency.p90' ? 0.9 : 0.99);
    }
    case 'http.latency.max': {
      const r = recent();
      return r.latency.count === 0 ? null : r.latency.max;
    }
    case 'http.rps': {
      const r = recent();
      return r.seconds === 0 ? 0 : r.requests / r.seconds;
    }
    case 'http.errorRate': {
      const r = recent();
      return r.requests === 0 ? null : r.errors / r.requests;
    }
    case 'http.shedRate': {
      const r = recent();
      return r.requests === 0 ? null : r.shed / r.requests;
    }
    case 'http.inFlight':
      return reports.reduce((n, r) => n + (r.http.inFlight ?? 0), 0);
    case 'eventLoop.delay.p99':
      return reports.length === 0 ? null : Math.max(...reports.map((r) => r.eventLoop?.p99 ?? 0));
    case 'eventLoop.utilization':
      return reports.length === 0 ? null : Math.max(...reports.map((r) => r.eventLoop?.utilization ?? 0));
  }
}
