/**
 * Prometheus text exposition (format 0.0.4) of every app's aggregate. Pure:
 * it reads what the daemon already holds, so a scrape never waits on a
 * worker and a dead worker cannot fail it.
 */
import { Histogram } from './histogram';
import type { MetricsReport } from './report';
import { STATUS_CLASSES } from './report';
import type { JobQueueView } from './view';

/** Standard latency buckets, seconds. */
export const LE_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface PromRoute {
  method: string;
  route: string;
  /** Latency per status class, index as in STATUS_CLASSES. */
  byClass: (Histogram | null)[];
  /** Service time, all classes together. */
  service: Histogram;
}

export interface PromWorker {
  worker: number;
  cpuPercent: number;
  rss: number;
  report: MetricsReport | null;
}

export interface PromApp {
  app: string;
  status: string;
  metrics: boolean;
  restarts: number;
  uptimeMs: number;
  routes: Iterable<PromRoute>;
  inFlight: number;
  connections: number;
  /** The kernel's queues in front of the app's port; null when it has none. */
  queue: { accept: number; unread: number } | null;
  /** Requests shed by the overload guard since the app started. */
  shed: number;
  cpuMs: number;
  gcPauseMs: number;
  gcCount: number;
  workers: PromWorker[];
  counters: Map<string, number>;
  gauges: Map<string, number>;
  histograms: Map<string, Histogram>;
  /** A queue app's BullMQ queue as the daemon last read it; null or absent for other apps. */
  jobs?: JobQueueView | null;
}

/** The job states herd reads of a queue app's queue, as herd_queue_jobs' `state` label. */
export const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

export const APP_STATUSES = ['launching', 'online', 'reloading', 'stopping', 'stopped', 'errored'];

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string | number>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function fmt(v: number): string {
  if (v === Infinity) return '+Inf';
  if (!Number.isFinite(v)) return '0';
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e9) / 1e9);
}

class Family {
  readonly lines: string[] = [];
  constructor(readonly name: string, readonly type: 'counter' | 'gauge' | 'histogram', readonly help: string) {}
  add(suffix: string, l: Record<string, string | number>, v: number): void {
    this.lines.push(`${this.name}${suffix}${labels(l)} ${fmt(v)}`);
  }
  text(): string {
    return this.lines.length === 0 ? '' : `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n${this.lines.join('\n')}\n`;
  }
}

/** Buckets of custom histograms, in the app's own unit (ms are the common case). */
export const LE_CUSTOM = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** `h` holds ms (latency) or app units (custom, `unit` = 1): `le` values are in seconds or app units. */
function histogram(f: Family, l: Record<string, string | number>, h: Histogram, les: readonly number[], msPerUnit: number): void {
  for (const le of les) f.add('_bucket', { ...l, le: fmt(le) }, h.countAtMost(le * msPerUnit));
  f.add('_bucket', { ...l, le: '+Inf' }, h.count);
  f.add('_sum', l, h.sum / msPerUnit);
  f.add('_count', l, h.count);
}

