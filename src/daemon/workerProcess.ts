import { spawn, type ChildProcess } from 'node:child_process';
import type { AppSpec } from '../config/types';
import type { MetricsReport } from '../metrics/report';
import { AGENT_CMD, AGENT_INSPECT_ARG, isAgentMessage, type DaemonToAgent } from '../protocol/agent';
import { handleClusterMessage, isClusterMessage } from './clusterProtocol';
import type { ForkSockets } from './forkSockets';
import { LineSplitter, Ring } from './lineBuffer';
import type { ListenSockets } from './listenSockets';
import type { LogSink, Stream } from './logSink';
import { describeExit } from './restartPolicy';
import { formatDuration } from '../util/units';

const AGENT_PATH = require.resolve('../agent/main');
/** fd of the access-log pipe in a worker (0-2 stdio, 3 IPC). */
const ACCESS_FD = 4;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The daemon asked for this exit (stop, reload, scale down); restart policy ignores it. */
  intended: boolean;
  reason: string;
  uptimeMs: number;
}

export interface HealthOutcome {
  /** HTTP status, or 0 when the check got no answer. */
  status: number;
  error: string | null;
}

export type ReadyOutcome = { kind: 'ready' } | { kind: 'exited'; exit: ExitInfo } | { kind: 'timeout' };

export interface WorkerProcessOptions {
  spec: AppSpec;
  slot: number;
  /** Daemon-wide unique id, given to Node's cluster code as NODE_UNIQUE_ID. */
  uniqueId: number;
  sockets: ListenSockets;
  /** Fork mode: copies of the sockets the app's workers listen on, handed from worker to worker. */
  forkSockets: ForkSockets;
  logs: LogSink;
  onReady: (proc: WorkerProcess, how: string) => void;
  onExit: (proc: WorkerProcess, info: ExitInfo) => void;
  onMetrics: (proc: WorkerProcess, report: MetricsReport) => void;
  /** The agent saw the app use the cluster primary API (it forks its own workers). */
  onClustersItself?: (proc: WorkerProcess, how: string) => void;
}

