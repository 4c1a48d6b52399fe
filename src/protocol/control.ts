import type { AutoscaleView } from './autoscale';
import type { FleetView } from '../fleet/status';
import type { HostOutcome } from '../fleet/commandSender';
import type { RolloutReport } from '../fleet/rollout';
import type { AppSpec, CliOverrides, DaemonSettings, QueueSpec } from '../config/types';
import type { AppMetricsView, JobQueueView, MonitApp } from '../metrics/view';
import type { ErrorData } from '../errors';
import type { LogLine, Stream } from '../logs/format';
import type { ProfileResult, StallProfileView } from './profile';
import type { HeapSnapshotResult } from './heap';

/** CLI/client -> daemon. Every request carries the protocol version and an id. */
export type ControlRequest =
  | { type: 'hello' }
  /** `settings` from a config file's top level (health endpoint, Prometheus); absent or null leaves the daemon's as they are. */
  | { type: 'start'; apps: AppSpec[]; settings?: DaemonSettings | null }
  | { type: 'stop'; target: string }
  /** `specs`: re-read config (`--update-env`, `--env`, a config file target) to restart those apps with; null or absent restarts with the spec they have. */
  | { type: 'restart'; target: string; specs?: AppSpec[] | null }
  | { type: 'reload'; target: string; specs: AppSpec[] | null }
  | { type: 'delete'; target: string }
  /** Start listed apps that are stopped (`herd start <name|all>`), with the spec they have. */
  | { type: 'startApp'; target: string }
  /** Zero the restart counters (PM2's `reset`). */
  | { type: 'reset'; target: string }
  /** Send a signal to every current worker of an app, or to one worker by id. */
  | { type: 'signal'; name: string; signal: string; worker: number | null }
  | { type: 'scale'; name: string; count: string }
  | { type: 'list' }
  | { type: 'describe'; name: string }
  /** Follow: every new line of `name` (every app when null) on these streams, as 'log' replies until the client disconnects. */
  | { type: 'logs'; name: string | null; streams: Stream[] }
  /** Empty the log files of an app, or of every app with 'all'. */
  | { type: 'flush'; target: string }
  /** One app's metrics, or one worker's (by id) with `worker`. */
  | { type: 'metrics'; name: string; worker: number | null }
  /** Every app's metrics with the last minute of its 1 s series, for `herd monit`. */
  | { type: 'monit' }
  /** Alert rules, the alerts firing now, and recent firing/resolved events. */
  | { type: 'alerts' }
  /** Serve the web dashboard (null: where it serves already, or the defaults) and answer its URL. */
  | { type: 'dashboard'; port: number | null; host: string | null }
  /** Write every listed app to HERD_HOME/dump.herd.json; an empty list only with `force`. */
  | { type: 'save'; force: boolean }
  /** Start the apps of the dump (or, without one, the remembered ones) that were not stopped on purpose and are not running. */
  | { type: 'resurrect' }
  | { type: 'kill' }
  /**
   * `herd update`: replace this daemon by the one at `daemonMain`, run with
   * `execPath` (the installed herd the CLI comes from). The new daemon takes
   * over the control socket, the HTTP endpoints and every app's shim; no
   * worker is restarted.
   */
  | { type: 'update'; execPath: string; daemonMain: string }
  /** Every host of the fleet this daemon joined, with its apps, and totals per app (`herd fleet status`). */
  | { type: 'fleetStatus' }
  /**
   * `herd fleet <restart|stop|start|scale> <app> [N] [--host H]`: the verb
   * on each host (all that list the app, or `hosts`), through their command
   * streams; each host's progress comes back as `[host] line`.
   */
  | { type: 'fleetCommand'; verb: 'restart' | 'stop' | 'start' | 'scale'; app: string; count: string | null; hosts: string[] | null; timeoutMs: number }
  /** `herd fleet reload <app>`: the rolling reload host by host (src/fleet/rollout.ts); `rollout` names it for fleetAbort. */
  | {
    type: 'fleetReload'; app: string; rollout: string; hosts: string[] | null; batch: number; drain: boolean;
    expectRevision: string | null; settleMs: number; timeoutMs: number;
  }
  /** Ctrl-C of `herd fleet reload`: stop the rollout at its next safe point. */
  | { type: 'fleetAbort'; rollout: string }
  /** Every job (app with `cron`): its schedule, next tick, last runs and skipped ticks (`herd jobs`). */
  | { type: 'jobs' }
  /** `herd profile`: a CPU profile of one worker (null: the first online one) or of every worker, for `durationMs`; the profiles come as 'chunk' replies. */
  | { type: 'profile'; name: string; worker: number | 'all' | null; durationMs: number }
  /** `herd heap`: a heap snapshot of one worker (null: the app's first online one), streamed as 'chunk' replies. `force` skips the free-memory check. */
  | { type: 'heapSnapshot'; name: string; worker: number | null; force: boolean };

