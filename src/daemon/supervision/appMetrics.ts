import { HerdError } from '../../errors';
import type { LocalApp } from '../../fleet/types';
import type { AppContext } from '../../metrics/aggregate';
import type { PromApp } from '../../metrics/prometheus';
import type { AppMetricsView, MonitApp } from '../../metrics/view';
import type { App } from './app';
import { appQueue, familyOf, readQueues } from './kernelQueues';

/*
 * What the metrics views, the monitor and Prometheus read of an app: its
 * totals (App.metrics) joined with its workers as they are now.
 */

/** `herd metrics`: the whole app, or the current worker of one slot. */
export function metricsView(app: App, worker: number | null): AppMetricsView {
  if (worker !== null && !app.slots.some((s) => s.id === worker)) {
    throw new HerdError('HERD_ERR_WORKER_NOT_FOUND', { name: app.name, worker });
  }
  return app.metrics.view(metricsContext(app, worker !== null), worker);
}

export function monitView(app: App): MonitApp {
  return { ...app.metrics.view(metricsContext(app, false)), series: app.metrics.seriesView('seconds', 60) };
}

/**
 * Once a second, before the metrics tick: the kernel's queues in front of
 * each app with a TCP port whose workers are busy (one read of
 * /proc/net/tcp and/or tcp6 for all of them). The read costs the kernel a
 * walk of its whole connection table, so an app whose every worker reported
 * its loop mostly idle (utilisation under QUEUE_BUSY) and nothing in flight
 * is not read: its queues count as empty, since an idle loop accepts and
 * reads at once.
 */
export async function sampleQueues(apps: readonly App[]): Promise<void> {
  const plans = apps.map((app) => {
    const addresses = app.spec.metrics === false ? [] : app.listening().filter((a) => tcpPorts([a]).length > 0);
    const reports = app.metrics.workerReports().map((w) => w.report);
    const busy = reports.some((r) => r !== null && ((r.eventLoop?.utilization ?? 0) >= QUEUE_BUSY || (r.http?.inFlight ?? 0) > 0));
    return { app, addresses, ports: tcpPorts(addresses), busy };
  });
  const read = plans.filter((p) => p.busy && p.ports.length > 0);
  const ports = new Set(read.flatMap((p) => p.ports));
  const families = { v4: read.some((p) => p.addresses.some((a) => familyOf(a) === 'v4')), v6: read.some((p) => p.addresses.some((a) => familyOf(a) === 'v6')) };
  const all = ports.size === 0 ? null : await readQueues(ports, families);
  for (const p of plans) {
    p.app.metrics.queue = p.ports.length === 0 ? null : p.busy ? appQueue(p.ports, all) : { accept: 0, unread: 0 };
  }
}

/** Event-loop utilisation from which a worker counts as busy enough for its app's queues to be read. */
export const QUEUE_BUSY = 0.5;

/** Once a second, from the supervisor's sampler: close the second's point of the series. */
export function tickMetrics(app: App, now: number): void {
  const workers = app.info().workers;
  app.metrics.tick(now, workers.reduce((n, w) => n + w.cpu, 0), workers.reduce((n, w) => n + w.memory, 0), app.stopped ? 0 : app.slots.length);
}

export function promApp(app: App, now = Date.now()): PromApp {
  const info = app.info();
  const reports = new Map(app.metrics.workerReports().map((r) => [r.pid, r]));
  const live = info.workers.filter((w) => w.pid !== null);
  return {
    app: app.name,
    status: info.status,
    metrics: app.spec.metrics !== false,
    restarts: app.totalRestarts,
    uptimeMs: now - app.createdAt,
    routes: app.metrics.http.routes.values(),
    inFlight: [...reports.values()].reduce((n, r) => n + (r.report?.http.inFlight ?? 0), 0),
    connections: [...reports.values()].reduce((n, r) => n + (r.report?.http.connections ?? 0), 0),
    queue: app.metrics.queue,
    shed: app.metrics.http.shed,
    cpuMs: app.metrics.cpuMs,
    gcPauseMs: app.metrics.gcPauseMs,
    gcCount: app.metrics.gcCount,
    workers: live.map((w) => ({ worker: w.id, cpuPercent: w.cpu, rss: w.memory, report: reports.get(w.pid as number)?.report ?? null })),
    counters: app.metrics.counters,
    gauges: app.metrics.gauges(),
    histograms: app.metrics.histograms,
    jobs: app.metrics.jobs,
  };
}

/** With `currentOnly`, a slot's replacement and draining old workers are left out (one worker per id). */
function metricsContext(app: App, currentOnly: boolean): AppContext {
  const workers = app.info().workers.filter((w, i, all) => !currentOnly || all.findIndex((x) => x.id === w.id) === i);
  return {
    name: app.name,
    status: app.status,
    metrics: app.spec.metrics !== false,
    uptimeMs: Date.now() - app.createdAt,
    restarts: app.totalRestarts,
    workers: workers.map((w) => ({ id: w.id, pid: w.pid, status: w.status, restarts: w.restarts, uptimeMs: w.uptimeMs, cpu: w.cpu, rss: w.memory })),
  };
}

/** The app as this host publishes it to its fleet each second (the fleet member adds the code revision). */
export function fleetApp(app: App): LocalApp {
  const info = app.info();
  const recent = app.metrics.recent(10);
  const seconds = Math.max(1, recent.seconds);
  return {
    name: app.name,
    status: info.status,
    workers: app.slots.length,
    online: app.slots.filter((s) => s.status === 'online').length,
    rps: recent.requests / seconds,
    p99: recent.latency.percentile(0.99),
    errorRate: recent.requests > 0 ? recent.errors / recent.requests : 0,
    cpu: info.workers.reduce((n, w) => n + w.cpu, 0),
    memory: info.workers.reduce((n, w) => n + w.memory, 0),
    latency: recent.latency.toWire(),
    ports: tcpPorts(app.listening()),
    healthPath: app.spec.healthCheck?.path ?? null,
    cwd: app.spec.cwd,
    script: app.spec.script,
  };
}

/** The TCP ports among listening addresses (`[::]:8080`, `0.0.0.0:3000`; a pipe's path is not one), each once, ascending. */
export function tcpPorts(listening: readonly string[]): number[] {
  const ports = new Set<number>();
  for (const address of listening) {
    const m = /^(?:\[[0-9a-fA-F:.%\w]*\]|[^/\\:]*):(\d{1,5})$/.exec(address);
    const port = m ? Number(m[1]) : 0;
    if (port > 0 && port < 65536) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}
