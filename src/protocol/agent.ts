/**
 * Messages between the daemon and the agent preloaded in every worker. They
 * travel on the worker's IPC channel with cmd 'NODE_HERD': Node delivers any
 * 'NODE_'-prefixed message as 'internalMessage', so the app's own
 * process.on('message') listeners never see them and they do not keep the
 * channel referenced.
 */
import type { MetricsReport } from '../metrics/report';

export const AGENT_CMD = 'NODE_HERD';

/**
 * The inspector flags the daemon puts right after `--require <agent>` (stall
 * stack capture): port 0 so that workers never collide, and the URL (the
 * secret that lets a client run code in the worker) printed to stderr for the
 * daemon only, never served on /json/list to any local user. The agent takes
 * them and the --require out of process.execArgv again.
 */
export const AGENT_INSPECT_ARGS: readonly string[] = ['--inspect-port=0', '--inspect-publish-uid=stderr'];

/**
 * Variables the daemon sets for the agent only. The agent reads and deletes
 * them at start, so the app's own child processes never see them.
 * (HERD_APP_NAME, HERD_WORKER_ID and NODE_APP_INSTANCE are for the app and stay.)
 */
export const AGENT_ENV = ['HERD_METRICS', 'HERD_OVERLOAD', 'HERD_ACCESS_LOG', 'HERD_LISTEN_FDS'] as const;

export type DaemonToAgent =
  /**
   * Drain and exit: stop accepting, finish in-flight requests, run onShutdown
   * hooks; upgraded connections get `websocketDrainMs` after HTTP drained to be
   * closed by the app, then the agent closes them.
   */
  | { type: 'shutdown'; timeoutMs: number; websocketDrainMs: number }
  /** Stall watchdog: answered with 'pong' from the worker's event loop. */
  | { type: 'ping'; seq: number }
  /** Request `path` from this worker's own HTTP server, in-process; answered with 'healthResult'. */
  | { type: 'healthCheck'; id: number; path: string; timeoutMs: number };

export type AgentToDaemon =
  /** The app called ready() from the runtime API. */
  | { type: 'ready' }
  /** The agent began draining (so the daemon can show it). */
  | { type: 'draining' }
  /** In-flight work is done; the worker is about to exit on its own. */
  /** `queueWorkers`: a queue app's BullMQ Workers closed (active jobs finished) by the deadline, and those still closing. */
  | { type: 'drained'; closedIdle: number; finished: number; queueWorkers?: { closed: number; pending: number } }
  /**
   * After the app's hooks and signal handler: upgraded connections (WebSockets)
   * the app closed within websocketDrainMs, and those herd closed after it.
   */
  | { type: 'upgradedClosed'; closedByApp: number; closedByHerd: number }
  /** After draining, the app still kept the process alive; the agent ends it at the deadline. `open`: what was still open. */
  | { type: 'forcedExit'; open: string[] }
  /**
   * A server in a fork-mode worker listens (cluster mode learns it from the
   * cluster protocol). With `key`, a copy of its socket travels with the
   * message for the app's next worker to adopt.
   */
  | { type: 'listening'; address: string; key: string | null }
  /** A fork-mode worker has no listening socket `afterMs` after its code loaded: ready as it is. */
  | { type: 'settled'; afterMs: number }
  /** The app uses the cluster module's primary API itself (see agent/selfCluster.ts). */
  | { type: 'clustersItself'; how: string }
  /** Answer to 'ping'; carries the overload guard's counters. */
  /** `servers`: listening servers in the worker now (0: the app closed them all; it serves nothing). */
  | { type: 'pong'; seq: number; shed: number; shedding: boolean; servers: number }
  /** Outcome of a 'healthCheck': the HTTP status, or 0 and the reason it failed. */
  | { type: 'healthResult'; id: number; status: number; error: string | null }

  /** Once a second while metrics are on (HERD_METRICS=1): deltas and current gauges. */
  | { type: 'metrics'; report: MetricsReport };

export type Envelope<T> = T & { cmd: typeof AGENT_CMD };

/**
 * The one check of a message that arrives on a worker's channel, on either
 * side: herd's marker. Which union it belongs to is given by the channel's
 * direction (the daemon reads AgentToDaemon, the agent DaemonToAgent), and
 * each side's dispatch table passes over a type it has no handler for.
 */
export function isEnvelope<T extends { type: string }>(value: unknown): value is Envelope<T> {
  return typeof value === 'object' && value !== null && (value as { cmd?: unknown }).cmd === AGENT_CMD;
}