/**
 * One child process of an app. It knows how to start, report readiness, and
 * stop in stages (ask the agent to drain, SIGKILL after the timeout, await
 * exit); what to do about an exit is the app's business.
 */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly spec: AppSpec;
  readonly slot: number;
  readonly startedAt = Date.now();
  readonly stderrTail = new Ring<string>(20);
  ready = false;
  draining = false;
  exited: ExitInfo | null = null;
  readonly listening: string[] = [];
  /** Fork mode: the listen() calls (host|port) whose socket the daemon keeps for the next worker. */
  readonly listenKeys = new Set<string>();
  /** The app forks its own cluster workers (told by the agent): how the agent saw it. */
  clustersItself: string | null = null;
  /** What the agent said about its shutdown, for the event that reports the exit. */
  drainReport: { finished: number; closedIdle: number; websockets?: { closedByApp: number; closedByHerd: number } } | null = null;
  /** The agent had to end the process at the deadline: what the app still kept open. */
  forcedExit: string[] | null = null;
  /** Last answer of the agent to a ping (stall watchdog); the start time until the first one. */
  lastPongAt = Date.now();
  /** Requests the agent's overload guard answered 503, and whether it sheds now (as of the last pong). */
  shed = 0;
  shedding = false;
  /** Consecutive failed health checks. */
  healthFailures = 0;
  healthPending = false;
  lastHealthAt = 0;
  /** The inspector's WebSocket URL once the worker opened it (SIGUSR1), for a stack capture. */
  inspectorUrl: string | null = null;
  private readonly inspectorWaiters = new Set<(url: string) => void>();
  private pingSeq = 0;
  private healthSeq = 0;
  private readonly healthWaiters = new Map<number, (outcome: HealthOutcome) => void>();
  /** Why the daemon killed it, shown instead of "killed by SIGKILL". */
  private killReason: string | null = null;
  private intended = false;
  private killTimer: NodeJS.Timeout | null = null;
  private readonly exitWaiters: ((info: ExitInfo) => void)[] = [];
  private readonly readyWaiters = new Set<(outcome: ReadyOutcome) => void>();
  private readonly splitters: Record<Stream, LineSplitter>;

  constructor(private readonly opts: WorkerProcessOptions) {
    const { spec } = opts;
    this.spec = spec;
    this.slot = opts.slot;
    const env: Record<string, string> = {
      ...spec.env,
      HERD_APP_NAME: spec.name,
      HERD_WORKER_ID: String(opts.slot),
      // Read by the agent: with '0' it measures nothing.
      HERD_METRICS: spec.metrics === false ? '0' : '1',
      // PM2 sets these; apps use them to pick one instance for cron work.
      NODE_APP_INSTANCE: String(opts.slot),
      name: spec.name,
    };
    if (spec.execMode === 'cluster') env.NODE_UNIQUE_ID = String(opts.uniqueId);
    else delete env.NODE_UNIQUE_ID;
    // The agent writes access lines to this fd: a channel of their own, so they
    // never mix with the app's stdout and cost the IPC channel nothing.
    if (spec.accessLog) env.HERD_ACCESS_LOG = String(ACCESS_FD);
    else delete env.HERD_ACCESS_LOG;
    // Fork mode: the sockets earlier workers listened on, as fds from 5 on,
    // for the agent to hand to the app's listen() (see forkSockets.ts).
    const inherited = spec.execMode === 'fork' && spec.runner === 'node' ? opts.forkSockets.inheritable() : [];
    if (inherited.length > 0) {
      env.HERD_LISTEN_FDS = JSON.stringify(inherited.map((s, i) => ({ key: s.key, fd: ACCESS_FD + 1 + i })));
    } else {
      delete env.HERD_LISTEN_FDS;
    }
    const stdio: ('ignore' | 'pipe' | 'ipc' | number)[] = ['ignore', 'pipe', 'pipe', 'ipc'];
    if (spec.accessLog || inherited.length > 0) stdio.push(spec.accessLog ? 'pipe' : 'ignore');
    for (const s of inherited) stdio.push(s.fd);
    if (spec.overload) env.HERD_OVERLOAD = JSON.stringify(spec.overload);
    else delete env.HERD_OVERLOAD;
    // A stalled worker's stack is read through the inspector, which SIGUSR1
    // opens even while JS is blocked; port 0 so that workers never collide.
    // It must follow `--require <agent>` directly: the agent takes both out of
    // process.execArgv so that the app's own child processes do not inherit them.
    const inspect = spec.stallTimeout > 0 ? [AGENT_INSPECT_ARG] : [];

    this.child = spawn(spec.interpreter, ['--require', AGENT_PATH, ...inspect, ...spec.nodeArgs, spec.script, ...spec.args], {
      cwd: spec.cwd,
      env,
      stdio,
      serialization: 'json',
      // Its own process group: a Ctrl-C meant for `herd run` must reach the
      // supervisor, which drains the workers, not kill them mid-request.
      detached: true,
    });

    opts.logs.configure(spec.name, spec.logs);
    const write = (stream: Stream) => (msg: string) => {
      if (stream === 'err') {
        this.stderrTail.push(msg);
        const url = /^Debugger listening on (ws:\/\/\S+)/.exec(msg)?.[1];
        if (url) this.onInspector(url);
      }
      opts.logs.write({ time: Date.now(), app: spec.name, worker: opts.slot, stream, msg });
    };
    const maxLine = spec.logs.maxLineLength;
    this.splitters = {
      out: new LineSplitter(write('out'), maxLine),
      err: new LineSplitter(write('err'), maxLine),
      access: new LineSplitter(write('access'), maxLine),
    };
    // Read promptly and always: a worker writing to a full pipe blocks its event loop.
    this.child.stdout?.setEncoding('utf8').on('data', (c: string) => this.splitters.out.push(c));
    this.child.stderr?.setEncoding('utf8').on('data', (c: string) => this.splitters.err.push(c));
    const access = this.child.stdio[ACCESS_FD] as NodeJS.ReadableStream | null | undefined;
    access?.setEncoding('utf8').on('data', (c: string) => this.splitters.access.push(c));

    this.child.on('internalMessage', (message: unknown, handle: unknown) => this.onInternal(message, handle));
    this.child.on('message', (message: unknown) => {
      // PM2's convention for wait_ready apps.
      if (message === 'ready' && spec.waitReady) this.markReady('ready signal');
    });
    this.child.on('spawn', () => {
      // With the agent, a fork-mode worker is ready when it listens or has
      // settled without listening (the agent tells); without it, at start.
      if (spec.execMode === 'fork' && spec.runner !== 'node' && !spec.waitReady) this.markReady('started');
    });
    this.child.on('error', (err) => {
      // spawn failure (bad interpreter path): reported as an exit so policy applies.
      this.stderrTail.push(`herd: cannot start ${spec.interpreter}: ${err.message}`);
      if (this.child.pid === undefined) this.finish(null, null);
    });
    this.child.on('exit', (code, signal) => {
      // stdout/stderr may still hold the last lines; 'close' follows once they
      // are read. A grandchild holding the pipes must not hold up the exit.
      const late = setTimeout(() => this.finish(code, signal), 2000);
      this.child.once('close', () => {
        clearTimeout(late);
        this.finish(code, signal);
      });
    });
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  get uptimeMs(): number {
    return this.exited ? this.exited.uptimeMs : Date.now() - this.startedAt;
  }

  /**
   * Settles when this process is ready, has exited, or has not become ready
   * within `timeoutMs`, whichever comes first.
   */
  whenReady(timeoutMs: number): Promise<ReadyOutcome> {
    if (this.ready) return Promise.resolve({ kind: 'ready' });
    if (this.exited) return Promise.resolve({ kind: 'exited', exit: this.exited });
    return new Promise((resolve) => {
      const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
      const done = (outcome: ReadyOutcome) => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve(outcome);
      };
      this.readyWaiters.add(done);
    });
  }

  /** Resolves when the process has exited (immediately if it already has). */
  waitExit(): Promise<ExitInfo> {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /**
   * Graceful stop: the agent stops accepting, finishes in-flight requests and
   * exits; SIGKILL when that takes longer than `timeoutMs`.
   */
  stop(timeoutMs: number): Promise<ExitInfo> {
    if (this.exited) return Promise.resolve(this.exited);
    this.intended = true;
    if (!this.draining) {
      this.draining = true;
      const websocketDrainMs = Math.min(this.spec.websocketDrain, timeoutMs);
      const sent = this.send({ type: 'shutdown', timeoutMs, websocketDrainMs });
      if (!sent) this.signal('SIGTERM');
      this.killTimer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    }
    return this.waitExit();
  }

  /** Stall watchdog: the agent answers with a pong from its event loop. */
  ping(): void {
    this.send({ type: 'ping', seq: ++this.pingSeq });
  }

  /** Ask the agent to request `path` from its own HTTP server; never rejects. */
  healthCheck(path: string, timeoutMs: number): Promise<HealthOutcome> {
    const id = ++this.healthSeq;
    return new Promise((resolve) => {
      // The agent times the request out itself; this covers an agent that cannot answer at all.
      const timer = setTimeout(() => finish({ status: 0, error: `no answer within ${timeoutMs}ms` }), timeoutMs + 1000);
      const finish = (outcome: HealthOutcome) => {
        clearTimeout(timer);
        this.healthWaiters.delete(id);
        resolve(outcome);
      };
      this.healthWaiters.set(id, finish);
      if (!this.send({ type: 'healthCheck', id, path, timeoutMs })) finish({ status: 0, error: 'worker not connected' });
    });
  }

  /** Resolves with the inspector URL once the worker printed it, or null after `timeoutMs`. */
  openInspector(timeoutMs: number): Promise<string | null> {
    if (this.inspectorUrl) return Promise.resolve(this.inspectorUrl);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (url: string | null) => {
        clearTimeout(timer);
        this.inspectorWaiters.delete(done);
        resolve(url);
      };
      this.inspectorWaiters.add(done);
      this.signal('SIGUSR1');
    });
  }

  /** SIGKILL a worker that cannot drain (stalled); its exit is a crash with this reason. */
  killWith(reason: string): void {
    this.killReason = reason;
    this.signal('SIGKILL');
  }

  /** Immediate stop, for a new worker that failed to become ready. */
  kill(): Promise<ExitInfo> {
    this.intended = true;
    this.signal('SIGKILL');
    return this.waitExit();
  }

  private send(message: DaemonToAgent): boolean {
    if (!this.child.connected) return false;
    try {
      this.child.send({ ...message, cmd: AGENT_CMD });
      return true;
    } catch {
      return false;
    }
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.exited || this.child.exitCode !== null || this.child.signalCode !== null) return;
    // A SIGKILL takes the worker's whole process group (it leads one, being
    // detached): the app's own cluster workers and child processes must not
    // outlive it, as under systemd's KillMode=control-group.
    if (sig === 'SIGKILL' && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, sig);
        return;
      } catch {
        // no such group: signal the process alone
      }
    }
    try {
      this.child.kill(sig);
    } catch {
      // already gone
    }
  }

  private onInternal(message: unknown, handle: unknown): void {
    if (isClusterMessage(message)) {
      handleClusterMessage(this.child, message, this.opts.sockets, {
        onListening: (address) => {
          if (!this.listening.includes(address)) this.listening.push(address);
          if (!this.spec.waitReady) this.markReady(`listening on ${address}`);
        },
      });
      return;
    }
    if (!isAgentMessage(message)) return;
    switch (message.type) {
      case 'ready':
        if (this.spec.waitReady) this.markReady('ready()');
        return;
      case 'draining':
        this.draining = true;
        return;
      case 'drained':
        this.drainReport = { finished: message.finished, closedIdle: message.closedIdle };
        return;
      case 'upgradedClosed':
        if (this.drainReport) this.drainReport.websockets = { closedByApp: message.closedByApp, closedByHerd: message.closedByHerd };
        return;
      case 'forcedExit':
        this.forcedExit = Array.isArray(message.open) ? message.open.map(String) : [];
        return;
      case 'listening':
        if (typeof message.address !== 'string') return;
        if (!this.listening.includes(message.address)) this.listening.push(message.address);
        if (typeof message.key === 'string' && handle) {
          this.listenKeys.add(message.key);
          this.opts.forkSockets.keep(message.key, handle);
        }
        if (!this.spec.waitReady) this.markReady(`listening on ${message.address}`);
        return;
      case 'settled':
        if (!this.spec.waitReady) this.markReady(`no listening socket after ${formatDuration(message.afterMs)}; counted as ready`);
        return;
      case 'clustersItself':
        this.clustersItself = String(message.how);
        this.opts.onClustersItself?.(this, this.clustersItself);
        return;
      case 'pong':
        this.lastPongAt = Date.now();
        this.shed = message.shed;
        this.shedding = message.shedding;
        return;
      case 'healthResult':
        this.healthWaiters.get(message.id)?.({ status: message.status, error: message.error });
        return;
      case 'metrics':
        if (typeof message.report === 'object' && message.report !== null) this.opts.onMetrics(this, message.report);
        return;
    }
  }

  private onInspector(url: string): void {
    this.inspectorUrl = url;
    for (const waiter of [...this.inspectorWaiters]) waiter(url);
  }

  private markReady(how: string): void {
    if (this.ready || this.exited || this.draining) return;
    this.ready = true;
    this.lastPongAt = Date.now();
    for (const waiter of [...this.readyWaiters]) waiter({ kind: 'ready' });
    this.opts.onReady(this, how);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    if (this.killTimer) clearTimeout(this.killTimer);
    this.splitters.out.flush();
    this.splitters.err.flush();
    this.splitters.access.flush();
    const info: ExitInfo = {
      code,
      signal,
      intended: this.intended,
      reason: this.killReason ?? describeExit(code, signal),
      uptimeMs: Date.now() - this.startedAt,
    };
    this.exited = info;
    for (const waiter of this.exitWaiters.splice(0)) waiter(info);
    for (const waiter of [...this.readyWaiters]) waiter({ kind: 'exited', exit: info });
    this.opts.onExit(this, info);
  }
}
