/**
 * Messages between the daemon and an app's host: the part that is the parent
 * of the app's workers and holds what a running worker needs (listening
 * sockets, IPC channels, pipes, log files). Today the host runs inside the
 * daemon (or `herd run`) behind an in-memory link; the messages are kept
 * newline-JSON-serialisable, with no file descriptor or handle in them, so
 * that the host can move into a process of its own that outlives the daemon
 * without changing them. Everything that touches an fd stays on the host side.
 *
 * Requests carry an `id` and get exactly one `reply`; events carry none.
 * Both sides dispatch through tables keyed by `type`.
 */
import type { LogFilesSpec, LogsSpec } from '../config/types';
import type { ErrorData } from '../errors';
import type { LogLine } from '../logs/format';
import type { StickyStats } from './control';
import type { AgentToDaemon, DaemonToAgent } from './agent';

export const SHIM_PROTOCOL_VERSION = 1;

/** Why a worker could not listen (port in use, no privilege). */
export interface ListenFailure {
  code: 'EADDRINUSE' | 'EACCES';
  /** The address asked for; null for "any". */
  address: string | null;
  /** null when the error did not say (Python's `[Errno 98] Address already in use`). */
  port: number | null;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The daemon asked for this exit (stop, reload, scale down); restart policy ignores it. */
  intended: boolean;
  reason: string;
  uptimeMs: number;
}

export interface DrainReport {
  finished: number;
  closedIdle: number;
  websockets?: { closedByApp: number; closedByHerd: number };
  /** A queue app's BullMQ Workers the agent closed, and those whose jobs were still running at the deadline. */
  queueWorkers?: { closed: number; pending: number };
}

/**
 * What to spawn for one worker, computed by the daemon (workerCommand.ts) so
 * that the host carries almost no meaning of an AppSpec: it does what it is
 * told. The host adds only what it owns: the fork-mode socket copies.
 */
export interface SpawnPlan {
  app: string;
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** fd 0.. of the child, before the inherited fork sockets the host appends. */
  stdio: ('ignore' | 'pipe' | 'ipc')[];
  /** herd's agent is preloaded: drain, ready(), metrics, pings over IPC. */
  hasAgent: boolean;
  /** Fork mode with the agent: the sockets earlier workers listened on are inherited (HERD_LISTEN_FDS). */
  inheritForkSockets: boolean;
  /** The fd of the access-log pipe, when there is one. */
  accessFd: number | null;
  readiness: {
    /** The app promised a ready signal (ready() or process.send('ready')): listening is not enough. */
    waitReady: boolean;
    /** No agent: readiness is a listening socket in its process tree (/proc). */
    watchListening: boolean;
    listenTimeout: number;
  };
  maxLineLength: number;
  /** The stop signal stage for a worker without the agent, and the SIGKILL deadline of a leader that exited alone. */
  killTimeout: number;
}

/** A worker as its host knows it (snapshot). */
export interface HostedWorkerState {
  worker: number;
  slot: number;
  pid: number | null;
  startedAt: number;
  ready: boolean;
  readyAt: number | null;
  readyHow: string | null;
  draining: boolean;
  intended: boolean;
  listening: string[];
  listenKeys: string[];
  listenFailure: ListenFailure | null;
  stderrTail: string[];
}

export type ExitEvent = {
  type: 'exit';
  /** Journal position: acknowledged with ackExits once the daemon acted on it. */
  seq: number;
  worker: number;
  slot: number;
  pid: number | null;
  info: ExitInfo;
  stderrTail: string[];
  drainReport: DrainReport | null;
  forcedExit: string[] | null;
};

export interface HostSnapshot {
  host: { pid: number; protocol: number; startedAt: number; version: string };
  app: string;
  workers: HostedWorkerState[];
  /** Exits not yet acknowledged, oldest first (at most the journal's capacity). */
  exits: ExitEvent[];
  /** Exits that fell out of a full journal before they were acknowledged. */
  exitsLost: number;
  sockets: SocketsState & { sticky: StickyStats | null };
  /** Lines of the app's log dropped (a destination too slow or failing). */
  logsDropped: number;
  /** The spec of the last `configure` (the app as its newest workers were spawned), or null. */
  spec: unknown;
}

