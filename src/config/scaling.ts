/**
 * `instances: { min, max }` and `autoscale: { metric, target, up, down,
 * coolDown }` (docs/autoscaling.md): a pool that sizes itself. Read in both
 * herd and PM2-style files (an object for `instances` is herd's own
 * extension; PM2 itself only takes a number there).
 */
import { parseDuration } from '../util/units';
import type { AutoscaleMetric, AutoscaleSpec, ScalingSpec } from './types';
import { isRecord, show, type Report, type Setting } from './report';
import { readObject, sub } from './readers';
import { MAX_INSTANCES } from './specCheck';

export const AUTOSCALE_METRICS: readonly AutoscaleMetric[] = ['eventLoop.utilization', 'http.latency.p99', 'http.inFlight', 'queue.waiting'];

export const AUTOSCALE_DEFAULTS = {
  metric: 'eventLoop.utilization' as AutoscaleMetric,
  /** Only utilisation has a target that suits every app; the others depend on the app and must be given. */
  utilizationTarget: 0.7,
  up: 4,
  down: 1,
  coolDown: 60_000,
};

/** True when `instances` is given as `{ min, max }`. */
export function isScalingInstances(s: Setting): boolean {
  return s !== undefined && isRecord(s.value);
}

/**
 * The app's scaling, or null for a fixed count. Every problem is reported
 * with its key; undefined when one was.
 */
export function readScaling(instances: Setting, autoscale: Setting, r: Report): ScalingSpec | null | undefined {
  if (!isScalingInstances(instances)) {
    if (autoscale !== undefined) {
      r.problem(autoscale.key, `needs instances: { min, max } (the range to scale in); got instances ${instances === undefined ? 'unset' : show(instances.value)}`);
      return undefined;
    }
    return null;
  }
  const before = r.problems.length;
  const range = readObject(instances, ['min', 'max'], r);
  const at = instances?.key ?? 'instances';
  const min = readCount(sub(range, 'min', at), `${at}.min`, r);
  const max = readCount(sub(range, 'max', at), `${at}.max`, r);
  if (min !== undefined && max !== undefined && min > max) r.problem(`${at}.min`, `must not be more than max (${max}); got ${min}`);
  const spec = readAutoscale(autoscale, r);
  if (r.problems.length > before || min === undefined || max === undefined || spec === undefined) return undefined;
  return { min, max, autoscale: spec };
}

function readCount(s: Setting, key: string, r: Report): number | undefined {
  if (s === undefined) {
    r.problem(key, 'is required (instances: { min, max } scales between the two)');
    return undefined;
  }
  const n = s.value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_INSTANCES) {
    r.problem(s.key, `must be an integer from 1 to ${MAX_INSTANCES}; got ${show(s.value)}`);
    return undefined;
  }
  return n;
}

function readAutoscale(s: Setting, r: Report): AutoscaleSpec | undefined {
  const o = s === undefined ? {} : readObject(s, ['metric', 'target', 'up', 'down', 'coolDown'], r);
  if (o === undefined) return undefined;
  const at = s?.key ?? 'autoscale';
  const before = r.problems.length;
  const metricSetting = sub(o, 'metric', at);
  let metric = AUTOSCALE_DEFAULTS.metric;
  if (metricSetting !== undefined) {
    if (AUTOSCALE_METRICS.includes(metricSetting.value as AutoscaleMetric)) metric = metricSetting.value as AutoscaleMetric;
    else r.problem(metricSetting.key, `must be one of ${AUTOSCALE_METRICS.map((m) => `'${m}'`).join(', ')}; got ${show(metricSetting.value)}`);
  }
  const target = readTarget(sub(o, 'target', at), `${at}.target`, metric, r);
  const up = readStep(sub(o, 'up', at), r) ?? AUTOSCALE_DEFAULTS.up;
  const down = readStep(sub(o, 'down', at), r) ?? AUTOSCALE_DEFAULTS.down;
  const coolDownSetting = sub(o, 'coolDown', at);
  const coolDown = coolDownSetting === undefined ? AUTOSCALE_DEFAULTS.coolDown : parseDuration(coolDownSetting.value);
  if (coolDown === null || coolDown < 0) r.problem(coolDownSetting?.key ?? `${at}.coolDown`, `must be a duration in ms or like '60s', '5m'; got ${show(coolDownSetting?.value)}`);
  if (r.problems.length > before || target === undefined || coolDown === null) return undefined;
  return { metric, target, up, down, coolDown };
}

function readTarget(s: Setting, key: string, metric: AutoscaleMetric, r: Report): number | undefined {
  if (s === undefined) {
    if (metric === 'eventLoop.utilization') return AUTOSCALE_DEFAULTS.utilizationTarget;
    r.problem(key, `is required for metric '${metric}' (${TARGET_MEANS[metric]})`);
    return undefined;
  }
  const n = metric === 'http.latency.p99' ? parseDuration(s.value) : s.value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    r.problem(s.key, `must be a number > 0 (${TARGET_MEANS[metric]}); got ${show(s.value)}`);
    return undefined;
  }
  if (metric === 'eventLoop.utilization' && n > 1) {
    r.problem(s.key, `must be more than 0 and at most 1 (a share of the event loop's time, e.g. 0.7); got ${show(s.value)}`);
    return undefined;
  }
  return n;
}

const TARGET_MEANS: Record<AutoscaleMetric, string> = {
  'eventLoop.utilization': "the event loop's busy share per worker, 0..1",
  'http.latency.p99': "the app's p99 latency in ms or like '200ms'",
  'http.inFlight': 'requests in flight per worker',
  'queue.waiting': 'waiting jobs per worker',
};

function readStep(s: Setting, r: Report): number | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= 1) return s.value;
  r.problem(s.key, `must be an integer >= 1 (workers added or removed at most per step); got ${show(s.value)}`);
  return undefined;
}
