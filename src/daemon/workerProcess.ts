import { spawn, type ChildProcess } from 'node:child_process';
import type { AppSpec } from '../config/types';
import type { MetricsReport } from '../metrics/report';
import { AGENT_CMD, isAgentMessage, type DaemonToAgent } from '../protocol/agent';
import { handleClusterMessage, isClusterMessage } from './clusterProtocol';
import { LineSplitter, Ring } from './lineBuffer';
import type { ListenSockets } from './listenSockets';
import type { LogSink, Stream } from './logSink';
import { describeExit } from './restartPolicy';

const AGENT_PATH = require.resolve('../agent/main');

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The daemon asked for this exit (stop, reload, scale down); restart policy ignores it. */
  intended: boolean;
  reason: string;
  uptimeMs: number;
}

export type ReadyOutcome = { kind: 'ready' } | { kind: 'exited'; exit: ExitInfo } | { kind: 'timeout' };

export interface WorkerProcessOptions {
  spec: AppSpec;
  slot: number;
  /** Daemon-wide unique id, given to Node's cluster code as NODE_UNIQUE_ID. */
  uniqueId: number;
  sockets: ListenSockets;
  logs: LogSink;
  onReady: (proc: WorkerProcess, how: string) => void;
  onExit: (proc: WorkerProcess, info: ExitInfo) => void;
  onMetrics: (proc: WorkerProcess, report: MetricsReport) => void;
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

    this.child = spawn(spec.interpreter, ['--require', AGENT_PATH, ...spec.nodeArgs, spec.script, ...spec.args], {
      cwd: spec.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
      // Its own process group: a Ctrl-C meant for `herd run` must reach the
      // supervisor, which drains the workers, not kill them mid-request.
      detached: true,
    });

    const write = (stream: Stream) => (msg: string) => {
      if (stream === 'err') this.stderrTail.push(msg);
      opts.logs.write({ time: Date.now(), app: spec.name, worker: opts.slot, stream, msg });
    };
    this.splitters = { out: new LineSplitter(write('out')), err: new LineSplitter(write('err')) };
    // Read promptly and always: a worker writing to a full pipe blocks its event loop.
    this.child.stdout?.setEncoding('utf8').on('data', (c: string) => this.splitters.out.push(c));
    this.child.stderr?.setEncoding('utf8').on('data', (c: string) => this.splitters.err.push(c));

    this.child.on('internalMessage', (message: unknown) => this.onInternal(message));
    this.child.on('message', (message: unknown) => {
      // PM2's convention for wait_ready apps.
      if (message === 'ready' && spec.waitReady) this.markReady('ready signal');
    });
    this.child.on('spawn', () => {
      if (spec.execMode === 'fork' && !spec.waitReady) this.markReady('started');
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
      const sent = this.send({ type: 'shutdown', timeoutMs });
      if (!sent) this.signal('SIGTERM');
      this.killTimer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    }
    return this.waitExit();
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
    try {
      this.child.kill(sig);
    } catch {
      // already gone
    }
  }

  private onInternal(message: unknown): void {
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
        return;
      case 'metrics':
        if (typeof message.report === 'object' && message.report !== null) this.opts.onMetrics(this, message.report);
        return;
    }
  }

  private markReady(how: string): void {
    if (this.ready || this.exited || this.draining) return;
    this.ready = true;
    for (const waiter of [...this.readyWaiters]) waiter({ kind: 'ready' });
    this.opts.onReady(this, how);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    if (this.killTimer) clearTimeout(this.killTimer);
    this.splitters.out.flush();
    this.splitters.err.flush();
    const info: ExitInfo = {
      code,
      signal,
      intended: this.intended,
      reason: describeExit(code, signal),
      uptimeMs: Date.now() - this.startedAt,
    };
    this.exited = info;
    for (const waiter of this.exitWaiters.splice(0)) waiter(info);
    for (const waiter of [...this.readyWaiters]) waiter({ kind: 'exited', exit: info });
    this.opts.onExit(this, info);
  }
}
