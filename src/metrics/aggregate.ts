import { Histogram } from './histogram';
import { STATUS_CLASSES, type MetricsReport } from './report';
import { OVERFLOW_ROUTE } from './route';
import { AppSeries, SERIES_FIELDS, type SeriesField } from './series';
import type {
  AppMetricsView, CustomView, EventLoopView, HttpView, JobQueueView, LatencyView, MemoryView, QueueView, RouteView, SeriesView, WorkerMetricsView,
} from './view';

/** Distinct method+route pairs the daemon keeps per app; the rest count as 'other'. */
export const MAX_APP_ROUTES = 200;
const MAX_CUSTOM = 500;
/** Closed seconds kept with their latency histogram, for alert windows. */
export const RECENT_SECONDS = 300;

interface RecentSecond {
  requests: number;
  errors: number;
  shed: number;
  latency: Histogram;
}

/** Seconds of history behind `rps`. */
const RPS_WINDOW = 5;

interface RouteAgg {
  method: string;
  route: string;
  /** Latency per status class (index as in STATUS_CLASSES). */
  byClass: (Histogram | null)[];
  /** Service time, all classes together. */
  service: Histogram;
}

/** Request counts, latency and routes since some start: an app's or one worker's. */
export class HttpTotals {
  requests = 0;
  /** Answered 503 by the overload guard, before app code. */
  shed = 0;
  readonly status = [0, 0, 0, 0, 0, 0];
  readonly latency = new Histogram();
  readonly serviceTime = new Histogram();
  readonly routes = new Map<string, RouteAgg>();

  constructor(private readonly maxRoutes = MAX_APP_ROUTES) {}

  add(report: MetricsReport): void {
    const h = report.http;
    this.requests += num(h.requests);
    this.shed += num(h.shed);
    if (Array.isArray(h.status)) for (let i = 0; i < 6; i++) this.status[i] = (this.status[i] ?? 0) + num(h.status[i]);
    if (h.latency) this.latency.mergeWire(h.latency);
    // An agent from before service time was split off measured only that.
    const service = h.serviceTime ?? h.latency;
    if (service) this.serviceTime.mergeWire(service);
    if (!Array.isArray(report.routes)) return;
    const old = h.serviceTime === undefined;
    for (const r of report.routes) {
      if (typeof r.method !== 'string' || typeof r.route !== 'string' || !r.latency) continue;
      const cls = Number.isInteger(r.cls) && r.cls >= 0 && r.cls < 6 ? r.cls : 0;
      const agg = this.route(r.method, r.route);
      let hist = agg.byClass[cls];
      if (!hist) agg.byClass[cls] = hist = new Histogram();
      hist.mergeWire(r.latency);
      const rs = old ? r.latency : r.serviceTime;
      if (rs) agg.service.mergeWire(rs);
    }
  }

  private route(method: string, route: string): RouteAgg {
    let agg = this.routes.get(`${method} ${route}`);
    if (agg) return agg;
    if (this.routes.size >= this.maxRoutes) {
      // Past the limit every new route counts as 'other' (one per method).
      route = OVERFLOW_ROUTE;
      agg = this.routes.get(`${method} ${route}`);
      if (agg) return agg;
    }
    agg = { method, route, byClass: [null, null, null, null, null, null], service: new Histogram() };
    this.routes.set(`${method} ${route}`, agg);
    return agg;
  }

  routeViews(): RouteView[] {
    const views: RouteView[] = [];
    for (const agg of this.routes.values()) {
      const merged = new Histogram();
      for (const h of agg.byClass) if (h) merged.merge(h);
      views.push({
        method: agg.method, route: agg.route, requests: merged.count, errors: agg.byClass[5]?.count ?? 0,
        latency: latencyView(merged), serviceTime: latencyView(agg.service),
      });
    }
    return views.sort((a, b) => b.requests - a.requests);
  }
}

/** What the daemon keeps about one worker process. */
class WorkerMetrics {
  readonly http = new HttpTotals(MAX_APP_ROUTES);
  last: MetricsReport | null = null;
  rps = 0;
  gcPauseMs = 0;
  gcCount = 0;
  gauges = new Map<string, number>();

  constructor(readonly slot: number, readonly pid: number) {}
}

export interface WorkerContext {
  id: number;
  pid: number | null;
  status: string;
  restarts: number;
  uptimeMs: number;
  /** From /proc, sampled by the daemon: works with metrics off too. */
  cpu: number;
  rss: number;
}