export type RequestType = ControlRequest['type'];
export type RequestOf<T extends RequestType> = Extract<ControlRequest, { type: T }>;

export interface RequestEnvelope {
  v: number;
  id: number;
  request: ControlRequest;
}

/**
 * daemon -> CLI: zero or more progress lines (or log lines, for 'logs', or
 * pieces of a file, for a profile or heap snapshot), then exactly one result.
 */
export type ControlReply =
  | { v: number; id: number; kind: 'progress'; message: string }
  | { v: number; id: number; kind: 'log'; line: LogLine }
  /** A piece of a file the request produces (a heap snapshot), in order; the result says when it is whole. */
  | { v: number; id: number; kind: 'chunk'; data: string }
  | { v: number; id: number; kind: 'result'; ok: true; data: unknown }
  | { v: number; id: number; kind: 'result'; ok: false; error: ErrorData };

export interface HelloData {
  protocol: number;
  version: string;
  pid: number;
  home: string;
  /** What the user should know whatever they asked (a state file set aside, apps waiting for `herd resurrect`); absent from older daemons. */
  notices?: string[];
}

/** A worker slot's lifecycle (src/daemon/supervision/slot.ts says what each means). */
export type WorkerStatus = 'starting' | 'online' | 'replacing' | 'backoff' | 'held' | 'draining' | 'stopped';
/** A job (app key `cron`) is `waiting` for its next tick or `running` one, else stopped/stopping. */
export type AppStatus = 'launching' | 'online' | 'reloading' | 'stopping' | 'stopped' | 'errored' | 'waiting' | 'running';

export interface WorkerInfo {
  id: number;
  pid: number | null;
  status: WorkerStatus;
  restarts: number;
  uptimeMs: number;
  /** Percent of one core over the last sample interval. */
  cpu: number;
  /** RSS in bytes. */
  memory: number;
  /** Requests the worker's overload guard answered 503 (as of its last watchdog ping). */
  shed: number;
  /** Why the worker is in this status. */
  reason: string;
}

export interface AppInfo {
  name: string;
  status: AppStatus;
  workers: WorkerInfo[];
}

/** What the daemon's reload triggers and log paths add to an app's detail (PM2's cron_restart, watch, out_file...). */
export interface TriggerDetail {
  /** `cronRestart`: the schedule and its next run (epoch ms; null while the app is stopped); null when none. */
  cron: { schedule: string; next: number | null } | null;
  /** `watch`: the paths, whether the watchers are set up, how many directories they watch; null when off. */
  watch: { paths: string[]; watching: boolean; directories: number; delay: number } | null;
  /** PM2's out_file, error_file, log_file as given ('/dev/null' keeps the stream off the disk). */
  logFiles: { out: string | null; err: string | null; combined: string | null };
}

