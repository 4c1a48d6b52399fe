import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { getSystemErrorName } from 'node:util';
import type { AppSpec } from '../../config/types';
import { AGENT_CMD, isEnvelope, type AgentToDaemon, type DaemonToAgent } from '../../protocol/agent';
import { handleClusterMessage, isClusterMessage } from '../sockets/clusterProtocol';
import { LineSplitter } from '../../logs/lineBuffer';
import { Ring } from '../../util/ring';
import { ListenWatch } from './listenWatch';
import type { LogSink, Stream } from '../../logs/logSink';
import { parseListenFailure, type ListenFailure } from '../sockets/portConflict';
import { signalGroup, waitGroupGone } from './processGroup';
import { ACCESS_FD, workerCommand } from './workerCommand';
import { runAsFor } from './runAs';
import { formatDuration } from '../../util/units';
import { captureStack, type StackCapture } from './stackCapture';
import type { ExitInfo, HealthOutcome, ReadyOutcome, Worker, WorkerOptions } from './worker';

/**
 * The signal that asks a worker without the agent to stop: PM2's default
 * kill signal, which Python turns into KeyboardInterrupt, and which npm and
 * shells pass on. It goes to the whole process group, as a Ctrl-C would.
 */
export const EXEC_STOP_SIGNAL = 'SIGINT';
/** After SIGKILL, how long the group may take to disappear before the exit is reported anyway. */
const GROUP_KILL_GRACE_MS = 1000;

export type { ExitInfo, HealthOutcome, ReadyOutcome } from './worker';

/** A message from the worker's agent, with the socket handle that may travel with it. */
type AgentHandler<T extends AgentToDaemon['type']> = (message: Extract<AgentToDaemon, { type: T }>, handle: unknown) => void;
/** A new message type without a handler does not compile. */
type AgentHandlers = { [T in AgentToDaemon['type']]: AgentHandler<T> };

export interface WorkerProcessOptions extends WorkerOptions {
  logs: LogSink;
}

/**
 * One child process of an app. It knows how to start, report readiness, and
 * stop in stages (ask the agent to drain, SIGKILL after the timeout, await
 * exit); what to do about an exit is the app's business.
 *
 * Without the agent (runner 'exec': python3, a shell script, npm) readiness
 * is read from /proc (ListenWatch) and a stop is EXEC_STOP_SIGNAL to the
 * worker's process group, then SIGKILL to the group after killTimeout; the
 * worker has exited once its whole group has.
 */
export class WorkerProcess implements Worker {
  readonly child: ChildProcess;
  readonly spec: AppSpec;
  readonly slot: number;
  readonly startedAt = Date.now();
  readonly stderrTail = new Ring<string>(20);
  ready = false;
  /** When it became ready; null until then. */
  readyAt: number | null = null;
  draining = false;
  exited: ExitInfo | null = null;
  readonly listening: string[] = [];
  /** Preloaded with herd's agent (runner 'node'): drain, ready(), metrics, pings over IPC. */
  readonly hasAgent: boolean;
  /** Why its listen() failed (port in use, no privilege), from the daemon's bind or the worker's stderr. */
  listenFailure: ListenFailure | null = null;
  /** Fork mode: the listen() calls (host|port) whose socket the daemon keeps for the next worker. */
  readonly listenKeys = new Set<string>();
  /** A server of its own listened (cluster protocol, or the agent in fork mode). */
  private listened = false;
  /** Pongs in a row that reported no listening server. */
  private emptyPongs = 0;
  /** The app closed its last server; the owner was told. */
  serversGone = false;
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
  /** herd sent SIGUSR1 to open the inspector (the app's own --inspect output is logged as usual). */
  private inspectorRequested = false;
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
  private listenWatch: ListenWatch | null = null;
  /** When the SIGKILL stage is due (ms since epoch), once a stop began. */
  private killAt: number | null = null;

