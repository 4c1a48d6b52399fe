import type { AutoscaleMetric } from '../config/types';

/** One scale step the autoscaler took (or `herd scale` switched), newest last in AutoscaleView.decisions. */
export interface AutoscaleDecision {
  /** Epoch ms. */
  time: number;
  from: number;
  to: number;
  /** Why, e.g. "eventLoop.utilization 0.96 per worker over target 0.70". */
  reason: string;
}

/** An app with `instances: { min, max }` as `herd describe`, `herd monit` and the dashboard show it (docs/autoscaling.md). */
export interface AutoscaleView {
  /** 'auto': the autoscaler sizes the pool; 'fixed': `herd scale <app> N` holds it until `herd scale <app> auto`. */
  mode: 'auto' | 'fixed';
  min: number;
  max: number;
  /** Workers now (slots). */
  current: number;
  metric: AutoscaleMetric;
  target: number;
  /** The metric as last read (per worker, or the app's p99); null when there was no data. */
  value: number | null;
  /** The count the last reading asked for, clamped to [min, max]; null without data. */
  desired: number | null;
  /** What holds the pool where it is now (machine limits, cool-down, no data); null when nothing does. */
  held: string | null;
  /** The last scale steps, newest last. */
  decisions: AutoscaleDecision[];
}

/** A metric's value as describe, monit and the log say it: 0.96, 250ms, 12.5. */
export function formatAutoscaleValue(metric: AutoscaleMetric, value: number): string {
  if (metric === 'http.latency.p99') return `${Math.round(value)}ms`;
  if (metric === 'eventLoop.utilization') return value.toFixed(2);
  return String(Number(value.toFixed(1)));
}
