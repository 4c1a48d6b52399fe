/**
 * The normalised, validated description of one app. The CLI builds it from a
 * script path or a config file (herd's own keys or a PM2 ecosystem file) and
 * sends it to the daemon; the daemon never reads config files itself, so what
 * it runs is exactly what the CLI validated.
 */
export interface AppSpec {
  readonly name: string;
  /** Absolute path of the entry script. */
  readonly script: string;
  readonly args: readonly string[];
  /** Absolute working directory of the workers. */
  readonly cwd: string;
  /** Resolved worker count (>= 1): the count to start with (with `scaling`, its `min`). */
  readonly instances: number;
  /**
   * `instances: { min, max }`: the pool sizes itself between the two on
   * `autoscale`'s metric (docs/autoscaling.md); null or absent = a fixed count.
   */
  readonly scaling?: ScalingSpec | null;
  /**
   * `herd scale <app> N` on an app with `scaling`: held at `instances` until
   * `herd scale <app> auto`; absent or false = automatic. Kept in the state
   * file and dumps, so the mode survives a daemon restart and resurrect.
   */
  readonly scalingFixed?: boolean;
  /** `queue`: a fork-mode app that consumes a BullMQ queue (docs/queues.md); null or absent = none. */
  readonly queue?: QueueSpec | null;
  /** 'cluster': workers share the app's listening sockets; 'fork': plain child processes. */
  readonly execMode: 'cluster' | 'fork';
  /** The whole environment of each worker: the CLI's environment plus the config's env. */
  readonly env: Readonly<Record<string, string>>;
  /** Arguments for the interpreter, before the script (e.g. ['--import', 'tsx']). */
  readonly nodeArgs: readonly string[];
  /** Path of the node binary that runs the workers (with `runner: 'exec'`: the interpreter, or '' to run the script itself). */
  readonly interpreter: string;
  /**
   * How a worker is started. 'node': `interpreter nodeArgs script args` with
   * herd's agent preloaded (cluster or fork mode). 'exec': fork mode only, no
   * agent: `interpreter nodeArgs script args` for a non-Node interpreter
   * (python3, bash), or `script args` when `interpreter` is '' (PM2's
   * `interpreter: 'none'`, and `script: 'npm'`, where script is npm's path).
   */
  readonly runner: 'node' | 'exec';
  /** Environment variable that carries the worker's id (PM2's `instance_var`); default NODE_APP_INSTANCE. */
  readonly instanceVar: string;
  /**
   * Run the workers as this user (a name or a numeric uid; PM2's `uid`) with
   * all its groups, as initgroups(3) gives them; null = the daemon's own user.
   * Another user than the daemon's needs a daemon running as root, which
   * keeps binding the listening sockets and writing the logs itself.
   */
  readonly user: string | null;
  /** The workers' primary group (a name or a numeric gid; PM2's `gid`); null = the user's own primary group. */
  readonly group: string | null;
  /**
   * Connections from one client address go to the same worker: the daemon
   * accepts them and hands each to a worker by address (socket.io's
   * long-polling needs this). Cluster mode only.
   */
  readonly sticky: boolean;
  /**
   * ms upgraded connections (WebSockets) are kept open after HTTP drained and
   * the app's onShutdown hooks ran, so the app can close them itself; then
   * they are closed. Bounded by killTimeout.
   */
  readonly websocketDrain: number;
  /** PM2's `cron_restart`: a rolling reload on this cron schedule; null = none. */
  readonly cronRestart: string | null;
  /**
   * `cron`: the app is a job, its script run to completion at each tick (one
   * process, fork mode, never restarted on exit); null or absent = a server.
   */
  readonly job?: JobSpec | null;
  /** Reload on file change (PM2's `watch`); null = off. */
  readonly watch: WatchSpec | null;
  /** Extra paths that show this app's logs (PM2's out_file, error_file, log_file); each null = none. */
  readonly logFiles: LogFilesSpec;
  /** Replace a worker gracefully when its RSS passes this many bytes; null = no limit. */
  readonly maxMemory: number | null;
  /** ms between asking a worker to stop and SIGKILL. */
  readonly killTimeout: number;
  /** ms a new worker has to become ready before it counts as failed. */
  readonly listenTimeout: number;
  /** Ready only on an explicit signal (process.send('ready') or ready()) instead of on listen. */
  readonly waitReady: boolean;
  /** Restart workers that exit on their own. */
  readonly autorestart: boolean;
  readonly backoff: BackoffSpec;
  readonly crashLoop: CrashLoopSpec;
  readonly reload: ReloadSpec;
  readonly logs: LogsSpec;
  /** One line per request (`METHOD URL STATUS DURATIONms`) in `<name>-access.log`, written by the agent. */
  readonly accessLog: boolean;
  /** Shed load with 503 before app code when a limit is passed; null = never shed. */
  readonly overload: OverloadSpec | null;
  /** Per-worker HTTP health check; null = none. */
  readonly healthCheck: HealthCheckSpec | null;
  /** ms a worker's event loop may leave the daemon's ping unanswered before it is killed and replaced; 0 = off. */
  readonly stallTimeout: number;
  /** CPU profile of a worker whose event loop is slow (docs/profiling.md); null or absent = never. */
  readonly profileOnStall?: ProfileOnStallSpec | null;
  /** Ready workers the app needs for the supervisor's /ready to answer 200. */
  readonly minReady: number;
  /** Measure requests, event loop, CPU and memory in the workers (`metrics: false` turns it off). */
  readonly metrics: boolean;
  /** Where the spec came from, so `herd reload <name>` can re-read it. */
  readonly source: AppSource;
}

