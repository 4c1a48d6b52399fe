import { spawn, type ChildProcess } from 'node:child_process';
import { getSystemErrorName } from 'node:util';
import { AGENT_CMD, isEnvelope, type AgentToDaemon, type DaemonToAgent } from '../../protocol/agent';
import type { DrainReport, ExitEvent, ExitInfo, HostedWorkerState, ListenFailure, ShimReply, ShimToDaemon, SpawnPlan } from '../../protocol/shim';
import { handleClusterMessage, isClusterMessage } from '../sockets/clusterProtocol';
import type { ForkSockets } from '../sockets/forkSockets';
import type { ListenSockets } from '../sockets/listenSockets';
import { LineSplitter } from '../../logs/lineBuffer';
import { Ring } from '../../util/ring';
import { ListenWatch } from './listenWatch';
import type { LogSink, Stream } from '../../logs/logSink';
import { parseListenFailure } from '../sockets/portConflict';
import { signalGroup, waitGroupGone } from './processGroup';
import { formatDuration } from '../../util/units';
import { withInherited } from '../../shim/inheritedSockets';
import { readyBy, type ReadinessSignal } from '../../shim/readiness';

/**
 * The signal that asks a worker without the agent to stop: PM2's default
 * kill signal, which Python turns into KeyboardInterrupt, and which npm and
 * shells pass on. It goes to the whole process group, as a Ctrl-C would.
 */
export const EXEC_STOP_SIGNAL = 'SIGINT';
/** After SIGKILL, how long the group may take to disappear before the exit is reported anyway. */
const GROUP_KILL_GRACE_MS = 1000;

export type { ExitInfo };

/** What a worker process tells its host, to pass on to the daemon (the host numbers exits). */
export type WorkerReport =
  | Exclude<ShimToDaemon, ShimReply | { type: 'sockets' } | ExitEvent>
  | Omit<ExitEvent, 'seq'>;

/** A message from the worker's agent, with the socket handle that may travel with it. */
type AgentHandler<T extends AgentToDaemon['type']> = (message: Extract<AgentToDaemon, { type: T }>, handle: unknown) => void;
/** A new message type without a handler does not compile. */
type AgentHandlers = { [T in AgentToDaemon['type']]: AgentHandler<T> };

export interface WorkerProcessOptions {
  /** Unique id (NODE_UNIQUE_ID in cluster mode): how the daemon names this worker. */
  worker: number;
  slot: number;
  plan: SpawnPlan;
  sockets: ListenSockets;
  /** Fork mode: copies of the sockets the app's workers listen on, handed from worker to worker. */
  forkSockets: ForkSockets;
  logs: LogSink;
  report: (event: WorkerReport) => void;
}

