import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AppSpec } from '../../config/types';
import { AGENT_INSPECT_ARGS, type AgentToDaemon, type DaemonToAgent } from '../../protocol/agent';
import type { DrainReport, ExitEvent, ExitInfo, HostedWorkerState, ListenFailure, ShimRequest } from '../../protocol/shim';
import { Ring } from '../../util/ring';
import { InspectorSession } from './inspectorSession';
import { captureStack, type StackCapture } from './stackCapture';
import type { HealthOutcome, ReadyOutcome, Worker, WorkerOptions } from './worker';

/** A request to the host, without the id the link gives it. */
export type HostRequest = ShimRequest extends infer R ? R extends ShimRequest ? Omit<R, 'id'> : never : never;
/** Sends a request to the app's host; resolves with its result, rejects with its error. */
export type HostCall = (request: HostRequest) => Promise<unknown>;

/** The agent messages the daemon itself acts on (the host passes them on). */
type Forwarded = Extract<AgentToDaemon, { type: 'pong' | 'healthResult' | 'metrics' | 'clustersItself' }>;
type ForwardedHandlers = { [T in Forwarded['type']]: (message: Extract<Forwarded, { type: T }>) => void };

/**
 * One worker as the daemon sees it: a child process of the app's host,
 * reached over the host link (the host side is WorkerProcess). It mirrors the
 * facts the host reports (pid, ready, draining, listening, listen failure,
 * the exit with its stderr tail and drain report) and keeps the daemon's own
 * bookkeeping: the stall watchdog's pings and last pong, health checks and
 * their waiters, whether the app closed its last server, stack captures.
 */
export class HostedWorker implements Worker {
  readonly spec: AppSpec;
  readonly slot: number;
  readonly uniqueId: number;
  readonly startedAt: number;
  /** Until the exit, only what the daemon adds (a stalled worker's stack); then the host's tail with those after it. */
  stderrTail = new Ring<string>(20);
  pid: number | null = null;
  ready = false;
  readyAt: number | null = null;
  draining = false;
  exited: ExitInfo | null = null;
  readonly listening: string[] = [];
  readonly hasAgent: boolean;
  listenFailure: ListenFailure | null = null;
  readonly listenKeys = new Set<string>();
  clustersItself: string | null = null;
  drainReport: DrainReport | null = null;
  forcedExit: string[] | null = null;
  serversGone = false;
  /** Last answer of the agent to a ping (stall watchdog); the start time until the first one. */
  lastPongAt = Date.now();
  /** Requests the agent's overload guard answered 503, and whether it sheds now (as of the last pong). */
  shed = 0;
  shedding = false;
  healthFailures = 0;
  healthPending = false;
  lastHealthAt = 0;
  /** A server of its own listened (cluster protocol, or the agent in fork mode). */
  private listened = false;
  /** Pongs in a row that reported no listening server. */
  private emptyPongs = 0;
  private pingSeq = 0;
  private healthSeq = 0;
  private readonly healthWaiters = new Map<number, (outcome: HealthOutcome) => void>();
  private spawned = false;
  private readonly spawnWaiters: (() => void)[] = [];
  private readonly exitWaiters: ((info: ExitInfo) => void)[] = [];
  private readonly readyWaiters = new Set<(outcome: ReadyOutcome) => void>();

  /**
   * `adopted`: a worker that runs already, as its host's snapshot shows it (a
   * daemon that restarted takes it over). Its facts are taken as they are,
   * without the events that report them: the App places it in its slot.
   */
  constructor(private readonly opts: WorkerOptions, hasAgent: boolean, private readonly call: HostCall, adopted?: HostedWorkerState) {
    this.spec = opts.spec;
    this.slot = opts.slot;
    this.uniqueId = opts.uniqueId;
    this.hasAgent = hasAgent;
    this.startedAt = adopted?.startedAt ?? Date.now();
    if (!adopted) return;
    this.pid = adopted.pid;
    this.spawned = true;
    this.ready = adopted.ready;
    this.readyAt = adopted.readyAt;
    this.draining = adopted.draining || adopted.intended;
    this.listenFailure = adopted.listenFailure;
    for (const address of adopted.listening) this.listening.push(address);
    for (const key of adopted.listenKeys) this.listenKeys.add(key);
    // Sockets it listens on now were its own (cluster protocol, or the agent in fork mode).
    this.listened = adopted.listening.length > 0;
  }

  get uptimeMs(): number {
    return this.exited ? this.exited.uptimeMs : Date.now() - this.startedAt;
  }