export type AutoscaleMetric = 'eventLoop.utilization' | 'http.latency.p99' | 'http.inFlight' | 'queue.waiting';

export interface ScalingSpec {
  readonly min: number;
  readonly max: number;
  readonly autoscale: AutoscaleSpec;
}

export interface AutoscaleSpec {
  /** What is compared with `target`: per worker, except http.latency.p99 (the app's). */
  readonly metric: AutoscaleMetric;
  /** The value the pool is sized to keep the metric at (0..1 for utilisation, ms for latency, a count otherwise). */
  readonly target: number;
  /** Workers added at most per scale-up step. */
  readonly up: number;
  /** Workers removed at most per scale-down step. */
  readonly down: number;
  /** ms after any scale step before the next scale-down (scale-ups wait only for the new workers to be ready). */
  readonly coolDown: number;
}

export interface QueueSpec {
  /** Redis URL of the queue (redis://, rediss://, or unix://). */
  readonly redis: string;
  /** The BullMQ queue's name. */
  readonly name: string;
  /** BullMQ's key prefix; 'bull' by default. */
  readonly prefix: string;
  /** Jobs a worker runs at once (given to the app as HERD_QUEUE_CONCURRENCY). */
  readonly concurrency: number;
  /** A BullMQ job priority (1 highest) given to the app as HERD_QUEUE_PRIORITY, for the jobs it adds itself; herd does nothing else with it (docs/queues.md). null = none. */
  readonly priority: number | null;
}

export interface JobSpec {
  /** The cron expression (5 fields, or 6 with seconds first), as croner reads it. */
  readonly schedule: string;
  /** IANA time zone of the schedule; null = the daemon's local zone. */
  readonly timezone: string | null;
  /**
   * The config joins a fleet: each tick runs on one host, claimed in Redis;
   * without Redis (or before the daemon joined) the tick is skipped, never
   * run unclaimed.
   */
  readonly fleet: boolean;
}

export interface WatchSpec {
  /** Absolute paths watched (recursively for directories). */
  readonly paths: readonly string[];
  /** Absolute paths or glob-like patterns never watched; node_modules and dot-dirs are always ignored. */
  readonly ignore: readonly string[];
  /** ms of quiet after the last change before the reload (debounce). */
  readonly delay: number;
}

export interface LogFilesSpec {
  /** Absolute path that carries the app's stdout lines (PM2 `out_file`); '/dev/null' discards them. */
  readonly out: string | null;
  /** Absolute path that carries the app's stderr lines (PM2 `error_file`). */
  readonly err: string | null;
  /** Absolute path that carries stdout and stderr together (PM2 `log_file` / `combine_logs`). */
  readonly combined: string | null;
}

