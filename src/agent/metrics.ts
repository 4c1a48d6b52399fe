import { SHED } from './overload';
import { SELF_REQUEST } from './selfRequest';
import * as diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';
import { DeltaHistogram, Histogram } from '../metrics/histogram';
import { METRIC_NAME, statusClassIndex, type MetricsReport, type RouteDelta } from '../metrics/report';
import { OVERFLOW_ROUTE, PathCache } from '../metrics/route';
import type { CompletedRequest, HttpProbe } from './httpProbe';

export const REPORT_INTERVAL_MS = 1000;
/** Distinct method+route pairs a worker tracks; the rest count as route 'other'. */
export const MAX_ROUTES = 100;
/** Distinct custom metric names per kind; more are ignored (and said once on stderr). */
export const MAX_CUSTOM = 200;
/**
 * Period of the event-loop delay sampler, ms. A timer this often measures how
 * late it fires. perf_hooks.monitorEventLoopDelay does the same but measured
 * 3-6% more CPU per request for a hello-world worker under load on Node 20
 * (alternating on/off in one process); 50 timer callbacks a second cost nothing
 * measurable.
 */
const LOOP_SAMPLE_MS = 20;

export type CustomKind = 'counter' | 'gauge' | 'histogram';

/** Set on the raw request by the Fastify channel subscriber below. */
const FASTIFY_ROUTE = Symbol('herd.route');

interface RouteStats {
  method: string;
  route: string;
  /** One histogram per status class, created on first use; reset after each report. */
  byClass: (DeltaHistogram | null)[];
  /** Service time of the route's requests, all classes together. */
  service: DeltaHistogram;
  dirty: boolean;
}

/**
 * Everything a worker measures about itself, sent to the daemon once a
 * second. The per-request work is a few counter increments and one
 * histogram bucket increment for the app and one for the route.
 */
export class MetricsCollector {
  private requests = 0;
  /** What the client waited, as far as the worker can know: loop wait + service time. */
  private readonly latency = new DeltaHistogram();
  /** From the 'request' event to the response's end. */
  private readonly serviceTime = new DeltaHistogram();
  private readonly status = [0, 0, 0, 0, 0, 0];
  private shed = 0;
  private connections = 0;
  private readonly routes = new Map<string, Map<string, RouteStats>>();
  private routeCount = 0;
  private readonly paths = new PathCache();
  private readonly counters = new Map<string, number>();
  private readonly gauges = new Map<string, number>();
  private readonly histograms = new Map<string, DeltaHistogram>();
  private warnedCustom = false;