  constructor(private readonly opts: WorkerProcessOptions) {
    const { spec } = opts;
    this.spec = spec;
    this.slot = opts.slot;
    // Fork mode: the sockets earlier workers listened on, for the app's listen() (see forkSockets.ts).
    const inherited = spec.execMode === 'fork' && spec.runner === 'node' ? opts.forkSockets.inheritable() : [];
    // As the app's `user` when it has one: resolved and checked when the app started or reloaded (runAs.ts).
    const command = workerCommand(spec, opts.slot, opts.uniqueId, inherited, runAsFor(spec));
    this.hasAgent = command.agent;
    this.child = spawn(command.file, command.args, {
      cwd: spec.cwd,
      env: command.env,
      stdio: command.stdio,
      serialization: 'json',
      // Its own process group: a Ctrl-C meant for `herd run` must reach the
      // supervisor, which drains the workers, not kill them mid-request; and
      // signals meant for the worker reach everything it started.
      detached: true,
    });

    opts.logs.configure(spec.name, spec.logs, spec.logFiles);
    const write = (stream: Stream) => (msg: string) => {
      if (stream === 'err') {
        // The inspector herd opened for a stack capture announces its secret
        // URL on stderr (--inspect-publish-uid=stderr, never over HTTP): the
        // daemon reads it, and it goes to no log file or tail.
        if (this.inspectorRequested) {
          const url = /^Debugger listening on (ws:\/\/\S+)/.exec(msg)?.[1];
          if (url) {
            this.onInspector(url);
            return;
          }
          if (msg.startsWith('For help, see: https://nodejs.org/') && msg.includes('inspector')) return;
        }
        this.stderrTail.push(msg);
        this.listenFailure ??= parseListenFailure(msg);
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
      // settled without listening (the agent tells); without it, when a
      // socket in its process tree listens (ListenWatch).
      if (!this.hasAgent) this.watchListening();
    });
    this.child.on('error', (err) => {
      // spawn failure (bad interpreter path): reported as an exit so policy applies.
      this.stderrTail.push(`herd: cannot start ${command.file}: ${err.message}`);
      if (this.child.pid === undefined) this.finish(null, null);
    });
    this.child.on('exit', (code, signal) => {
      this.listenWatch?.stop();
      // stdout/stderr may still hold the last lines; 'close' follows once they
      // are read. A grandchild holding the pipes must not hold up the exit.
      const closed = new Promise<void>((resolve) => {
        const late = setTimeout(resolve, 2000);
        this.child.once('close', () => {
          clearTimeout(late);
          resolve();
        });
      });
      void closed.then(() => this.reapGroup()).then(() => this.finish(code, signal));
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
      this.listenWatch?.stop();
      if (!this.hasAgent) this.signalTree(EXEC_STOP_SIGNAL);
      else if (!this.send({ type: 'shutdown', timeoutMs, websocketDrainMs: Math.min(this.spec.websocketDrain, timeoutMs) })) this.signal('SIGTERM');
      this.killAt = Date.now() + timeoutMs;
      this.killTimer = setTimeout(() => this.signalTree('SIGKILL'), timeoutMs);
    }
    return this.waitExit();
  }

  /** Stall watchdog: the agent answers with a pong from its event loop. */
  ping(): void {
    this.send({ type: 'ping', seq: ++this.pingSeq });
  }

  /** Ask the agent to request `path` from its own HTTP server; never rejects. */
  healthCheck(path: string, timeoutMs: number): Promise<HealthOutcome> {
    // Without the agent the daemon asks the address the worker listens on itself.
    if (!this.hasAgent) return httpCheck(this.listening[0] ?? null, path, timeoutMs);
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
      this.inspectorRequested = true;
      this.signal('SIGUSR1');
    });
  }

  captureStack(timeoutMs: number): Promise<StackCapture> {
    return captureStack(this, timeoutMs);
  }

  sendSignal(signal: NodeJS.Signals): boolean {
    return this.child.kill(signal);
  }

  /** SIGKILL a worker that cannot drain (stalled); its exit is a crash with this reason. */
  killWith(reason: string): void {
    this.killReason = reason;
    this.signalTree('SIGKILL');
  }

  /** Immediate stop, for a new worker that failed to become ready. */
  kill(): Promise<ExitInfo> {
    this.intended = true;
    this.listenWatch?.stop();
    this.killAt = Date.now();
    this.signalTree('SIGKILL');
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

  /**
   * The worker and everything in its process group. SIGKILL goes to the group
   * whatever the runner, so a killed Node worker orphans no grandchild either.
   */
  private signalTree(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (this.exited || pid === undefined) return;
    if (!this.hasAgent || sig === 'SIGKILL') {
      if (!signalGroup(pid, sig)) this.signal(sig);
      return;
    }
    this.signal(sig);
  }

  /**
   * After the leader exited: a worker without the agent is its whole process
   * group (npm exits when its node does, but a shell's child may outlive the
   * shell). What is left gets the stop signal (if it did not already), then
   * SIGKILL at the stop's deadline; the exit is reported once the group is
   * gone. A Node worker's group is reaped like that only after a SIGKILL.
   */
  private async reapGroup(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || (this.hasAgent && this.killAt === null)) return;
    if (this.hasAgent && Date.now() < (this.killAt ?? 0)) return;
    if (await waitGroupGone(pid, Date.now())) return;
    if (this.killAt === null) {
      // The leader exited on its own: stop what it left behind.
      signalGroup(pid, EXEC_STOP_SIGNAL);
      this.killAt = Date.now() + this.spec.killTimeout;
    }
    if (await waitGroupGone(pid, this.killAt)) return;
    signalGroup(pid, 'SIGKILL');
    await waitGroupGone(pid, Date.now() + GROUP_KILL_GRACE_MS);
  }

  /** Readiness without the agent: a listening socket in the worker's tree (ListenWatch). */
  private watchListening(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    this.listenWatch = new ListenWatch(pid, this.spec.listenTimeout, {
      listening: (addresses) => {
        for (const a of addresses) if (!this.listening.includes(a)) this.listening.push(a);
        this.markReady(`listening on ${addresses.join(', ')}`);
      },
      settled: () => this.markReady('started; not listening'),
    });
  }

  private onInternal(message: unknown, handle: unknown): void {
    if (isClusterMessage(message)) {
      handleClusterMessage(this.child, message, this.opts.sockets, {
        id: this.opts.uniqueId,
        slot: this.slot,
        accepting: () => this.ready && !this.draining && !this.exited,
        onListening: (address, stream) => {
          if (!this.listening.includes(address)) this.listening.push(address);
          // A UDP socket is not a server the agent counts: only streams are watched for closing.
          if (stream) this.listened = true;
          if (!this.spec.waitReady) this.markReady(`listening on ${address}`);
        },
        onListenError: ({ address, port, errno }) => {
          const code = errnoName(errno);
          if (code === 'EADDRINUSE' || code === 'EACCES') this.listenFailure ??= { code, address, port };
        },
      });
      return;
    }
    if (!isEnvelope<AgentToDaemon>(message)) return;
    // A type this daemon does not know (an agent of another version) is passed over.
    if (!Object.hasOwn(this.agentHandlers, message.type)) return;
    (this.agentHandlers[message.type] as AgentHandler<AgentToDaemon['type']>)(message as never, handle);
  }

  /** What each message of the worker's agent does. */
  private readonly agentHandlers: AgentHandlers = {
    ready: () => {
      if (this.spec.waitReady) this.markReady('ready()');
    },
    draining: () => {
      this.draining = true;
    },
    drained: (message) => {
      this.drainReport = { finished: message.finished, closedIdle: message.closedIdle };
    },
    upgradedClosed: (message) => {
      if (this.drainReport) this.drainReport.websockets = { closedByApp: message.closedByApp, closedByHerd: message.closedByHerd };
    },
    forcedExit: (message) => {
      this.forcedExit = Array.isArray(message.open) ? message.open.map(String) : [];
    },
    listening: (message, handle) => {
      if (typeof message.address !== 'string') return;
      if (!this.listening.includes(message.address)) this.listening.push(message.address);
      if (typeof message.key === 'string' && handle) {
        this.listenKeys.add(message.key);
        this.opts.forkSockets.keep(message.key, handle);
      }
      this.listened = true;
      if (!this.spec.waitReady) this.markReady(`listening on ${message.address}`);
    },
    settled: (message) => {
      if (!this.spec.waitReady) this.markReady(`no listening socket after ${formatDuration(message.afterMs)}; counted as ready`);
    },
    clustersItself: (message) => {
      this.clustersItself = String(message.how);
      this.opts.onClustersItself?.(this, this.clustersItself);
    },
    pong: (message) => {
      this.lastPongAt = Date.now();
      this.shed = message.shed;
      this.shedding = message.shedding;
      this.checkServers(typeof message.servers === 'number' ? message.servers : -1);
    },
    healthResult: (message) => {
      this.healthWaiters.get(message.id)?.({ status: message.status, error: message.error });
    },
    metrics: (message) => {
      if (typeof message.report === 'object' && message.report !== null) this.opts.onMetrics(this, message.report);
    },
  };

  /**
   * A worker that became ready by listening and now has no listening server
   * left (the app closed it; the process lives on) serves nothing: told once,
   * after two answers in a row, so an app that closes and re-listens at once
   * is left alone. An app with its own cluster listens in its workers, not here.
   */
  private checkServers(servers: number): void {
    if (servers !== 0 || !this.listened || !this.ready || this.draining || this.exited || (this.clustersItself !== null && this.spec.execMode === 'fork') || this.serversGone) {
      this.emptyPongs = 0;
      return;
    }
    if (++this.emptyPongs < 2) return;
    this.serversGone = true;
    this.opts.onServersGone?.(this);
  }

  private onInspector(url: string): void {
    this.inspectorUrl = url;
    for (const waiter of [...this.inspectorWaiters]) waiter(url);
  }

  private markReady(how: string): void {
    if (this.ready || this.exited || this.draining) return;
    this.ready = true;
    this.readyAt = Date.now();
    this.lastPongAt = this.readyAt;
    for (const waiter of [...this.readyWaiters]) waiter({ kind: 'ready' });
    this.opts.onReady(this, how);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.listenWatch?.stop();
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

/** GET `path` from a worker's listening address (a wildcard one is asked on loopback); never rejects. */
function httpCheck(address: string | null, path: string, timeoutMs: number): Promise<HealthOutcome> {
  const m = address === null ? null : /^\[?(.*?)\]?:(\d+)$/.exec(address);
  if (!m) return Promise.resolve({ status: 0, error: 'the worker does not listen on TCP' });
  const host = m[1] === '::' ? '::1' : m[1] === '0.0.0.0' ? '127.0.0.1' : (m[1] as string);
  return new Promise((resolve) => {
    const req = http.get({ host, port: Number(m[2]), path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, error: null });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
  });
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(errno);
  } catch {
    return String(errno);
  }
}

/** Readable reason for a process exit. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  if (code === 0) return 'exited with code 0';
  return `exited with code ${code ?? 'unknown'}`;
}
