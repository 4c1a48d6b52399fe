import type { WireHistogram } from './histogram';

/**
 * What a worker's agent sends the daemon once a second. HTTP figures are
 * deltas since the previous report, so the daemon's totals are plain sums
 * and never go down when a worker is replaced; gauges (in flight, memory,
 * event loop) are the current values.
 */
export interface MetricsReport {
  /** ms covered by the deltas. */
  intervalMs: number;
  http: {
    /** Requests finished (or aborted) in the interval. */
    requests: number;
    /**
     * Latency of those requests as the client saw it, as far as the worker
     * can know: the time the request waited for the event loop before Node
     * read it, plus the service time.
     */
    latency: WireHistogram;
    /** Service time: from the 'request' event to the response's end. Optional: older agents omit it (their latency is this). */
    serviceTime?: WireHistogram;
    /** Counts by status class: index 0 = no response (client went away), 1 = 1xx ... 5 = 5xx. */
    status: number[];
    /** Of `requests`, those the overload guard answered 503 before app code. Optional: older agents omit it. */
    shed?: number;
    inFlight: number;
    /** Open connections to the worker's servers. */
    connections: number;
  };
  /** Per route and status class, only those with requests in the interval. */
  routes: RouteDelta[];
  process: {
    /** CPU time used in the interval, ms (user + system). */
    cpuMs: number;
    rss: number;
    heapUsed: number;
    heapTotal: number;
    /** GC pause time in the interval, ms. */
    gcPauseMs: number;
    gcCount: number;
    activeHandles: number;
  };
  eventLoop: {
    /** Delay percentiles over the interval, ms. */
    p50: number;
    p99: number;
    max: number;
    /** 0..1 over the interval. */
    utilization: number;
  };
  custom: {
    /** [name, increment in the interval] */
    counters: [string, number][];
    /** [name, current value] */
    gauges: [string, number][];
    /** [name, observations in the interval] */
    histograms: [string, WireHistogram][];
  };
}

export interface RouteDelta {
  method: string;
  route: string;
  /** Status class index as in http.status. */
  cls: number;
  latency: WireHistogram;
  /** The route's service time over all classes: on one of its entries per interval. Optional: older agents omit it. */
  serviceTime?: WireHistogram;
}

export const STATUS_CLASSES = ['aborted', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export function statusClassIndex(status: number): number {
  if (status <= 0) return 0;
  const c = Math.floor(status / 100);
  return c < 1 ? 1 : c > 5 ? 5 : c;
}

/** Custom metric names follow Prometheus' rules so they export unchanged. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
