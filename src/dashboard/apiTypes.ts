/**
 * What the dashboard's JSON API answers, and the few constants both sides
 * use. Shared by the daemon (which builds the answers) and the page (bundled
 * from ui/), so the two cannot drift apart; it imports nothing that runs.
 */
import type { AutoscaleView } from '../protocol/autoscale';
import type { ErrorData } from '../errors';
import type { HostOutcome } from '../fleet/commandSender';
import type { RolloutReport } from '../fleet/rollout';
import type { FleetView } from '../fleet/status';
import type { LogLine } from '../logs/format';
import type { AppMetricsView, RouteView, SeriesView } from '../metrics/view';
import type { AlertStateView, AppStatus, WorkerInfo } from '../protocol/control';

/** GET /api/overview */
export interface OverviewView {
  host: string;
  version: string;
  pid: number;
  /** Epoch ms, the daemon's clock. */
  now: number;
  uptimeMs: number;
  apps: OverviewApp[];
  /** Alerts firing now, every app. */
  alerts: AlertStateView[];
}

export interface OverviewApp {
  name: string;
  status: AppStatus;
  reason: string;
  /** False with `metrics: false`: no request figures. */
  metrics: boolean;
  workers: { online: number; total: number };
  /** Over the last RECENT_SECONDS. */
  rps: number;
  /** ms over the last RECENT_SECONDS; null without requests. */
  p99: number | null;
  /** 5xx / requests over the last RECENT_SECONDS; null without requests. */
  errorRate: number | null;
  /** % of one core, every worker. */
  cpu: number;
  /** RSS bytes, every worker. */
  memory: number;
  restarts: number;
  /** Alerts firing now for this app. */
  alerts: number;
}

/** Seconds of traffic behind the overview's rps, p99 and error rate. */
export const RECENT_SECONDS = 10;

/** Chart windows the page offers, in seconds; up to 15 min at 1 s resolution, longer ones at 1 min. */
export const WINDOWS = [300, 900, 3600, 6 * 3600, 24 * 3600] as const;

/** GET /api/apps/:name?window=S&since=T */
export interface AppPageView {
  /** Epoch ms, the daemon's clock: the charts' window ends here. */
  now: number;
  name: string;
  status: AppStatus;
  reason: string;
  script: string;
  execMode: 'cluster' | 'fork';
  instances: number;
  listening: string[];
  /** When an errored app tries again (epoch ms), or null. */
  retryAt: number | null;
  lastStderr: string[];
  events: { time: number; worker: number | null; message: string }[];
  /** Every worker process, with the reason for its status. */
  workers: WorkerInfo[];
  /** The app's metrics; `routes` is left empty here (see `slowRoutes`). */
  metrics: AppMetricsView;
  /** The slowest routes by p99, at most SLOW_ROUTES. */
  slowRoutes: RouteView[];
  /** Points after `since` (all of the window without it), oldest first. */
  series: SeriesView;
  alerts: AlertStateView[];
  logLinesDropped: number;
  /** An app with `instances: { min, max }`: mode, range, reading, what holds it, last steps; null otherwise. */
  autoscale?: AutoscaleView | null;
}

export const SLOW_ROUTES = 15;

/** POST /api/apps/:name/:action answers NDJSON: progress lines, then one result line. */
export type ActionName = 'reload' | 'restart' | 'stop' | 'start' | 'scale';
export const ACTIONS: readonly ActionName[] = ['reload', 'restart', 'stop', 'start', 'scale'];

export type ActionLine =
  | { kind: 'progress'; message: string }
  | { kind: 'result'; ok: true; message: string }
  | { kind: 'result'; ok: false; error: ErrorData };

/**
 * GET /api/fleet: the fleet this host joined, as `herd fleet status --json`
 * shows it (never the secret), or that it joined none and how to.
 */
export type FleetPageView = { joined: true; fleet: FleetView } | { joined: false; hint: string };

/**
 * POST /api/fleet/apps/:name/:action: the action on every host that runs
 * the app, or on the one host named by `host` in the body. `reload` is the
 * rolling reload (host by host, or `batch` at a time, each watched
 * `settleS` seconds); the others run on the hosts at once.
 */
export type FleetActionName = ActionName;
export const FLEET_ACTIONS: readonly FleetActionName[] = ACTIONS;

export interface FleetActionBody {
  host?: string;
  count?: number | string;
  batch?: number;
  settleS?: number;
}

/** NDJSON: progress lines (`host: line`), what each host answered (or the rollout's report), then one result or error line. */
export type FleetActionLine =
  | { kind: 'progress'; message: string }
  | { kind: 'report'; report: RolloutReport }
  | { kind: 'hosts'; results: HostOutcome[] }
  /** ok: every host did it; else `message` says which did not (the hosts or report line says why). */
  | { kind: 'result'; ok: boolean; message: string }
  /** It could not run at all: no fleet, the registry unreadable, no host up runs the app, a host not in the fleet. */
  | { kind: 'error'; error: ErrorData };

/** GET /api/logs?app=NAME is a Server-Sent Events stream of these (event `line`), after one `history` event with an array of them. */
export type DashboardLogLine = LogLine;

/** Header the page sends with every action; a cross-site form cannot. */
export const CSRF_HEADER = 'x-herd-dashboard';
