import type { AgentToDaemon, DaemonToAgent } from '../protocol/agent';
import { closeUpgraded, drainServers, listeningServerCount, type DrainResult, type UpgradedResult } from './drain';
import { selfRequest, type SelfRequestResult } from './selfRequest';

/** How the agent talks to the daemon and leaves; process-backed in main.ts, fake in tests. */
export interface AgentChannel {
  send(message: AgentToDaemon): void;
  onMessage(handler: (message: DaemonToAgent) => void): void;
  /** Whether the app installed handlers for this signal (PM2 apps clean up on SIGINT). */
  hasSignalHandlers(signal: 'SIGINT' | 'SIGTERM'): boolean;
  raise(signal: 'SIGINT' | 'SIGTERM'): void;
  exit(code: number): void;
  /**
   * Stop keeping the process alive for the daemon's sake (unref the IPC
   * channel), so that it ends by itself once the app has nothing left to do.
   */
  release?(): void;
  /** What still keeps the process alive (for the daemon's event when the agent must end it). */
  openHandles?(): string[];
  /** Stop the cluster workers the app forked itself (fork mode), by `deadline`. */
  stopOwnWorkers?(deadline: number): Promise<void>;
  /** A queue app: close its BullMQ Workers (their active jobs finish), by `deadline`; null when it has none. */
  closeQueueWorkers?(deadline: number): Promise<{ closed: number; pending: number } | null>;
}

export type ShutdownHook = () => unknown;

export type CustomMetricKind = 'counter' | 'gauge' | 'histogram';

/** The metrics collector as the agent sees it (absent with metrics: false). */
export interface AgentMetrics {
  custom(kind: CustomMetricKind, name: string, value: number): void;
  /** Send what was measured since the last report, before the worker exits. */
  flush(): void;
}

/** What the runtime API (require('herd-runtime')) finds on globalThis inside a worker. */
export interface AgentApi {
  ready(): void;
  onShutdown(hook: ShutdownHook): void;
  /** Custom metrics from the runtime API; ignored when metrics are off. */
  customMetric(kind: CustomMetricKind, name: string, value: number): void;
  readonly appName: string;
  readonly workerId: number;
}

export const AGENT_GLOBAL = Symbol.for('herd.agent');

/** AppSpec's websocketDrain default, for a shutdown the daemon did not ask for (it went away). */
const DEFAULT_WEBSOCKET_DRAIN_MS = 2000;

/** What the agent reports about protection: the overload guard's counters, the health check. */
export interface ProtectHooks {
  shedStats(): { shed: number; shedding: boolean };
  /** Servers listening in this worker now, so the daemon notices an app that closed its last one. */
  listeningServers(): number;
  healthCheck(path: string, timeoutMs: number): Promise<SelfRequestResult>;
}

const DEFAULT_PROTECT: ProtectHooks = {
  shedStats: () => ({ shed: 0, shedding: false }),
  listeningServers: listeningServerCount,
  healthCheck: (path, timeoutMs) => selfRequest(path, timeoutMs),
};

export class Agent implements AgentApi {
  private readonly hooks: ShutdownHook[] = [];
  private shuttingDown = false;
  private metrics: AgentMetrics | null = null;

  constructor(
    private readonly channel: AgentChannel,
    readonly appName: string,
    readonly workerId: number,
    private readonly drain: (deadline: number) => Promise<DrainResult> = drainServers,
    private readonly protect: ProtectHooks = DEFAULT_PROTECT,
    private readonly upgraded: (deadline: number) => Promise<UpgradedResult> = closeUpgraded,
  ) {
    channel.onMessage((message) => this.dispatch(message));
  }

  /** Draining or exiting: nothing should start accepting again. */
  get shuttingDownNow(): boolean {
    return this.shuttingDown;
  }

  ready(): void {
    this.channel.send({ type: 'ready' });
  }

  onShutdown(hook: ShutdownHook): void {
    this.hooks.push(hook);
  }

  attachMetrics(metrics: AgentMetrics): void {
    this.metrics = metrics;
  }

