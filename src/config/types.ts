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
  /** Resolved worker count (>= 1). */
  readonly instances: number;
  /** 'cluster': workers share the app's listening sockets; 'fork': plain child processes. */
  readonly execMode: 'cluster' | 'fork';
  /** The whole environment of each worker: the CLI's environment plus the config's env. */
  readonly env: Readonly<Record<string, string>>;
  /** Arguments for the interpreter, before the script (e.g. ['--import', 'tsx']). */
  readonly nodeArgs: readonly string[];
  /** Path of the node binary that runs the workers. */
  readonly interpreter: string;
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
  /** Measure requests, event loop, CPU and memory in the workers (`metrics: false` turns it off). */
  readonly metrics: boolean;
  /** Where the spec came from, so `herd reload <name>` can re-read it. */
  readonly source: AppSource;
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
  /** This many crashes of the app's workers within `window` mark the app errored. */
  readonly maxCrashes: number;
  /** ms. */
  readonly window: number;
  /** ms an errored app waits before trying again. */
  readonly coolDown: number;
}

export interface ReloadSpec {
  /** Workers replaced at a time during a rolling reload. */
  readonly parallel: number;
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
}

/** Daemon-wide settings from a config file's top level. */
export interface DaemonSettings {
  /** `metrics: { prometheus: { port, host, token } }`; null when not configured. */
  readonly prometheus: PrometheusSettings | null;
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
  crashLoop: { maxCrashes: 5, window: 60_000, coolDown: 30_000 },
  reload: { parallel: 1 },
} as const;
