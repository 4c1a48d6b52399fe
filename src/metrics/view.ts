import type { AutoscaleView } from '../protocol/autoscale';
import type { SeriesField } from './series';

/**
 * What `herd metrics --json` prints and `herd monit` draws. Times in ms,
 * memory in bytes, CPU in % of one core.
 */
export interface LatencyView {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface StatusView {
  '1xx': number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  /** The client went away before a response was sent. */
  aborted: number;
}

export interface HttpView {
  /** Every request since the app (or, for a worker, the worker) started. */
  requests: number;
  /** Of `requests`, those shed with 503 + Retry-After by the overload guard. */
  shed: number;
  /** Requests per second over the last few seconds. */
  rps: number;
  inFlight: number;
  connections: number;
  /**
   * The kernel's queues in front of the app's port (app view only; absent
   * when the app has no TCP port or the daemon could not read them).
   */
  queue?: QueueView;
  /**
   * Since start. What the client waited, as far as herd can know inside the
   * worker: the time the request waited for the event loop, plus serviceTime.
   */
  latency: LatencyView;
  /** Since start. From the 'request' event to the response's end: the handler's own time. */
  serviceTime: LatencyView;
  status: StatusView;
}

/** From /proc/net/tcp and tcp6, sampled once a second by the daemon. */
export interface QueueView {
  /** Connections the kernel accepted that no worker took yet (the listening socket's accept queue). */
  accept: number;
  /** Accepted connections to the port with bytes no worker has read yet. */
  unread: number;
}

/** A queue app's BullMQ queue, read by the daemon from Redis (docs/queues.md). */
export interface JobQueueView {
  waiting: number;
  active: number;
  delayed: number;
  /** Waiting with a priority (BullMQ keeps them apart from `waiting`). */
  prioritized: number;
  failed: number;
  completed: number;
  /** Job run time (processedOn to finishedOn) of jobs finished lately, ms; null before any. */
  duration: { p50: number; p99: number; count: number } | null;
  /** Epoch ms of the read; null when Redis could not be read (`error` says why). */
  at: number | null;
  error: string | null;
}

export interface RouteView {
  method: string;
  route: string;
  requests: number;
  /** 5xx responses. */
  errors: number;
  latency: LatencyView;
  serviceTime: LatencyView;
}

export interface EventLoopView {
  /** Over the last report interval (1 s). */
  delay: { p50: number; p99: number; max: number };
  /** 0..1 over the last report interval. */
  utilization: number;
}

export interface MemoryView {
  rss: number;
  heapUsed: number;
  heapTotal: number;
}

export interface CustomHistogramView {
  count: number;
  sum: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface CustomView {
  counters: Record<string, number>;
  gauges: Record<string, number>;
  histograms: Record<string, CustomHistogramView>;
}

export interface WorkerMetricsView {
  id: number;
  pid: number | null;
  status: string;
  restarts: number;
  uptimeMs: number;
  cpu: number;
  memory: MemoryView;
  http: HttpView;
  eventLoop: EventLoopView;
  gc: { pauseMs: number; count: number };
  activeHandles: number;
}

export interface AppMetricsView {
  name: string;
  status: string;
  /** False when the app runs with `metrics: false` (only cpu, memory, restarts, uptime). */
  metrics: boolean;
  /** The worker id asked for with --worker, or null for the whole app. */
  worker: number | null;
  uptimeMs: number;
  restarts: number;
  http: HttpView;
  /** Busiest first. */
  routes: RouteView[];
  /** The worst worker's (delay does not add up across processes); utilization is the mean. */
  eventLoop: EventLoopView;
  cpu: number;
  memory: MemoryView;
  /** GC pause time and count since the app started. */
  gc: { pauseMs: number; count: number };
  activeHandles: number;
  custom: CustomView;
  workers: WorkerMetricsView[];
  /** A queue app's BullMQ queue (app view only; absent for an app without `queue`). */
  jobs?: JobQueueView;
}

/** Columns of an app's time series, oldest first; `times` in epoch ms. */
export type SeriesView = { step: number; times: number[] } & Record<SeriesField, number[]>;

export interface MonitApp extends AppMetricsView {
  series: SeriesView;
  /** An app with `instances: { min, max }`: mode, range and last scale steps (docs/autoscaling.md); absent or null otherwise. */
  autoscale?: AutoscaleView | null;
}