/** The app's listening sockets as the daemon shows them. */
export interface SocketsState {
  /** Sockets a worker listens on (one bound but never listened on is not shown). */
  listening: string[];
  /** Sockets bound, listened on or not. */
  size: number;
}

export type SocketsAction =
  | { kind: 'closeAll' }
  | { kind: 'closeUnlistened' }
  /** Fork mode: close the copies no current worker listens on. */
  | { kind: 'retainFork'; keys: string[] }
  | { kind: 'stickyStats' }
  /** Socket inodes of the listening sockets, and the pid holding them (port conflict diagnosis). */
  | { kind: 'inodes' };

export type DaemonToShim =
  /**
   * The first message of a connection to a shim: the token of its run/<id>.json
   * proves the daemon may drive it. A shim serves one daemon at a time;
   * `takeover` replaces the one connected (it is told `replaced`), otherwise
   * a second daemon is refused.
   */
  | { type: 'hello'; id: number; protocol: number; daemonPid: number; token: string; takeover: boolean }
  | { type: 'snapshot'; id: number }
  /**
   * The app's log settings and PM2 log paths; sticky mode and hold time for
   * sockets bound from now on; and the app's spec (opaque to the shim), kept
   * for a daemon that must adopt the app without its own state.
   */
  | { type: 'configure'; id: number; logs: LogsSpec; files: LogFilesSpec; sockets: { sticky: boolean; holdMs: number }; spec?: unknown }
  | { type: 'spawn'; id: number; worker: number; slot: number; plan: SpawnPlan }
  | { type: 'stop'; id: number; worker: number; timeoutMs: number; websocketDrainMs: number }
  /** SIGKILL; with a reason the exit is a crash reported with it, without one an intended kill. */
  | { type: 'kill'; id: number; worker: number; reason: string | null }
  | { type: 'signal'; id: number; worker: number; signal: NodeJS.Signals }
  /** A message for the worker's agent (ping, healthCheck); the reply says whether it was sent. */
  | { type: 'toAgent'; id: number; worker: number; message: DaemonToAgent }
  /** Open the worker's inspector (SIGUSR1); the reply is its URL, or null after timeoutMs. */
  | { type: 'openInspector'; id: number; worker: number; timeoutMs: number }
  /** A line herd writes into the app's log (a stalled worker's stack). */
  | { type: 'writeLog'; line: LogLine }
  /** Send every line of the app's log as it is written (`line` events) while on: `herd logs --follow`, the dashboard. */
  | { type: 'follow'; id: number; on: boolean }
  /** `herd flush`: empty the app's log files (queued lines are dropped) and remove them. */
  | { type: 'flushLogs'; id: number }
  | { type: 'sockets'; id: number; action: SocketsAction }
  | { type: 'ackExits'; upTo: number }
  /** The app is gone: close every socket and stop answering. */
  | { type: 'exit'; id: number };

export type ShimReply =
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: ErrorData };

export type ShimToDaemon =
  | ShimReply
  | { type: 'spawned'; worker: number; pid: number | null }
  | { type: 'ready'; worker: number; how: string; at: number }
  | { type: 'listening'; worker: number; address: string; stream: boolean; key: string | null }
  | { type: 'listenFailure'; worker: number; failure: ListenFailure }
  | { type: 'draining'; worker: number }
  /** Agent messages the daemon acts on (pong, metrics, healthResult, clustersItself). */
  | { type: 'agent'; worker: number; message: AgentToDaemon }
  /** The app's listening sockets changed (bound, listened on, closed). */
  | { type: 'sockets'; state: SocketsState }
  /** A line of the app's log, while the daemon follows it. */
  | { type: 'line'; line: LogLine }
  /** The count of dropped log lines changed. */
  | { type: 'logStats'; dropped: number }
  /** Another daemon took this shim over (hello with takeover): this connection is closed after it. */
  | { type: 'replaced' }
  | ExitEvent;

export type ShimRequest = Extract<DaemonToShim, { id: number }>;

/** A message of either direction read from the wire: an object with a string `type`. */
export function isShimMessage<T extends { type: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
