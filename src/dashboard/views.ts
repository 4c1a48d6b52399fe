import * as os from 'node:os';
import type { AppMetricsView, SeriesView } from '../metrics/view';
import type { AlertsView, AppDetail } from '../protocol/control';
import { HERD_VERSION } from '../protocol/version';
import { RECENT_SECONDS, SLOW_ROUTES, WINDOWS, type AppPageView, type OverviewApp, type OverviewView } from './apiTypes';

/** What the dashboard reads of the supervisor. */
export interface DashboardSource {
  names(): string[];
  describe(name: string): Promise<AppDetail>;
  metrics(name: string, worker: number | null): AppMetricsView;
  series(name: string, windowSeconds: number, since: number | null): SeriesView;
  recent(name: string, seconds: number): { requests: number; errors: number; seconds: number; p99: number | null };
  readonly alerts: { view(): AlertsView };
}

/** `startedAt`: when the supervisor started (epoch ms). */
export async function overviewView(source: DashboardSource, startedAt: number): Promise<OverviewView> {
  const alerts = source.alerts.view().active;
  const apps: OverviewApp[] = [];
  for (const name of source.names()) {
    let detail: AppDetail;
    try {
      detail = await source.describe(name);
    } catch {
      continue; // deleted meanwhile
    }
    const recent = source.recent(name, RECENT_SECONDS);
    const current = detail.workers.filter((w) => w.status !== 'draining');
    apps.push({
      name,
      status: detail.status,
      reason: detail.reason,
      metrics: detail.metrics,
      workers: { online: current.filter((w) => w.status === 'online').length, total: detail.instances },
      rps: recent.seconds === 0 ? 0 : round(recent.requests / recent.seconds),
      p99: recent.p99 === null ? null : round(recent.p99),
      errorRate: recent.requests === 0 ? null : recent.errors / recent.requests,
      cpu: round(detail.workers.reduce((n, w) => n + w.cpu, 0)),
      memory: detail.workers.reduce((n, w) => n + w.memory, 0),
      restarts: detail.restarts,
      alerts: alerts.filter((a) => a.app === name).length,
    });
  }
  return { host: os.hostname(), version: HERD_VERSION, pid: process.pid, now: Date.now(), uptimeMs: Date.now() - startedAt, apps, alerts };
}

/** The window asked for, snapped to one the page offers (5 minutes when absent or unknown). */
export function windowOf(value: string | null): number {
  const n = Number(value);
  return (WINDOWS as readonly number[]).includes(n) ? n : WINDOWS[0];
}

export async function appPageView(source: DashboardSource, name: string, windowSeconds: number, since: number | null): Promise<AppPageView> {
  const detail = await source.describe(name);
  const metrics = source.metrics(name, null);
  const slowRoutes = [...metrics.routes].sort((a, b) => b.latency.p99 - a.latency.p99).slice(0, SLOW_ROUTES);
  return {
    now: Date.now(),
    name,
    status: detail.status,
    reason: detail.reason,
    script: detail.script,
    execMode: detail.execMode,
    instances: detail.instances,
    listening: detail.listening,
    retryAt: detail.retryAt,
    lastStderr: detail.lastStderr,
    events: detail.events.slice(-20),
    workers: detail.workers,
    metrics: { ...metrics, routes: [] },
    slowRoutes,
    series: source.series(name, windowSeconds, since),
    alerts: source.alerts.view().active.filter((a) => a.app === name),
    logLinesDropped: detail.logLinesDropped,
    autoscale: detail.autoscale ?? null,
  };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