export interface AppContext {
  name: string;
  status: string;
  metrics: boolean;
  uptimeMs: number;
  restarts: number;
  workers: WorkerContext[];
}

/**
 * One app's metrics in the daemon. Workers report deltas; adding them to the
 * app's totals means a worker that dies or is replaced takes nothing with
 * it: totals never go down. Histograms are merged by adding bucket counts.
 */
export class AppMetrics {
  readonly http = new HttpTotals();
  private readonly workers = new Map<number, WorkerMetrics>();
  cpuMs = 0;
  gcPauseMs = 0;
  gcCount = 0;
  readonly counters = new Map<string, number>();
  readonly histograms = new Map<string, Histogram>();
  readonly series = new AppSeries();
  private secondRequests = 0;
  /** This second's responses by status class (index as in STATUS_CLASSES). */
  private readonly secondStatus = [0, 0, 0, 0, 0, 0];
  private secondShed = 0;
  /** The last RECENT_SECONDS closed seconds, newest last: what alert rules read. */
  private readonly recentSeconds: RecentSecond[] = [];
  private readonly secondLatency = new Histogram();
  private readonly minuteLatency = new Histogram();
  /** The kernel's queues in front of the app's port, sampled by the daemon; null when the app has no TCP port. */
  queue: QueueView | null = null;
  /** A queue app's BullMQ queue, read by the daemon; null for an app without `queue`. */
  jobs: JobQueueView | null = null;

  ingest(slot: number, pid: number, report: MetricsReport): void {
    if (!report || typeof report !== 'object' || !report.http) return;
    let w = this.workers.get(pid);
    if (!w) this.workers.set(pid, (w = new WorkerMetrics(slot, pid)));
    w.last = report;
    const requests = num(report.http.requests);
    w.rps = report.intervalMs > 0 ? requests / (report.intervalMs / 1000) : 0;
    w.http.add(report);
    this.http.add(report);

    this.secondRequests += requests;
    if (Array.isArray(report.http.status)) for (let i = 0; i < 6; i++) this.secondStatus[i] = (this.secondStatus[i] ?? 0) + num(report.http.status[i]);
    this.secondShed += num(report.http.shed);
    if (report.http.latency) {
      this.secondLatency.mergeWire(report.http.latency);
      this.minuteLatency.mergeWire(report.http.latency);
    }
    const p = report.process;
    if (p) {
      this.cpuMs += num(p.cpuMs);
      this.gcPauseMs += num(p.gcPauseMs);
      this.gcCount += num(p.gcCount);
      w.gcPauseMs += num(p.gcPauseMs);
      w.gcCount += num(p.gcCount);
    }
    const c = report.custom;
    if (c) {
      for (const [name, v] of c.counters ?? []) {
        if (this.counters.has(name) || this.counters.size < MAX_CUSTOM) this.counters.set(name, (this.counters.get(name) ?? 0) + num(v));
      }
      w.gauges = new Map((c.gauges ?? []).slice(0, MAX_CUSTOM).map(([n, v]) => [n, num(v)]));
      for (const [name, h] of c.histograms ?? []) {
        let agg = this.histograms.get(name);
        if (!agg && this.histograms.size >= MAX_CUSTOM) continue;
        if (!agg) this.histograms.set(name, (agg = new Histogram()));
        agg.mergeWire(h);
      }
    }
  }

  /** The process is gone: its counts stay in the app's totals, its gauges go. */
  workerExited(pid: number): void {
    this.workers.delete(pid);
  }