export function renderPrometheus(apps: readonly PromApp[]): string {
  const F = {
    up: new Family('herd_app_up', 'gauge', 'Whether every worker of the app is online (1) or not (0).'),
    status: new Family('herd_app_status', 'gauge', 'The app status: 1 for the current one.'),
    workers: new Family('herd_app_workers', 'gauge', 'Workers of the app.'),
    restarts: new Family('herd_app_restarts_total', 'counter', 'Worker restarts of the app.'),
    uptime: new Family('herd_app_uptime_seconds', 'gauge', 'Seconds since the app was created.'),
    requests: new Family('herd_http_requests_total', 'counter', 'HTTP requests finished, by route, method and status class (aborted = no response sent).'),
    duration: new Family('herd_http_request_duration_seconds', 'histogram', 'HTTP request latency as the client saw it, as far as the worker can know: time waiting for the event loop plus service time.'),
    service: new Family('herd_http_request_service_seconds', 'histogram', 'HTTP request service time: from the request event to the response end, by route and method.'),
    acceptQueue: new Family('herd_http_accept_queue', 'gauge', 'Connections in the kernel\'s accept queue of the app\'s listening sockets, not yet taken by a worker.'),
    unread: new Family('herd_http_unread_connections', 'gauge', 'Accepted connections to the app\'s port with received bytes no worker has read yet.'),
    shed: new Family('herd_http_requests_shed_total', 'counter', 'HTTP requests answered 503 + Retry-After by the overload guard before app code (also in herd_http_requests_total).'),
    inFlight: new Family('herd_http_requests_in_flight', 'gauge', 'HTTP requests being served.'),
    connections: new Family('herd_http_open_connections', 'gauge', 'Open connections to the app\'s servers.'),
    cpuSeconds: new Family('herd_process_cpu_seconds_total', 'counter', 'CPU time used by the app\'s workers (user + system).'),
    cpu: new Family('herd_process_cpu_percent', 'gauge', 'CPU use of a worker, percent of one core.'),
    rss: new Family('herd_process_resident_memory_bytes', 'gauge', 'Resident memory of a worker.'),
    heapUsed: new Family('herd_nodejs_heap_used_bytes', 'gauge', 'V8 heap used by a worker.'),
    heapTotal: new Family('herd_nodejs_heap_total_bytes', 'gauge', 'V8 heap size of a worker.'),
    handles: new Family('herd_nodejs_active_handles', 'gauge', 'Active libuv handles and requests of a worker.'),
    elDelay: new Family('herd_nodejs_eventloop_delay_seconds', 'gauge', 'Event loop delay of a worker over the last second, by quantile.'),
    elu: new Family('herd_nodejs_eventloop_utilization_ratio', 'gauge', 'Event loop utilisation of a worker over the last second.'),
    gc: new Family('herd_nodejs_gc_pause_seconds_total', 'counter', 'Time the app\'s workers spent in GC pauses.'),
    gcCount: new Family('herd_nodejs_gc_runs_total', 'counter', 'GC runs of the app\'s workers.'),
    queueUp: new Family('herd_queue_up', 'gauge', 'Whether the daemon\'s last read of a queue app\'s BullMQ queue in Redis worked (1) or not (0).'),
    queueJobs: new Family('herd_queue_jobs', 'gauge', 'Jobs in a queue app\'s BullMQ queue by state, as last read from Redis.'),
    jobDuration: new Family('herd_queue_job_duration_seconds', 'gauge', 'Run time (processedOn to finishedOn) of the newest completed jobs of a queue app\'s queue, by quantile.'),
  };
  const custom = new Map<string, Family>();
  const customFamily = (name: string, type: Family['type']) => {
    let f = custom.get(name);
    if (!f) custom.set(name, (f = new Family(name, type, `Custom ${type} from the app.`)));
    return f.type === type ? f : null;
  };

  for (const a of apps) {
    const app = { app: a.app };
    F.up.add('', app, a.status === 'online' ? 1 : 0);
    for (const s of APP_STATUSES) F.status.add('', { ...app, status: s }, a.status === s ? 1 : 0);
    F.workers.add('', app, a.workers.length);
    F.restarts.add('', app, a.restarts);
    F.uptime.add('', app, a.uptimeMs / 1000);
    for (const w of a.workers) {
      const wl = { ...app, worker: w.worker };
      F.cpu.add('', wl, w.cpuPercent);
      F.rss.add('', wl, w.rss);
    }
    if (a.jobs) {
      F.queueUp.add('', app, a.jobs.at === null ? 0 : 1);
      for (const state of JOB_STATES) F.queueJobs.add('', { ...app, state }, a.jobs[state]);
      if (a.jobs.duration) {
        F.jobDuration.add('', { ...app, quantile: '0.5' }, a.jobs.duration.p50 / 1000);
        F.jobDuration.add('', { ...app, quantile: '0.99' }, a.jobs.duration.p99 / 1000);
      }
    }
    if (!a.metrics) continue;
    for (const r of a.routes) {
      r.byClass.forEach((h, cls) => {
        if (!h || h.count === 0) return;
        const l = { ...app, route: r.route, method: r.method, status_class: STATUS_CLASSES[cls] ?? 'aborted' };
        F.requests.add('', l, h.count);
        histogram(F.duration, l, h, LE_SECONDS, 1000);
      });
      if (r.service.count > 0) histogram(F.service, { ...app, route: r.route, method: r.method }, r.service, LE_SECONDS, 1000);
    }
    if (a.queue) {
      F.acceptQueue.add('', app, a.queue.accept);
      F.unread.add('', app, a.queue.unread);
    }
    F.inFlight.add('', app, a.inFlight);
    F.shed.add('', app, a.shed);
    F.connections.add('', app, a.connections);
    F.cpuSeconds.add('', app, a.cpuMs / 1000);
    F.gc.add('', app, a.gcPauseMs / 1000);
    F.gcCount.add('', app, a.gcCount);
    for (const w of a.workers) {
      const rep = w.report;
      if (!rep) continue;
      const wl = { ...app, worker: w.worker };
      F.heapUsed.add('', wl, rep.process.heapUsed);
      F.heapTotal.add('', wl, rep.process.heapTotal);
      F.handles.add('', wl, rep.process.activeHandles);
      F.elDelay.add('', { ...wl, quantile: '0.5' }, rep.eventLoop.p50 / 1000);
      F.elDelay.add('', { ...wl, quantile: '0.99' }, rep.eventLoop.p99 / 1000);
      F.elDelay.add('', { ...wl, quantile: '1' }, rep.eventLoop.max / 1000);
      F.elu.add('', wl, rep.eventLoop.utilization);
    }
    for (const [name, v] of a.counters) customFamily(name.endsWith('_total') ? name : `${name}_total`, 'counter')?.add('', app, v);
    for (const [name, v] of a.gauges) customFamily(name, 'gauge')?.add('', app, v);
    for (const [name, h] of a.histograms) {
      const f = customFamily(name, 'histogram');
      if (f) histogram(f, app, h, LE_CUSTOM, 1);
    }
  }
  return [...Object.values(F), ...custom.values()].map((f) => f.text()).join('');
}