  private readonly loopDelay = new Histogram();
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private cpu = process.cpuUsage();
  private gcPauseMs = 0;
  private gcCount = 0;
  private lastReport = performance.now();
  private readonly cleanups: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly probe: HttpProbe, private readonly send: (report: MetricsReport) => void) {}

  start(): void {
    this.cleanups.push(this.probe.add(this.onRequest));
    let expected = performance.now() + LOOP_SAMPLE_MS;
    const sampler = setInterval(() => {
      const now = performance.now();
      this.loopDelay.observe(Math.max(0, now - expected));
      expected = now + LOOP_SAMPLE_MS;
    }, LOOP_SAMPLE_MS);
    sampler.unref();
    this.cleanups.push(() => clearInterval(sampler));

    const gc = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        this.gcPauseMs += entry.duration;
        this.gcCount++;
      }
    });
    gc.observe({ entryTypes: ['gc'] });
    this.cleanups.push(() => gc.disconnect());

    // Every accepted connection of any server in this worker, without touching the app's servers.
    const onSocket = (message: unknown) => {
      const socket = (message as { socket: Socket }).socket;
      this.connections++;
      socket.once('close', () => this.connections--);
    };
    diagnostics.subscribe('net.server.socket', onSocket);
    this.cleanups.push(() => diagnostics.unsubscribe('net.server.socket', onSocket));

    // Fastify (v5) publishes the matched route when it calls a handler.
    const onFastify = (message: unknown) => {
      const m = message as { request?: { raw?: IncomingMessage }; route?: { url?: unknown } };
      const raw = m.request?.raw;
      if (raw && typeof m.route?.url === 'string') (raw as unknown as Record<symbol, string>)[FASTIFY_ROUTE] = m.route.url;
    };
    diagnostics.subscribe('tracing:fastify.request.handler:start', onFastify);
    this.cleanups.push(() => diagnostics.unsubscribe('tracing:fastify.request.handler:start', onFastify));

    this.timer = setInterval(() => this.flush(), REPORT_INTERVAL_MS);
    // Metrics must never keep a worker alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.cleanups.splice(0)) c();
  }

  /** From the runtime API: metrics.counter(name).inc(n) and friends. */
  custom(kind: CustomKind, name: string, value: number): void {
    if (!Number.isFinite(value)) return;
    const map = kind === 'counter' ? this.counters : kind === 'gauge' ? this.gauges : this.histograms;
    if (!map.has(name)) {
      if (!METRIC_NAME.test(name)) return;
      if (map.size >= MAX_CUSTOM) {
        if (!this.warnedCustom) console.error(`herd: more than ${MAX_CUSTOM} custom ${kind}s; "${name}" and later ones are ignored`);
        this.warnedCustom = true;
        return;
      }
    }
    if (kind === 'counter') this.counters.set(name, (this.counters.get(name) ?? 0) + value);
    else if (kind === 'gauge') this.gauges.set(name, value);
    else {
      let h = this.histograms.get(name);
      if (!h) this.histograms.set(name, (h = new DeltaHistogram()));
      h.observe(value);
    }
  }

  private readonly onRequest = (r: CompletedRequest): void => {
    // herd's own per-worker health checks are not the app's traffic.
    if ((r.request?.socket as unknown as Record<symbol, unknown> | undefined)?.[SELF_REQUEST] === true) return;
    this.requests++;
    // Shed requests are real 503s for the client; counted as such and apart.
    if ((r.response as unknown as Record<symbol, unknown> | undefined)?.[SHED] === true) this.shed++;
    const latency = r.waitMs + r.durationMs;
    this.latency.observe(latency);
    this.serviceTime.observe(r.durationMs);
    const cls = statusClassIndex(r.status);
    this.status[cls] = (this.status[cls] ?? 0) + 1;
    const stats = this.routeStats(r.method, routeOf(r.request, r.url, this.paths));
    let h = stats.byClass[cls];
    if (!h) stats.byClass[cls] = h = new DeltaHistogram();
    h.observe(latency);
    stats.service.observe(r.durationMs);
    stats.dirty = true;
  };

  private routeStats(method: string, route: string): RouteStats {
    let byRoute = this.routes.get(method);
    if (!byRoute) this.routes.set(method, (byRoute = new Map()));
    let stats = byRoute.get(route);
    if (stats) return stats;
    if (this.routeCount >= MAX_ROUTES) {
      stats = byRoute.get(OVERFLOW_ROUTE);
      if (stats) return stats;
      route = OVERFLOW_ROUTE;
    }
    stats = { method, route, byClass: [null, null, null, null, null, null], service: new DeltaHistogram(), dirty: false };
    byRoute.set(route, stats);
    this.routeCount++;
    return stats;
  }

  /** Build the report of the interval that just ended and start the next one. */
  report(): MetricsReport {
    const now = performance.now();
    const intervalMs = now - this.lastReport;
    this.lastReport = now;

    const routes: RouteDelta[] = [];
    for (const byRoute of this.routes.values()) {
      for (const stats of byRoute.values()) {
        if (!stats.dirty) continue;
        stats.dirty = false;
        // The route's service time rides on its first class entry of the interval.
        let service: RouteDelta['serviceTime'] = stats.service.toWire();
        stats.service.reset();
        stats.byClass.forEach((h, cls) => {
          if (!h || h.empty) return;
          routes.push(service ? { method: stats.method, route: stats.route, cls, latency: h.toWire(), serviceTime: service } : { method: stats.method, route: stats.route, cls, latency: h.toWire() });
          service = undefined;
          h.reset();
        });
      }
    }

    const elu = performance.eventLoopUtilization(this.elu);
    this.elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage(this.cpu);
    this.cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    // Reset so each report shows the last interval's delays only.
    const d = this.loopDelay;
    const [p50, p99] = d.percentiles([0.5, 0.99]);
    const eventLoop = { p50: p50 ?? 0, p99: p99 ?? 0, max: d.max, utilization: elu.utilization };
    d.reset();

    const report: MetricsReport = {
      intervalMs,
      http: {
        requests: this.requests,
        latency: this.latency.toWire(),
        serviceTime: this.serviceTime.toWire(),
        status: [...this.status],
        shed: this.shed,
        inFlight: this.probe.inFlight,
        connections: this.connections,
      },
      routes,
      process: {
        cpuMs: (cpu.user + cpu.system) / 1000,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        gcPauseMs: this.gcPauseMs,
        gcCount: this.gcCount,
        activeHandles: activeHandles(),
      },
      eventLoop,
      custom: {
        counters: [...this.counters].filter(([, v]) => v !== 0),
        gauges: [...this.gauges],
        histograms: [...this.histograms].filter(([, h]) => !h.empty).map(([n, h]) => [n, h.toWire()]),
      },
    };
    this.requests = 0;
    this.shed = 0;
    this.latency.reset();
    this.serviceTime.reset();
    this.status.fill(0);
    this.gcPauseMs = 0;
    this.gcCount = 0;
    for (const k of this.counters.keys()) this.counters.set(k, 0);
    for (const h of this.histograms.values()) h.reset();
    return report;
  }

  /** Send the current interval now (on a timer, and once more before the worker exits). */
  flush(): void {
    this.send(this.report());
  }
}

/**
 * The route pattern the framework matched, when it left it where we can see
 * it: Express sets req.route (and req.baseUrl for mounted routers) on the raw
 * request; Fastify publishes it on a diagnostics channel. Otherwise the
 * normalised path.
 */
function routeOf(req: IncomingMessage, url: string, paths: PathCache): string {
  const fastify = (req as unknown as Record<symbol, string | undefined>)[FASTIFY_ROUTE];
  if (fastify !== undefined) return fastify;
  const express = req as IncomingMessage & { route?: { path?: unknown }; baseUrl?: unknown };
  const route = express.route;
  if (route && route.path !== undefined) {
    const p = typeof route.path === 'string' ? route.path : String(route.path);
    return typeof express.baseUrl === 'string' && express.baseUrl !== '' ? express.baseUrl + p : p;
  }
  return paths.get(url);
}

function activeHandles(): number {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
  return typeof info === 'function' ? info.call(process).length : 0;
}