  /** Once a second: close the second's point of the time series. */
  /** `workers`: the app's worker count now (its slots); by default the workers that reported. */
  tick(now: number, cpu: number, memory: number, workers = this.workers.size): void {
    let eventLoopP99 = 0;
    let utilization = 0;
    for (const w of this.workers.values()) {
      eventLoopP99 = Math.max(eventLoopP99, num(w.last?.eventLoop?.p99));
      utilization += num(w.last?.eventLoop?.utilization);
    }
    const [p50, p90, p99] = this.secondLatency.percentiles([0.5, 0.9, 0.99]);
    const status = this.secondStatus;
    const errors = status[5] ?? 0;
    const closed = this.series.pushSecond(now, {
      requests: this.secondRequests,
      rps: this.secondRequests,
      p50: p50 ?? 0,
      p90: p90 ?? 0,
      p99: p99 ?? 0,
      s2xx: status[2] ?? 0,
      s3xx: status[3] ?? 0,
      s4xx: status[4] ?? 0,
      errors,
      shed: this.secondShed,
      cpu,
      memory,
      eventLoopP99,
      utilization: this.workers.size === 0 ? 0 : utilization / this.workers.size,
      workers,
    }, () => {
      const [m50, m90, m99] = this.minuteLatency.percentiles([0.5, 0.9, 0.99]);
      return { p50: m50 ?? 0, p90: m90 ?? 0, p99: m99 ?? 0 };
    });
    if (closed) this.minuteLatency.reset();
    const latency = new Histogram();
    latency.merge(this.secondLatency);
    this.recentSeconds.push({ requests: this.secondRequests, errors, shed: this.secondShed, latency });
    if (this.recentSeconds.length > RECENT_SECONDS) this.recentSeconds.shift();
    this.secondRequests = 0;
    status.fill(0);
    this.secondShed = 0;
    this.secondLatency.reset();
  }

  /**
   * Requests, errors, shed requests and the merged latency histogram of the
   * last `seconds` closed seconds (at most RECENT_SECONDS).
   */
  recent(seconds: number): { seconds: number; requests: number; errors: number; shed: number; latency: Histogram } {
    const take = this.recentSeconds.slice(-Math.max(1, Math.min(RECENT_SECONDS, Math.round(seconds))));
    const latency = new Histogram();
    let requests = 0;
    let errors = 0;
    let shed = 0;
    for (const s of take) {
      requests += s.requests;
      errors += s.errors;
      shed += s.shed;
      latency.merge(s.latency);
    }
    return { seconds: take.length, requests, errors, shed, latency };
  }

  /** Requests per second over the last few seconds of the series. */
  rps(): number {
    const { values } = this.series.seconds.last('requests', RPS_WINDOW);
    return values.length === 0 ? 0 : round(values.reduce((a, b) => a + b, 0) / values.length);
  }

  /** The last `points` points at one resolution, oldest first; with `since`, only those after it (epoch ms). */
  seriesView(resolution: 'seconds' | 'minutes', points: number, since: number | null = null): SeriesView {
    const ring = resolution === 'seconds' ? this.series.seconds : this.series.minutes;
    const { times, columns } = ring.lastAll(points);
    const from = since === null ? 0 : times.findIndex((t) => t > since);
    const skip = from === -1 ? times.length : from;
    const view = Object.fromEntries(SERIES_FIELDS.map((f) => [f, columns[f].slice(skip).map(round)])) as Record<SeriesField, number[]>;
    return { step: resolution === 'seconds' ? 1 : 60, times: times.slice(skip), ...view };
  }

  /** Live workers' metrics by pid (for Prometheus). */
  workerReports(): { slot: number; pid: number; report: MetricsReport | null; gauges: Map<string, number> }[] {
    return [...this.workers.values()].map((w) => ({ slot: w.slot, pid: w.pid, report: w.last, gauges: w.gauges }));
  }

  /** Custom gauges summed over live workers. */
  gauges(): Map<string, number> {
    const sum = new Map<string, number>();
    for (const w of this.workers.values()) for (const [n, v] of w.gauges) sum.set(n, (sum.get(n) ?? 0) + v);
    return sum;
  }