export interface AppDetail extends AppInfo, TriggerDetail {
  reason: string;
  script: string;
  cwd: string;
  execMode: 'cluster' | 'fork';
  instances: number;
  interpreter: string;
  nodeArgs: string[];
  args: string[];
  restarts: number;
  createdAt: number;
  configFile: string | null;
  /** The `--env <name>` the app was started with. */
  envName: string | null;
  /** The command-line overrides it was started with (--name, -i, --node-args, ...), re-applied when its config is re-read. */
  cliOverrides: CliOverrides;
  /** The workers' environment. */
  env: Record<string, string>;
  listening: string[];
  /** Log lines lost because the log destination failed or fell behind. */
  logLinesDropped: number;
  /** Last lines a crashed worker wrote to stderr (newest last). */
  lastStderr: string[];
  /** Recent transitions, newest last. */
  events: { time: number; worker: number | null; message: string }[];
  /** When an errored app tries again (epoch ms), or null. */
  retryAt: number | null;
  /** False when the app runs with `metrics: false`. */
  metrics: boolean;
  /** What the daemon's sticky-session router did for the app; null until a sticky app's worker listens. */
  sticky: StickyStats | null;
  /** Problems with how the app is run that the user should fix (shown by `herd start` and `herd describe`). */
  warnings: string[];
  /**
   * Who the workers run as: the app's `user` and `group`, or the daemon's own
   * user (`daemons`). Added by the supervisor.
   */
  runAs: { user: string; uid: number; group: string; gid: number; daemons: boolean };
  /**
   * The app's shim (`herd-shim <app>`, the parent of its workers; memory is
   * its RSS in bytes); null while the app has none (stopped), and under `herd run`,
   * whose apps run in its own process. Added by the supervisor.
   */
  shim: { pid: number; version: string; memory: number } | null;
  /** A job's schedule, runs and skipped ticks; absent (or null) for a server. */
  job?: JobView | null;
  /** Profiles taken because a worker's event loop was slow (profileOnStall), oldest first; absent from older daemons. */
  stallProfiles?: StallProfileView[];
  /** A queue app's `queue` key (the URL's password as ***) and its queue as last read; absent (or null) for other apps. */
  queue?: (QueueSpec & { jobs: JobQueueView | null }) | null;
  /** An app with `instances: { min, max }`: its mode, range, reading and last scale steps; absent (or null) otherwise. */
  autoscale?: AutoscaleView | null;
}

/** One run of a job's tick. */
export interface JobRunView {
  /** ISO time of the tick as scheduled (not when the timer fired). */
  tick: string;
  /** The host that ran it. */
  host: string;
  /** Epoch ms the process started, and how long it ran (null while it runs). */
  startedAt: number;
  durationMs: number | null;
  /** Its exit code, or the signal that ended it (both null while it runs, or when it is not known). */
  exitCode: number | null;
  signal: string | null;
  /** HERD_JOB_FENCE of the run: grows with every tick won (the fleet's `INCR`, else this host's count). */
  fence: number;
  /** Why it ended when not on its own, or why it did not start. */
  reason?: string;
}

export interface JobView {
  name: string;
  schedule: string;
  /** IANA zone; the daemon's local zone when the app sets none. */
  timezone: string;
  /** ISO time of the next tick, null while the job is stopped. */
  next: string | null;
  /** The tick being run now (ISO), or null. */
  running: string | null;
  /** The last 20, oldest first. */
  runs: JobRunView[];
  /**
   * Ticks not run here: the previous run was still going (`overlap`), the
   * fleet's Redis could not say who runs it (`redis`), it fell due while the
   * daemon was down (`missed`), another host ran it (`lost`).
   */
  skipped: { overlap: number; redis: number; missed: number; lost: number };
  /** The last tick another host ran, and which. */
  lastLost: { tick: string; host: string | null } | null;
  /** The job's ticks are claimed in the fleet's Redis. */
  fleet: boolean;
}