/**
 * One child process of an app, as its host runs it: the host side of a
 * worker (the daemon side is HostedWorker). It spawns what the daemon's plan
 * says, reads the child's output into the app's log, answers the cluster
 * protocol with the host's sockets, decides readiness, stops in stages (ask
 * the agent to drain, SIGKILL after the timeout, await exit) and reports the
 * facts; what to do about them is the daemon's business.
 *
 * Without the agent (runner 'exec': python3, a shell script, npm) readiness
 * is read from /proc (ListenWatch) and a stop is EXEC_STOP_SIGNAL to the
 * worker's process group, then SIGKILL to the group after killTimeout; the
 * worker has exited once its whole group has.
 */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly worker: number;
  readonly slot: number;
  readonly startedAt = Date.now();
  readonly stderrTail = new Ring<string>(20);
  ready = false;
  readyAt: number | null = null;
  readyHow: string | null = null;
  draining = false;
  exited: ExitInfo | null = null;
  readonly listening: string[] = [];
  readonly hasAgent: boolean;
  /** Why its listen() failed (port in use, no privilege), from the host's bind or the worker's stderr. */
  listenFailure: ListenFailure | null = null;
  /** Fork mode: the listen() calls (host|port) whose socket the host keeps for the next worker. */
  readonly listenKeys = new Set<string>();
  drainReport: DrainReport | null = null;
  forcedExit: string[] | null = null;
  /** The inspector's WebSocket URL once the worker opened it (SIGUSR1), for a stack capture. */
  private inspectorUrl: string | null = null;
  private readonly inspectorWaiters = new Set<(url: string) => void>();
  /** herd sent SIGUSR1 to open the inspector (the app's own --inspect output is logged as usual). */
  private inspectorRequested = false;
  /** Why the daemon killed it, shown instead of "killed by SIGKILL". */
  private killReason: string | null = null;
  private intended = false;
  private killTimer: NodeJS.Timeout | null = null;
  private readonly exitWaiters: ((info: ExitInfo) => void)[] = [];
  private readonly splitters: Record<Stream, LineSplitter>;
  private listenWatch: ListenWatch | null = null;
  /** When the SIGKILL stage is due (ms since epoch), once a stop began. */
  private killAt: number | null = null;
  private readonly plan: SpawnPlan;

  constructor(private readonly opts: WorkerProcessOptions) {
    const { plan } = opts;
    this.plan = plan;
    this.worker = opts.worker;
    this.slot = opts.slot;
    this.hasAgent = plan.hasAgent;
    // Fork mode: the sockets earlier workers listened on, for the app's listen() (see forkSockets.ts).
    const { stdio, env } = withInherited(plan, plan.inheritForkSockets ? opts.forkSockets.inheritable() : []);
    this.child = spawn(plan.file, plan.args, {
      cwd: plan.cwd,
      env,
      stdio,
      serialization: 'json',
      // Its own process group: a Ctrl-C meant for `herd run` must reach the
      // supervisor, which drains the workers, not kill them mid-request; and
      // signals meant for the worker reach everything it started.
      detached: true,
    });
    opts.report({ type: 'spawned', worker: this.worker, pid: this.child.pid ?? null });

    const write = (stream: Stream) => (msg: string) => {
      if (stream === 'err') {
        // The inspector herd opened for a stack capture announces its secret
        // URL on stderr (--inspect-publish-uid=stderr, never over HTTP): the
        // host reads it, and it goes to no log file or tail.
        if (this.inspectorRequested) {
          const url = /^Debugger listening on (ws:\/\/\S+)/.exec(msg)?.[1];
          if (url) {
            this.onInspector(url);
            return;
          }
          if (msg.startsWith('For help, see: https://nodejs.org/') && msg.includes('inspector')) return;
        }
        this.stderrTail.push(msg);
        if (this.listenFailure === null) {
          const failure = parseListenFailure(msg);
          if (failure) this.failedToListen(failure);
        }
      }
      opts.logs.write({ time: Date.now(), app: plan.app, worker: opts.slot, stream, msg });
    };
    const maxLine = plan.maxLineLength;
    this.splitters = {
      out: new LineSplitter(write('out'), maxLine),
      err: new LineSplitter(write('err'), maxLine),
      access: new LineSplitter(write('access'), maxLine),
    };
    // Read promptly and always: a worker writing to a full pipe blocks its event loop.
    this.child.stdout?.setEncoding('utf8').on('data', (c: string) => this.splitters.out.push(c));
    this.child.stderr?.setEncoding('utf8').on('data', (c: string) => this.splitters.err.push(c));
    const access = plan.accessFd === null ? null : this.child.stdio[plan.accessFd] as NodeJS.ReadableStream | null | undefined;
    access?.setEncoding('utf8').on('data', (c: string) => this.splitters.access.push(c));

    this.child.on('internalMessage', (message: unknown, handle: unknown) => this.onInternal(message, handle));
    this.child.on('message', (message: unknown) => {
      // PM2's convention for wait_ready apps.
      if (message === 'ready') this.markReady('ready signal', 'readyMessage');
    });
    this.child.on('spawn', () => {
      // With the agent, a fork-mode worker is ready when it listens or has
      // settled without listening (the agent tells); without it, when a
      // socket in its process tree listens (ListenWatch).
      if (plan.readiness.watchListening) this.watchListening();
    });
    this.child.on('error', (err) => {
      // spawn failure (bad interpreter path): reported as an exit so policy applies.
      this.stderrTail.push(`herd: cannot start ${plan.file}: ${err.message}`);
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

  /** How long a stop may drain before SIGKILL, as the plan says. */
  get killTimeout(): number {
    return this.plan.killTimeout;
  }

  /** Resolves when the process has exited (immediately if it already has). */
  waitExit(): Promise<ExitInfo> {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /**
   * Graceful stop: the agent stops accepting, finishes in-flight requests and
   * exits; SIGKILL when that takes longer than `timeoutMs`. The kill timer is
   * the host's: a worker being drained is killed at its deadline whatever
   * happens to the daemon meanwhile.
   */
  stop(timeoutMs: number, websocketDrainMs: number): Promise<ExitInfo> {
    if (this.exited) return Promise.resolve(this.exited);
    this.intended = true;
    if (!this.draining) {
      this.draining = true;
      this.listenWatch?.stop();
      if (!this.hasAgent) this.signalTree(EXEC_STOP_SIGNAL);
      else if (!this.toAgent({ type: 'shutdown', timeoutMs, websocketDrainMs })) this.signal('SIGTERM');
      this.killAt = Date.now() + timeoutMs;
      this.killTimer = setTimeout(() => this.signalTree('SIGKILL'), timeoutMs);
    }
    return this.waitExit();
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

  /** A message for the agent; false when the channel is closed. */
  toAgent(message: DaemonToAgent): boolean {
    if (!this.child.connected) return false;
    try {
      this.child.send({ ...message, cmd: AGENT_CMD });
      return true;
    } catch {
      return false;
    }
  }

  /** What the host knows of this worker (snapshot). */
  state(): HostedWorkerState {
    return {
      worker: this.worker,
      slot: this.slot,
      pid: this.pid,
      startedAt: this.startedAt,
      ready: this.ready,
      readyAt: this.readyAt,
      readyHow: this.readyHow,
      draining: this.draining,
      intended: this.intended,
      listening: [...this.listening],
      listenKeys: [...this.listenKeys],
      listenFailure: this.listenFailure,
      stderrTail: this.stderrTail.toArray(),
    };
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
      this.killAt = Date.now() + this.plan.killTimeout;
    }
    if (await waitGroupGone(pid, this.killAt)) return;
    signalGroup(pid, 'SIGKILL');
    await waitGroupGone(pid, Date.now() + GROUP_KILL_GRACE_MS);
  }

  /** Readiness without the agent: a listening socket in the worker's tree (ListenWatch). */
  private watchListening(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    this.listenWatch = new ListenWatch(pid, this.plan.readiness.listenTimeout, {
      listening: (addresses) => {
        for (const a of addresses) this.addListening(a, true, null);
        this.markReady(`listening on ${addresses.join(', ')}`, 'watched');
      },
      settled: () => this.markReady('started; not listening', 'watched'),
    });
  }

  private addListening(address: string, stream: boolean, key: string | null): void {
    if (!this.listening.includes(address)) this.listening.push(address);
    if (key !== null) this.listenKeys.add(key);
    this.opts.report({ type: 'listening', worker: this.worker, address, stream, key });
  }

  private failedToListen(failure: ListenFailure): void {
    if (this.listenFailure !== null) return;
    this.listenFailure = failure;
    this.opts.report({ type: 'listenFailure', worker: this.worker, failure });
  }

  private onInternal(message: unknown, handle: unknown): void {
    if (isClusterMessage(message)) {
      handleClusterMessage(this.child, message, this.opts.sockets, {
        id: this.worker,
        slot: this.slot,
        accepting: () => this.ready && !this.draining && !this.exited,
        onListening: (address, stream) => {
          this.addListening(address, stream, null);
          this.markReady(`listening on ${address}`, 'listening');
        },
        onListenError: ({ address, port, errno }) => {
          const code = errnoName(errno);
          if (code === 'EADDRINUSE' || code === 'EACCES') this.failedToListen({ code, address, port });
        },
      });
      return;
    }
    if (!isEnvelope<AgentToDaemon>(message)) return;
    // A type this host does not know (an agent of another version) is passed over.
    if (!Object.hasOwn(this.agentHandlers, message.type)) return;
    (this.agentHandlers[message.type] as AgentHandler<AgentToDaemon['type']>)(message as never, handle);
  }

  /** The daemon acts on these itself (stall watchdog, health checks, metrics, warnings). */
  private forward(message: AgentToDaemon): void {
    // Without the envelope's cmd: the daemon reads the message, not the channel's marker.
    const { cmd: _cmd, ...rest } = message as AgentToDaemon & { cmd?: string };
    this.opts.report({ type: 'agent', worker: this.worker, message: rest as AgentToDaemon });
  }

  /** What each message of the worker's agent does. */
  private readonly agentHandlers: AgentHandlers = {
    ready: () => this.markReady('ready()', 'readyCall'),
    draining: () => {
      this.draining = true;
      this.opts.report({ type: 'draining', worker: this.worker });
    },
    drained: (message) => {
      this.drainReport = { finished: message.finished, closedIdle: message.closedIdle };
      const q = message.queueWorkers;
      if (q && Number.isInteger(q.closed) && Number.isInteger(q.pending)) this.drainReport.queueWorkers = { closed: q.closed, pending: q.pending };
    },
    upgradedClosed: (message) => {
      if (this.drainReport) this.drainReport.websockets = { closedByApp: message.closedByApp, closedByHerd: message.closedByHerd };
    },
    forcedExit: (message) => {
      this.forcedExit = Array.isArray(message.open) ? message.open.map(String) : [];
    },
    listening: (message, handle) => {
      if (typeof message.address !== 'string') return;
      const key = typeof message.key === 'string' && handle ? message.key : null;
      if (key !== null) this.opts.forkSockets.keep(key, handle);
      this.addListening(message.address, true, key);
      this.markReady(`listening on ${message.address}`, 'listening');
    },
    settled: (message) => this.markReady(`no listening socket after ${formatDuration(message.afterMs)}; counted as ready`, 'settled'),
    clustersItself: (message) => this.forward(message),
    pong: (message) => this.forward(message),
    healthResult: (message) => this.forward(message),
    metrics: (message) => this.forward(message),
  };

  private onInspector(url: string): void {
    this.inspectorUrl = url;
    for (const waiter of [...this.inspectorWaiters]) waiter(url);
  }

  private markReady(how: string, signal: ReadinessSignal): void {
    if (!readyBy(signal, this.plan.readiness.waitReady)) return;
    if (this.ready || this.exited || this.draining) return;
    this.ready = true;
    this.readyAt = Date.now();
    this.readyHow = how;
    this.opts.report({ type: 'ready', worker: this.worker, how, at: this.readyAt });
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
    this.opts.report({
      type: 'exit', worker: this.worker, slot: this.slot, pid: this.pid, info,
      stderrTail: this.stderrTail.toArray(), drainReport: this.drainReport, forcedExit: this.forcedExit,
    });
  }
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