  /** The app's view, or one worker's with `workerId`. */
  view(ctx: AppContext, workerId: number | null = null): AppMetricsView {
    const workers = ctx.workers.filter((w) => workerId === null || w.id === workerId);
    const workerViews = workers.map((w) => this.workerView(w));
    const live = workers.map((w) => (w.pid === null ? undefined : this.workers.get(w.pid))).filter((w): w is WorkerMetrics => w !== undefined);
    const one = workerId === null ? null : (live[0] ?? null);
    const totals = workerId === null ? this.http : (one?.http ?? new HttpTotals());
    const http: HttpView = {
      ...httpView(totals),
      rps: workerId === null ? this.rps() : round(one?.rps ?? 0),
      inFlight: sum(live.map((w) => num(w.last?.http.inFlight))),
      connections: sum(live.map((w) => num(w.last?.http.connections))),
      // The kernel's queues are the app's (one listening socket), not a worker's.
      ...(workerId === null && this.queue !== null ? { queue: { ...this.queue } } : {}),
    };
    const custom: CustomView = workerId === null
      ? {
          counters: Object.fromEntries(this.counters),
          gauges: Object.fromEntries(this.gauges()),
          histograms: Object.fromEntries([...this.histograms].map(([n, h]) => [n, customHistogram(h)])),
        }
      : { counters: {}, gauges: Object.fromEntries(one?.gauges ?? []), histograms: {} };
    return {
      name: ctx.name,
      status: workerId === null ? ctx.status : (workers[0]?.status ?? 'unknown'),
      metrics: ctx.metrics,
      worker: workerId,
      uptimeMs: workerId === null ? ctx.uptimeMs : (workers[0]?.uptimeMs ?? 0),
      restarts: workerId === null ? ctx.restarts : (workers[0]?.restarts ?? 0),
      http,
      routes: totals.routeViews(),
      eventLoop: worstEventLoop(live),
      cpu: round(sum(workers.map((w) => w.cpu))),
      memory: {
        rss: sum(workers.map((w) => w.rss)),
        heapUsed: sum(live.map((w) => num(w.last?.process?.heapUsed))),
        heapTotal: sum(live.map((w) => num(w.last?.process?.heapTotal))),
      },
      gc: workerId === null
        ? { pauseMs: round(this.gcPauseMs), count: this.gcCount }
        : { pauseMs: round(one?.gcPauseMs ?? 0), count: one?.gcCount ?? 0 },
      activeHandles: sum(live.map((w) => num(w.last?.process?.activeHandles))),
      custom,
      workers: workerViews,
      ...(workerId === null && this.jobs !== null ? { jobs: { ...this.jobs, duration: this.jobs.duration && { ...this.jobs.duration } } } : {}),
    };
  }

  private workerView(w: WorkerContext): WorkerMetricsView {
    const m = w.pid === null ? undefined : this.workers.get(w.pid);
    const last = m?.last ?? null;
    const memory: MemoryView = { rss: w.rss, heapUsed: num(last?.process?.heapUsed), heapTotal: num(last?.process?.heapTotal) };
    return {
      id: w.id,
      pid: w.pid,
      status: w.status,
      restarts: w.restarts,
      uptimeMs: w.uptimeMs,
      cpu: w.cpu,
      memory,
      http: {
        ...httpView(m?.http ?? new HttpTotals()),
        rps: round(m?.rps ?? 0),
        inFlight: num(last?.http.inFlight),
        connections: num(last?.http.connections),
      },
      eventLoop: worstEventLoop(m ? [m] : []),
      gc: { pauseMs: round(m?.gcPauseMs ?? 0), count: m?.gcCount ?? 0 },
      activeHandles: num(last?.process?.activeHandles),
    };
  }
}

function httpView(t: HttpTotals): HttpView {
  const s = t.status;
  return {
    requests: t.requests,
    shed: t.shed,
    rps: 0,
    inFlight: 0,
    connections: 0,
    latency: latencyView(t.latency),
    serviceTime: latencyView(t.serviceTime),
    status: { '1xx': s[1] ?? 0, '2xx': s[2] ?? 0, '3xx': s[3] ?? 0, '4xx': s[4] ?? 0, '5xx': s[5] ?? 0, aborted: s[0] ?? 0 },
  };
}

export function latencyView(h: Histogram): LatencyView {
  const [p50, p90, p99] = h.percentiles([0.5, 0.9, 0.99]);
  return { p50: round(p50 ?? 0), p90: round(p90 ?? 0), p99: round(p99 ?? 0), max: round(h.max) };
}

function customHistogram(h: Histogram) {
  return { count: h.count, sum: round(h.sum), ...latencyView(h) };
}

function worstEventLoop(workers: WorkerMetrics[]): EventLoopView {
  const loops = workers.map((w) => w.last?.eventLoop).filter((e): e is MetricsReport['eventLoop'] => !!e);
  if (loops.length === 0) return { delay: { p50: 0, p99: 0, max: 0 }, utilization: 0 };
  return {
    delay: {
      p50: round(Math.max(...loops.map((l) => num(l.p50)))),
      p99: round(Math.max(...loops.map((l) => num(l.p99)))),
      max: round(Math.max(...loops.map((l) => num(l.max)))),
    },
    utilization: Math.round((sum(loops.map((l) => num(l.utilization))) / loops.length) * 1000) / 1000,
  };
}

/** Reports come from worker processes: anything not a finite number counts as 0. */
function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

export { STATUS_CLASSES };