export interface BackoffSpec {
  /** ms before the first restart after a crash. */
  readonly initial: number;
  /** ms cap on the delay. */
  readonly max: number;
  /** Delay multiplier per consecutive crash (1 = fixed delay). */
  readonly factor: number;
  /** ms of uptime after which a worker counts as stable and its backoff resets. */
  readonly resetAfter: number;
}

export interface CrashLoopSpec {
  /**
   * This many unstable crashes of the app's workers within `window` mark the
   * app errored. A crash is unstable when the worker never became ready or
   * was up less than `minUptime` (PM2's min_uptime): a healthy worker killed
   * from outside (OOM killer, chaos, kill -9) is restarted, not held back.
   */
  readonly maxCrashes: number;
  /** ms; a worker that was ready and up at least this long does not count toward a crash loop. */
  readonly minUptime: number;
  /** ms. */
  readonly window: number;
  /** ms an errored app waits before trying again. */
  readonly coolDown: number;
}

export interface ReloadSpec {
  /** Workers replaced at a time during a rolling reload. */
  readonly parallel: number;
}

export interface LogsSpec {
  /** Rotate a log file when it reaches this many bytes. */
  readonly maxSize: number;
  /** Rotated files kept per stream; older ones are deleted. */
  readonly retain: number;
  /** Also rotate when the (UTC) date changes. */
  readonly daily: boolean;
  /** Gzip rotated files in the background. */
  readonly gzip: boolean;
  /** Longer lines are cut here with a visible marker. */
  readonly maxLineLength: number;
}

export interface OverloadSpec {
  /** ms: p99 event-loop delay over the last sampling interval; null = not checked. */
  readonly maxEventLoopDelay: number | null;
  /** 0..1: event-loop utilisation over the last sampling interval; null = not checked. */
  readonly maxEventLoopUtilization: number | null;
  /** Requests in flight in one worker; null = not checked. */
  readonly maxInFlight: number | null;
  /** ms sent as `Retry-After` (rounded up to whole seconds). */
  readonly retryAfter: number;
  /** Paths never shed (health and readiness checks), compared without the query string. */
  readonly exempt: readonly string[];
}

/** App key profileOnStall; every field in ms. */
export interface ProfileOnStallSpec {
  /** Event-loop delay (the worker's max over a metrics report) that starts a profile. */
  readonly delay: number;
  readonly duration: number;
  /** At most one profile per app in this time. */
  readonly cooldown: number;
}

export interface HealthCheckSpec {
  /** Path requested from each worker, e.g. '/health'. */
  readonly path: string;
  /** ms between checks of one worker. */
  readonly interval: number;
  /** ms a check may take. */
  readonly timeout: number;
  /** Consecutive failed checks that get a worker replaced. */
  readonly failures: number;
}

export interface HealthEndpointSpec {
  readonly port: number;
  readonly host: string;
  /** ms /ready answers 503 after a shutdown starts, before draining begins. */
  readonly shutdownDelay: number;
}

export interface AppSource {
  /** Absolute path of the config file, or null when started from a script. */
  readonly configFile: string | null;
  /** The `--env <name>` used, for env_<name> sections. */
  readonly envName: string | null;
  /** The CLI arguments that built the spec from a script (for reload). */
  readonly cliOverrides: Readonly<CliOverrides>;
}

/** What the command line can set on top of a script or config. */
export interface CliOverrides {
  readonly name?: string;
  readonly instances?: string;
  readonly args?: readonly string[];
  /** --node-args "--max-old-space-size=512 --inspect" (split like a shell would). */
  readonly nodeArgs?: string;
  /** --watch: reload on change of the app's directory. */
  readonly watch?: boolean;
  /** --max-memory-restart 512M */
  readonly maxMemory?: string;
  /** -x / --exec-mode fork|cluster */
  readonly execMode?: string;
}