  whenSpawned(): Promise<void> {
    if (this.spawned) return Promise.resolve();
    return new Promise((resolve) => this.spawnWaiters.push(resolve));
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

  /** Graceful: the host asks the agent to drain, and SIGKILLs at `timeoutMs`. */
  stop(timeoutMs: number): Promise<ExitInfo> {
    if (this.exited) return Promise.resolve(this.exited);
    if (!this.draining) {
      this.draining = true;
      this.ask({ type: 'stop', worker: this.uniqueId, timeoutMs, websocketDrainMs: Math.min(this.spec.websocketDrain, timeoutMs) });
    }
    return this.waitExit();
  }

  kill(): Promise<ExitInfo> {
    if (!this.exited) this.ask({ type: 'kill', worker: this.uniqueId, reason: null });
    return this.waitExit();
  }

  killWith(reason: string): void {
    if (!this.exited) this.ask({ type: 'kill', worker: this.uniqueId, reason });
  }

  sendSignal(signal: NodeJS.Signals): boolean {
    if (this.exited || this.pid === null) return false;
    this.ask({ type: 'signal', worker: this.uniqueId, signal });
    return true;
  }

  /** Stall watchdog: the agent answers with a pong from its event loop. */
  ping(): void {
    if (!this.exited) void this.toAgent({ type: 'ping', seq: ++this.pingSeq });
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
      void this.toAgent({ type: 'healthCheck', id, path, timeoutMs }).then((sent) => {
        if (!sent) finish({ status: 0, error: 'worker not connected' });
      });
    });
  }

  /**
   * Resolves with the inspector URL once the worker printed it, or null after
   * `timeoutMs`, or at once (nothing sent) when the process was not started
   * with herd's inspector flags.
   */
  openInspector(timeoutMs: number): Promise<string | null> {
    if (this.pid === null || inspectorFlagsProblem(this.pid) !== null) return Promise.resolve(null);
    return this.call({ type: 'openInspector', worker: this.uniqueId, timeoutMs })
      .then((url) => (typeof url === 'string' ? url : null), () => null);
  }

  captureStack(timeoutMs: number): Promise<StackCapture> {
    return captureStack(this, timeoutMs);
  }

  inspect(timeoutMs: number): Promise<InspectorSession> {
    // Without the agent there are no inspector flags, and SIGUSR1 may end the process (Python, a shell).
    if (!this.hasAgent) return Promise.reject(new Error(`${this.spec.name} runs ${this.spec.interpreter} without herd's agent: it has no V8 inspector to open`));
    if (this.exited || this.pid === null) return Promise.reject(new Error('the worker is not running'));
    const problem = inspectorFlagsProblem(this.pid);
    if (problem !== null) return Promise.reject(new Error(problem));
    return InspectorSession.open(this, timeoutMs);
  }

  // ---- what the host reports ---------------------------------------------

  onSpawned(pid: number | null): void {
    this.pid = pid;
    this.markSpawned();
  }

  onReady(how: string, at: number): void {
    if (this.ready || this.exited) return;
    this.ready = true;
    this.readyAt = at;
    this.lastPongAt = at;
    for (const waiter of [...this.readyWaiters]) waiter({ kind: 'ready' });
    this.opts.onReady(this, how);
  }

  onListening(address: string, stream: boolean, key: string | null): void {
    if (!this.listening.includes(address)) this.listening.push(address);
    if (key !== null) this.listenKeys.add(key);
    // A UDP socket is not a server the agent counts: only streams are watched for closing.
    if (stream) this.listened = true;
  }

  onListenFailure(failure: ListenFailure): void {
    this.listenFailure ??= failure;
  }

  onDraining(): void {
    this.draining = true;
  }

  onAgent(message: AgentToDaemon): void {
    if (!Object.hasOwn(this.forwarded, message.type)) return;
    (this.forwarded[message.type as Forwarded['type']] as (m: Forwarded) => void)(message as Forwarded);
  }

  onExit(event: ExitEvent): void {
    if (this.exited) return;
    this.markSpawned();
    const tail = new Ring<string>(20);
    for (const line of [...event.stderrTail, ...this.stderrTail.toArray()]) tail.push(line);
    this.stderrTail = tail;
    this.drainReport = event.drainReport;
    this.forcedExit = event.forcedExit;
    this.exited = event.info;
    for (const waiter of this.exitWaiters.splice(0)) waiter(event.info);
    for (const waiter of [...this.readyWaiters]) waiter({ kind: 'exited', exit: event.info });
    this.opts.onExit(this, event.info);
  }

  /** The host could not take the spawn at all: an exit like a failed spawn. */
  spawnFailed(message: string): void {
    this.onExit({
      type: 'exit', seq: 0, worker: this.uniqueId, slot: this.slot, pid: null,
      info: { code: null, signal: null, intended: false, reason: 'exited with code unknown', uptimeMs: Date.now() - this.startedAt },
      stderrTail: [`herd: cannot start ${this.spec.script}: ${message}`], drainReport: null, forcedExit: null,
    });
  }

  private readonly forwarded: ForwardedHandlers = {
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
    clustersItself: (message) => {
      this.clustersItself = String(message.how);
      this.opts.onClustersItself?.(this, this.clustersItself);
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

  private toAgent(message: DaemonToAgent): Promise<boolean> {
    return this.call({ type: 'toAgent', worker: this.uniqueId, message }).then((sent) => sent === true, () => false);
  }

  /** A request whose answer is the exit event (or nothing): a worker that is gone already is no error. */
  private ask(request: HostRequest): void {
    void this.call(request).catch(() => undefined);
  }

  private waitExit(): Promise<ExitInfo> {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private markSpawned(): void {
    if (this.spawned) return;
    this.spawned = true;
    for (const waiter of this.spawnWaiters.splice(0)) waiter();
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

/**
 * Why SIGUSR1 must not be sent to this process, or null. Without
 * --inspect-port=0 and --inspect-publish-uid=stderr (a worker started by an
 * older herd, whose agent got them only with a stall timeout, and kept across
 * `herd update`), Node would open its inspector on 127.0.0.1:9229 with the
 * HTTP discovery endpoint on: any local user could run code in the worker.
 * Read from what the kernel shows of its command line.
 */
export function inspectorFlagsProblem(pid: number): string | null {
  let argv: string[];
  try {
    argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return `the command line of worker process ${pid} cannot be read, so herd cannot tell it was started with its inspector flags`;
  }
  const missing = AGENT_INSPECT_ARGS.filter((flag) => !argv.includes(flag));
  return missing.length === 0 ? null : `worker process ${pid} was started without ${missing.join(' ')} (by an older herd): its inspector would open on a public port; restart or reload the app to get it`;
}
