import type { AppSpec } from '../../config/types';
import type { MetricsReport } from '../../metrics/report';
import type { Ring } from '../../util/ring';
import type { ListenFailure } from '../sockets/portConflict';
import type { InspectorSession } from './inspectorSession';
import type { StackCapture } from './stackCapture';
import type { DrainReport, ExitInfo } from '../../protocol/shim';

export type { ExitInfo };

export interface HealthOutcome {
  /** HTTP status, or 0 when the check got no answer. */
  status: number;
  error: string | null;
}

export type ReadyOutcome = { kind: 'ready' } | { kind: 'exited'; exit: ExitInfo } | { kind: 'timeout' };

/**
 * One worker process as its app and the monitor see it. HostedWorker is the
 * real one (a child process of the app's host, seen over the host link);
 * App's unit tests drive fakes.
 * The process keeps its own facts (ready, draining, exited and whether the
 * exit was intended); what the slot does about them is the slot's lifecycle.
 */
export interface Worker {
  readonly spec: AppSpec;
  readonly slot: number;
  readonly pid: number | null;
  readonly uptimeMs: number;
  readonly ready: boolean;
  /** When it became ready (ms since epoch). */
  readonly readyAt: number | null;
  readonly draining: boolean;
  readonly exited: ExitInfo | null;
  readonly stderrTail: Ring<string>;
  /** Why its listen() failed, from its stderr, if it did. */
  readonly listenFailure: ListenFailure | null;
  /** Fork mode: the sockets it listens on, to hand over to its replacement. */
  readonly listenKeys: ReadonlySet<string>;
  /** Addresses it listens on, as its agent reported them. */
  readonly listening: readonly string[];
  readonly hasAgent: boolean;
  readonly clustersItself: string | null;
  readonly shed: number;
  readonly drainReport: DrainReport | null;
  readonly forcedExit: string[] | null;
  /** Set once the app closed its last server (the owner was told); cleared by the owner to be told again. */
  serversGone: boolean;
  /** Stall watchdog and health checks (the monitor's bookkeeping). */
  readonly lastPongAt: number;
  healthFailures: number;
  healthPending: boolean;
  lastHealthAt: number;
  /** Settles once its pid is known (null: it could not be started). */
  whenSpawned(): Promise<void>;
  whenReady(timeoutMs: number): Promise<ReadyOutcome>;
  /** Graceful: drain, exit; SIGKILL after `timeoutMs`. */
  stop(timeoutMs: number): Promise<ExitInfo>;
  /** At once, for a replacement that failed. */
  kill(): Promise<ExitInfo>;
  /** SIGKILL with a reason; its exit is a crash. */
  killWith(reason: string): void;
  /** Send a signal to the process; false when it is gone. */
  sendSignal(signal: NodeJS.Signals): boolean;
  ping(): void;
  healthCheck(path: string, timeoutMs: number): Promise<HealthOutcome>;
  /** Where it is stuck now, read through its inspector (time-boxed). */
  captureStack(timeoutMs: number): Promise<StackCapture>;
  /**
   * A session of its own with the worker's inspector (CPU profiles). Several
   * may be open at once (a stack capture while a profile runs): each is its
   * own inspector session. Rejects with the reason when it cannot open.
   */
  inspect(timeoutMs: number): Promise<InspectorSession>;
}

/** What a worker tells its app. */
export interface WorkerEvents {
  onReady: (worker: Worker, how: string) => void;
  onExit: (worker: Worker, info: ExitInfo) => void;
  onMetrics: (worker: Worker, report: MetricsReport) => void;
  /** The worker had listened and now has no listening server left: it serves nothing. */
  onServersGone?: (worker: Worker) => void;
  /** The agent saw the app use the cluster primary API (it forks its own workers). */
  onClustersItself?: (worker: Worker, how: string) => void;
}

export interface WorkerOptions extends WorkerEvents {
  spec: AppSpec;
  slot: number;
  /** Daemon-wide unique id, given to Node's cluster code as NODE_UNIQUE_ID. */
  uniqueId: number;
}

/** How an App gets its workers: the daemon spawns processes, unit tests make fakes. */
export type WorkerFactory = (options: WorkerOptions) => Worker;