/** Counters of the daemon's sticky-session router, since the app was created (docs/sticky.md). */
export interface StickyStats {
  /** Connections the daemon accepted for the app. */
  accepted: number;
  /** Connections a worker took. */
  handedOff: number;
  /** Connections a worker refused (its server was closing or full) or left unanswered when it exited, then sent to another. */
  rerouted: number;
  /** Connections waiting now for a ready worker. */
  waiting: number;
  /** Connections closed without a worker, by reason; `total` is their sum. */
  dropped: { total: number; timedOut: number; queueFull: number; refused: number; stopped: number };
  /** accept() failures (e.g. out of file descriptors); nothing was accepted, so nothing is lost but the client's attempt. */
  acceptErrors: number;
  /** Connections taken by the workers of each slot. */
  perSlot: { slot: number; connections: number }[];
}

export interface ResultOf {
  hello: HelloData;
  /** Where the Prometheus endpoint and the dashboard serve, when they do. */
  /** `warnings`: what the operator should know about the apps started (the daemon runs them as root), once. */
  start: { started: string[]; skipped: string[]; warnings?: string[]; prometheus?: string | null; dashboard?: string | null };
  stop: { names: string[] };
  restart: { names: string[] };
  reload: { names: string[] };
  delete: { names: string[] };
  startApp: { started: string[]; skipped: string[]; warnings?: string[] };
  reset: { names: string[] };
  /** The canonical signal name, and the pids it was sent to. */
  signal: { name: string; signal: string; pids: number[] };
  /** `mode` for an app with instances { min, max }: automatic, or fixed by this command. */
  scale: { name: string; from: number; to: number; mode?: 'auto' | 'fixed' };
  list: AppInfo[];
  describe: AppDetail;
  /** Sent only if the daemon ends the stream (it shuts down): how many lines were skipped because the client read too slowly. */
  logs: { skipped: number };
  flush: { names: string[] };
  metrics: AppMetricsView;
  monit: MonitApp[];
  alerts: AlertsView;
  /** The dashboard's URL, access token included. */
  dashboard: { url: string };
  /** The dump written, the apps in it, and which of them were stopped on purpose. */
  save: { file: string; saved: string[]; stopped: string[] };
  /**
   * The file the apps came from (`source` dump, or state when there was no
   * dump); apps started, skipped (already running), left stopped (stopped
   * on purpose), and listed apps not in the dump that still wait (`left`).
   */
  resurrect: { file: string; source: 'dump' | 'state'; started: string[]; skipped: string[]; stopped: string[]; left: string[] };
  kill: { stopped: string[] };
  update: { from: { pid: number; version: string }; to: { pid: number; version: string }; apps: number; workers: number };
  fleetStatus: FleetView;
  fleetCommand: { verb: string; app: string; results: HostOutcome[] };
  fleetReload: RolloutReport;
  fleetAbort: { found: boolean };
  jobs: { jobs: JobView[] };
  profile: ProfileResult;
  heapSnapshot: HeapSnapshotResult;
}

export interface AlertEvent {
  status: 'firing' | 'resolved';
  app: string;
  /** The rule in words: `api http.latency.p99 above 100ms for 30s`. */
  rule: string;
  metric: string;
  /** The value when the event happened, in the metric's unit (ms, bytes, ratio, % or count); null = no data. */
  value: number | null;
  threshold: number;
  condition: 'above' | 'below';
  /** Epoch ms: when the condition started to hold (firing) or the alert fired (resolved). */
  since: number;
  /** Epoch ms of the event. */
  at: number;
  host: string;
  /** The webhook POST: 'none' without a webhook. */
  delivery: 'none' | 'pending' | 'delivered' | 'failed';
}

export interface AlertStateView {
  app: string;
  rule: string;
  metric: string;
  value: number | null;
  /** Epoch ms it fired. */
  since: number;
}

export interface AlertsView {
  webhook: string | null;
  rules: string[];
  active: AlertStateView[];
  /** Newest last, the last 200. */
  events: AlertEvent[];
}
