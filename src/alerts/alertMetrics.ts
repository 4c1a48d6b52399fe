import { parseDuration, parseSize } from '../util/units';

/**
 * The metrics an alert rule can watch, named as in `herd metrics --json`,
 * with the unit their thresholds are read in. Request-based figures are
 * computed over the rule's recent `window` (latency percentiles from merged
 * histograms, never averaged), not since the app started, so an alert
 * resolves once the app is healthy again.
 */
export type AlertUnit = 'ms' | 'bytes' | 'ratio' | 'percent' | 'count';

export const ALERT_METRICS = {
  'http.latency.p50': { unit: 'ms', about: 'latency p50 over the window' },
  'http.latency.p90': { unit: 'ms', about: 'latency p90 over the window' },
  'http.latency.p99': { unit: 'ms', about: 'latency p99 over the window' },
  'http.latency.max': { unit: 'ms', about: 'slowest request in the window' },
  'http.rps': { unit: 'count', about: 'requests per second over the window' },
  'http.errorRate': { unit: 'ratio', about: '5xx responses / requests over the window' },
  'http.shedRate': { unit: 'ratio', about: 'requests shed by the overload guard / requests over the window' },
  'http.inFlight': { unit: 'count', about: 'requests being served now' },
  'eventLoop.delay.p99': { unit: 'ms', about: "worst worker's event-loop delay p99 over the last second" },
  'eventLoop.utilization': { unit: 'ratio', about: "worst worker's event-loop utilisation over the last second" },
  cpu: { unit: 'percent', about: "CPU of the app's workers, % of one core" },
  'memory.rss': { unit: 'bytes', about: "RSS of the app's workers together" },
  'workers.online': { unit: 'count', about: 'workers serving (use with below)' },
} as const satisfies Record<string, { unit: AlertUnit; about: string }>;

export type AlertMetric = keyof typeof ALERT_METRICS;

export function isAlertMetric(name: unknown): name is AlertMetric {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(ALERT_METRICS, name);
}

/**
 * A threshold in the metric's own unit: '100ms' or 100 for ms, '512MB' for
 * bytes, '1%' or 0.01 for a ratio, '80%' or 80 for CPU percent. Null when
 * unreadable.
 */
export function parseThreshold(metric: AlertMetric, value: unknown): number | null {
  const unit: AlertUnit = ALERT_METRICS[metric].unit;
  switch (unit) {
    case 'ms':
      return parseDuration(value);
    case 'bytes':
      return parseSize(value);
    case 'ratio': {
      const pct = percent(value);
      if (pct !== null) return pct / 100;
      return typeof value === 'number' && value >= 0 && value <= 1 ? value : null;
    }
    case 'percent':
      return percent(value) ?? (typeof value === 'number' && value >= 0 ? value : null);
    case 'count':
      return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
  }
}

function percent(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  return m ? Number(m[1]) : null;
}

/** How a threshold reads back, for messages and `herd alerts`. */
export function formatThreshold(metric: AlertMetric, value: number): string {
  switch (ALERT_METRICS[metric].unit) {
    case 'ms':
      return `${round(value)}ms`;
    case 'bytes':
      return `${round(value / 1048576)}MB`;
    case 'ratio':
      return `${round(value * 100)}%`;
    case 'percent':
      return `${round(value)}%`;
    case 'count':
      return String(round(value));
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