/** Settings of the supervisor itself (top level of a config file), not of one app. */
export interface DaemonSettings {
  /** `health: { port, host, shutdownDelay }`: readiness/liveness endpoint for load balancers; null = none. */
  readonly health: HealthEndpointSpec | null;
  /** `metrics: { prometheus: { port, host, token } }`; null leaves the endpoint as it is. */
  readonly prometheus: PrometheusSettings | null;
  /** `alerts: { webhook, rules }`; null when not configured. */
  readonly alerts: AlertsSettings | null;
  /** `dashboard: { port, host, token }`; null leaves the dashboard as it is (on with `herd dashboard`, or off). */
  readonly dashboard: DashboardSettings | null;
  /** `fleet: { redis, host, address, secret }`: join a fleet of hosts through Redis; null (or absent) leaves it as it is. */
  readonly fleet?: FleetSettings | null;
}

/** A fleet this host joins, as the CLI resolved it (secret and Redis password read from files or env). */
export interface FleetSettings {
  /** redis:// or rediss:// URL, password included when there is one. */
  readonly redis: string;
  /** This host's name in the fleet (and its server name in HAProxy). */
  readonly host: string;
  /** How a load balancer reaches this host's apps. */
  readonly address: string;
  /** The key commands are signed with; never logged or shown. */
  readonly secret: string;
  /** `fleet.lb`: the load balancer in front of the fleet; absent when not configured. */
  readonly lb?: FleetLbSettings;
}

/** `fleet.lb: { haproxy: { socket, backend } }`. */
export interface FleetLbSettings {
  readonly haproxy: {
    /** HAProxy's runtime API (a unix socket path or host:port) that --sync and draining use; null: /run/haproxy/admin.sock. */
    readonly socket: string | null;
    /** The backend of every app (a string), or per app ({ api: 'be_api' }); null or an app not listed: the app's name. */
    readonly backend: string | Readonly<Record<string, string>> | null;
  };
}

export interface DashboardSettings {
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host: string;
  /** The access token; null = a random one kept in `$HERD_HOME/dashboard.token`. */
  readonly token: string | null;
}

export interface AlertsSettings {
  /** URL that receives a JSON POST for every firing and resolved event; null = log and `herd alerts` only. */
  readonly webhook: string | null;
  readonly rules: readonly AlertRule[];
}

export interface AlertRule {
  /** The app the rule watches; null = every app. */
  readonly app: string | null;
  /** A name from ALERT_METRICS, as in `herd metrics --json` (e.g. 'http.latency.p99'). */
  readonly metric: string;
  /** Fire when the value is above this (in the metric's unit); null = not checked. */
  readonly above: number | null;
  /** Fire when the value is below this; null = not checked. */
  readonly below: number | null;
  /** ms the condition must hold before the alert fires. */
  readonly for: number;
  /** ms of recent traffic request-based metrics are computed over. */
  readonly window: number;
}

export interface PrometheusSettings {
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host: string;
  /** When set, scrapes must send `Authorization: Bearer <token>`. */
  readonly token: string | null;
}

/** A problem found while validating: where it is and what is wrong. */
export interface ConfigProblem {
  /** e.g. 'apps[0].instances' */
  readonly path: string;
  readonly message: string;
}

export const DEFAULTS = {
  killTimeout: 5000,
  listenTimeout: 10_000,
  backoff: { initial: 100, max: 15_000, factor: 2, resetAfter: 30_000 },
  crashLoop: { maxCrashes: 5, minUptime: 1000, window: 60_000, coolDown: 30_000 },
  reload: { parallel: 1 },
  logs: { maxSize: 10 * 1024 * 1024, retain: 10, daily: false, gzip: false, maxLineLength: 16 * 1024 },
  accessLog: false,
  metrics: true,
  alertWindow: 10_000,
  stallTimeout: 10_000,
  minReady: 1,
  instanceVar: 'NODE_APP_INSTANCE',
  websocketDrain: 2000,
  watchDelay: 1000,
  overload: { retryAfter: 1000, exempt: ['/health', '/healthz', '/ready', '/readyz', '/live', '/livez'] },
  healthCheck: { interval: 5000, timeout: 2000, failures: 3 },
  health: { host: '127.0.0.1', shutdownDelay: 5000 },
  dashboard: { port: 9414, host: '127.0.0.1' },
} as const;
