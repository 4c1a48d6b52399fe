/**
 * What apps import: `const { ready, onShutdown, metrics } = require('herd-runtime')`.
 * Inside a herd worker these reach the agent; outside herd they do nothing,
 * so the same code runs under plain node.
 */
import type { AgentApi, CustomMetricKind, ShutdownHook } from '../agent/agent';

const AGENT_GLOBAL = Symbol.for('herd.agent');

function agent(): AgentApi | undefined {
  return (globalThis as Record<symbol, AgentApi | undefined>)[AGENT_GLOBAL];
}

/** True when running as a herd worker. */
export function isHerd(): boolean {
  return agent() !== undefined;
}

/** Tell herd this worker is ready for traffic (apps with waitReady / wait_ready). */
export function ready(): void {
  agent()?.ready();
}

/**
 * Run `hook` when herd stops this worker, after its HTTP servers have drained
 * and before it exits (close database pools here). May return a promise.
 */
export function onShutdown(hook: ShutdownHook): void {
  agent()?.onShutdown(hook);
}

/** This worker's app name and id under herd, or null outside herd. */
export function worker(): { app: string; id: number } | null {
  const a = agent();
  return a ? { app: a.appName, id: a.workerId } : null;
}

export interface Counter {
  /** Add `n` (default 1; negative values are ignored). */
  inc(n?: number): void;
}
export interface Gauge {
  set(value: number): void;
}
export interface HistogramMetric {
  /** Record one value (e.g. a duration in ms). */
  observe(value: number): void;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const handles = new Map<string, Counter | Gauge | HistogramMetric>();

function handle<T extends Counter | Gauge | HistogramMetric>(kind: CustomMetricKind, name: string, make: () => T): T {
  const key = `${kind} ${name}`;
  let h = handles.get(key);
  if (!h) {
    // Checked here, inside herd or not, so a bad name fails in development too.
    if (typeof name !== 'string' || !METRIC_NAME.test(name) || name.startsWith('herd_')) {
      throw new TypeError(`herd metrics: invalid name ${JSON.stringify(name)}: use letters, digits, '_' and ':', not starting with a digit or 'herd_'`);
    }
    handles.set(key, (h = make()));
  }
  return h as T;
}

/**
 * Custom metrics, shown by `herd metrics` and exported to Prometheus with the
 * app's name as a label. Workers' values are summed per app (gauges too).
 * No-ops outside herd and when the app runs with `metrics: false`.
 */
export const metrics = {
  counter(name: string): Counter {
    return handle('counter', name, () => ({
      inc: (n = 1) => {
        if (n > 0) agent()?.customMetric('counter', name, n);
      },
    }));
  },
  gauge(name: string): Gauge {
    return handle('gauge', name, () => ({ set: (v: number) => agent()?.customMetric('gauge', name, v) }));
  },
  histogram(name: string): HistogramMetric {
    return handle('histogram', name, () => ({ observe: (v: number) => agent()?.customMetric('histogram', name, v) }));
  },
};

export type { ShutdownHook };