  customMetric(kind: CustomMetricKind, name: string, value: number): void {
    this.metrics?.custom(kind, name, value);
  }

  private dispatch(message: DaemonToAgent): void {
    const handlers: { [T in DaemonToAgent['type']]: (m: Extract<DaemonToAgent, { type: T }>) => void } = {
      shutdown: (m) => void this.shutdown(m.timeoutMs, m.websocketDrainMs),
      // Answered from the event loop: a worker stuck in synchronous code cannot.
      ping: (m) => this.channel.send({ type: 'pong', seq: m.seq, ...this.protect.shedStats(), servers: this.protect.listeningServers() }),
      healthCheck: (m) => void this.protect.healthCheck(m.path, m.timeoutMs).then(
        (r) => this.channel.send({ type: 'healthResult', id: m.id, status: r.status, error: r.error }),
        (err: unknown) => this.channel.send({ type: 'healthResult', id: m.id, status: 0, error: String(err) })),
    };
    // A type this agent does not know (a daemon of another version) is passed over, not thrown in the app's process.
    if (!Object.hasOwn(handlers, message.type)) return;
    (handlers[message.type] as (m: DaemonToAgent) => void)(message);
  }

  /**
   * Drain HTTP, run the app's clean-up, exit. The daemon SIGKILLs us if this
   * overruns. Upgraded connections (WebSockets) stay open through the app's
   * hooks and signal handler, which close them with their own close frames,
   * for at most `websocketDrainMs` after HTTP drained; then they are closed.
   */
  async shutdown(timeoutMs: number, websocketDrainMs = DEFAULT_WEBSOCKET_DRAIN_MS): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.channel.send({ type: 'draining' });
    // Leave a margin so the worker exits on its own before the daemon's SIGKILL.
    const deadline = Date.now() + Math.max(0, timeoutMs - 250);
    const result = await this.drain(deadline);
    // An app that clusters itself: its workers finish their requests and exit before the primary does.
    await this.channel.stopOwnWorkers?.(deadline);
    // A queue app's jobs in progress finish before its hooks close what they use (a database, say).
    const queueWorkers = (await this.channel.closeQueueWorkers?.(deadline)) ?? null;
    const upgradedDeadline = Math.min(deadline, Date.now() + websocketDrainMs);
    for (const hook of this.hooks) {
      try {
        await withDeadline(Promise.resolve().then(hook), deadline);
      } catch (err) {
        console.error('herd: onShutdown hook failed:', err);
      }
    }
    // The requests served while draining count too.
    this.metrics?.flush();
    this.channel.send({ type: 'drained', closedIdle: result.closedIdle, finished: result.finished, ...(queueWorkers ? { queueWorkers } : {}) });
    const signal = this.channel.hasSignalHandlers('SIGINT') ? 'SIGINT' : this.channel.hasSignalHandlers('SIGTERM') ? 'SIGTERM' : null;
    if (signal) {
      // The app has its own clean-up on a signal (as PM2 apps do): let it run
      // and exit by itself; the daemon's kill timeout still bounds it.
      this.channel.raise(signal);
      // A handler that only closes the server (`server.close()`) expects the
      // process to end by itself, as under plain node, where it does within
      // milliseconds. What would keep it alive here is herd's IPC channel:
      // released, the process exits as soon as the app lets it.
      this.channel.release?.();
      setTimeout(() => {
        this.channel.send({ type: 'forcedExit', open: this.channel.openHandles?.() ?? [] });
        this.channel.exit(0);
      }, Math.max(0, deadline - Date.now())).unref();
      await this.closeUpgraded(upgradedDeadline);
      return;
    }
    await this.closeUpgraded(upgradedDeadline);
    this.channel.exit(0);
  }

  private async closeUpgraded(deadline: number): Promise<void> {
    const r = await this.upgraded(deadline);
    if (r.closedByApp + r.closedByHerd > 0) this.channel.send({ type: 'upgradedClosed', ...r });
  }
}

async function withDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
