import type { AppSpec } from '../../config/types';
import { HerdError } from '../../errors';
import type { LogLine } from '../../logs/format';
import type { StickyStats } from '../../protocol/control';
import { isShimMessage, type HostedWorkerState, type HostSnapshot, type ShimToDaemon, type SocketsState } from '../../protocol/shim';
import type { DaemonLink } from '../../shim/link';
import { HostedWorker, type HostRequest } from '../worker/hostedWorker';
import { spawnPlan } from '../worker/spawnPlan';
import type { Worker, WorkerOptions } from '../worker/worker';

/** What an App needs of its host: workers, and the sockets and log the host holds for it. */
export interface AppHostClient {
  createWorker(options: WorkerOptions): Worker;
  /**
   * A worker the host runs already (a restarted daemon adopts it), as its
   * snapshot shows it: its facts are taken as they are, with no event fired.
   */
  adoptWorker(options: WorkerOptions, state: HostedWorkerState): Worker;
  readonly sockets: {
    /** The sockets workers listen on, as the host last reported them. */
    listening(): string[];
    /** Sockets bound, listened on or not. */
    readonly size: number;
    stickyStats(): Promise<StickyStats | null>;
    closeAll(): Promise<void>;
    /** Close sockets no worker ever listened on, so a retry binds afresh. */
    closeUnlistened(): Promise<void>;
    /** Fork mode: keep only the socket copies some current worker listens on. */
    retainFork(keys: readonly string[]): Promise<void>;
    /** Which process holds the app's listening sockets, and their inodes (who holds a port). */
    inodes(): Promise<{ pid: number; inodes: number[] }>;
  };
  /** A line herd writes into the app's log. */
  writeLog(line: LogLine): void;
  /**
   * Every worker is gone (the app stopped): a host of its own may end now;
   * the next worker starts a new one.
   */
  release(): Promise<void>;
  /** The app is gone: the host closes everything. */
  close(): Promise<void>;
  /** The host's own process, when it has one (a shim; not in process). */
  info?(): { pid: number; version: string; memory: number } | null;
}

/** What a host link tells beyond its workers. */
export interface HostClientEvents {
  /** A line of the app's log, while following. */
  line?: (line: LogLine) => void;
  /** Another daemon took the host over. */
  replaced?: () => void;
}

type EventHandler<T extends ShimToDaemon['type']> = (message: Extract<ShimToDaemon, { type: T }>) => void;
/** A new message type without a handler does not compile. */
type EventHandlers = { [T in ShimToDaemon['type']]: EventHandler<T> };

/**
 * The daemon's side of one app's host link: requests with their replies,
 * events routed to the HostedWorker they concern, the host's socket state
 * mirrored for App's synchronous views, and exits acknowledged once App has
 * acted on them.
 */
export class HostClient implements AppHostClient {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private readonly workers = new Map<number, HostedWorker>();
  private socketState: SocketsState = { listening: [], size: 0 };
  private closed = false;
  /**
   * While a daemon adopts the host, events about workers it has not placed
   * yet wait here (the snapshot's reply may share a read with them), in order.
   */
  private held: ShimToDaemon[] | null = null;
  /** Lines the host dropped from the app's log, as it last said. */
  logsDropped = 0;

  constructor(private readonly link: DaemonLink, private readonly events: HostClientEvents = {}) {
    link.onMessage((message) => this.receive(message));
  }

  readonly sockets: AppHostClient['sockets'] = ((client: HostClient) => ({
    listening: () => [...client.socketState.listening],
    get size(): number {
      return client.socketState.size;
    },
    stickyStats: async () => (await this.call({ type: 'sockets', action: { kind: 'stickyStats' } })) as StickyStats | null,
    closeAll: async () => {
      await this.call({ type: 'sockets', action: { kind: 'closeAll' } });
    },
    closeUnlistened: async () => {
      await this.call({ type: 'sockets', action: { kind: 'closeUnlistened' } });
    },
    retainFork: async (keys) => {
      await this.call({ type: 'sockets', action: { kind: 'retainFork', keys: [...keys] } });
    },
    inodes: async () => (await this.call({ type: 'sockets', action: { kind: 'inodes' } })) as { pid: number; inodes: number[] },
  }))(this);

  createWorker(options: WorkerOptions): Worker {
    const { spec } = options;
    const plan = spawnPlan(spec, options.slot, options.uniqueId);
    const worker = new HostedWorker(options, plan.hasAgent, (request) => this.call(request));
    this.workers.set(options.uniqueId, worker);
    this.ask(configureRequest(spec));
    this.call({ type: 'spawn', worker: options.uniqueId, slot: options.slot, plan }).catch((err: Error) => {
      if (this.workers.delete(options.uniqueId)) worker.spawnFailed(err.message);
    });
    return worker;
  }

  adoptWorker(options: WorkerOptions, state: HostedWorkerState): Worker {
    const plan = spawnPlan(options.spec, options.slot, options.uniqueId);
    const worker = new HostedWorker(options, plan.hasAgent, (request) => this.call(request), state);
    this.workers.set(options.uniqueId, worker);
    return worker;
  }

  /** The daemon acted on the host's exits up to `seq` (adoption): the host forgets them. */
  acknowledgeExits(seq: number): void {
    if (!this.closed && seq > 0) this.link.send({ type: 'ackExits', upTo: seq });
  }

  writeLog(line: LogLine): void {
    if (!this.closed) this.link.send({ type: 'writeLog', line });
  }

  snapshot(): Promise<HostSnapshot> {
    return this.call({ type: 'snapshot' }) as Promise<HostSnapshot>;
  }

  /**
   * Adoption: the snapshot of a host that runs already; events about its
   * workers are held from now until `adopted()`, when the App has placed
   * them, so none is lost or acknowledged unread in between.
   */
  async adoptionSnapshot(): Promise<HostSnapshot> {
    this.held ??= [];
    const snapshot = await this.snapshot();
    this.socketState = { listening: snapshot.sockets.listening, size: snapshot.sockets.size };
    this.logsDropped = snapshot.logsDropped;
    return snapshot;
  }

  /** The App placed the adopted workers: what their host said meanwhile is delivered now. */
  adopted(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const message of held) this.receive(message);
  }

  /** Turn `line` events on or off; resolves once the host has. */
  async follow(on: boolean): Promise<void> {
    await this.call({ type: 'follow', on });
  }

  /** Empty the app's log files; resolves with the apps whose files were removed. */
  async flushLogs(): Promise<string[]> {
    const names = await this.call({ type: 'flushLogs' });
    return Array.isArray(names) ? names.map(String) : [];
  }

  /** An in-process host stays as it is: it costs nothing while the app is stopped. */
  async release(): Promise<void> {}

  /** Workers alive as far as the daemon knows. */
  get workerCount(): number {
    return this.workers.size;
  }

  /** Pids of the workers alive as far as the daemon knows. */
  workerPids(): number[] {
    return [...this.workers.values()].map((w) => w.pid).filter((p): p is number => p !== null);
  }

  /**
   * The connection to the host is down: requests in flight will get no reply.
   * They fail with `error`; workers keep their state until a snapshot
   * (resync) or the host's death (lost) says what became of them.
   */
  disconnected(error: Error): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  /**
   * The host is dead (a shim killed or crashed): its workers are no longer
   * anyone's children and cannot be reached; each exits, as a crash, so App's
   * restart policy replaces it, with `reason` in its events; requests in
   * flight fail with `error`.
   */
  lost(reason: string, error: Error): void {
    this.disconnected(error);
    this.closed = true;
    this.socketState = { listening: [], size: 0 };
    const workers = [...this.workers.values()];
    this.workers.clear();
    for (const worker of workers) {
      worker.onExit({
        type: 'exit', seq: 0, worker: worker.uniqueId, slot: worker.slot, pid: worker.pid,
        info: { code: null, signal: null, intended: false, reason, uptimeMs: worker.uptimeMs },
        stderrTail: [`herd: ${reason}`], drainReport: null, forcedExit: null,
      });
    }
  }

  /**
   * After a connection was cut and made again: what happened meanwhile, from
   * the host's snapshot. Journaled exits are acted on as if they had arrived;
   * a worker the host no longer knows without an exit is counted lost.
   */
  resync(snapshot: HostSnapshot): void {
    for (const exit of snapshot.exits) this.handlers.exit(exit);
    const known = new Map(snapshot.workers.map((w) => [w.worker, w]));
    for (const [id, worker] of [...this.workers]) {
      const state = known.get(id);
      if (!state) {
        this.workers.delete(id);
        worker.onExit({
          type: 'exit', seq: 0, worker: id, slot: worker.slot, pid: worker.pid,
          info: { code: null, signal: null, intended: worker.draining, reason: 'exited while the link to its shim was down', uptimeMs: worker.uptimeMs },
          stderrTail: [], drainReport: null, forcedExit: null,
        });
        continue;
      }
      if (worker.pid === null) worker.onSpawned(state.pid);
      for (const address of state.listening) worker.onListening(address, true, null);
      for (const key of state.listenKeys) worker.listenKeys.add(key);
      if (state.listenFailure) worker.onListenFailure(state.listenFailure);
      if (state.draining) worker.onDraining();
      if (state.ready && state.readyAt !== null) worker.onReady(state.readyHow ?? 'ready', state.readyAt);
    }
    this.socketState = { listening: snapshot.sockets.listening, size: snapshot.sockets.size };
    this.logsDropped = snapshot.logsDropped;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.call({ type: 'exit' }).catch(() => undefined);
    this.closed = true;
    this.link.close();
    for (const { reject } of this.pending.values()) reject(new HerdError('HERD_ERR_INTERNAL', { reason: 'the app host was closed' }));
    this.pending.clear();
  }

  /** Sends a request; resolves with the host's result, rejects with its error. */
  call(request: HostRequest): Promise<unknown> {
    if (this.closed) return Promise.reject(new HerdError('HERD_ERR_INTERNAL', { reason: 'the app host was closed' }));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.link.send({ ...request, id } as never);
    });
  }

  private ask(request: HostRequest): void {
    void this.call(request).catch(() => undefined);
  }

  private receive(message: unknown): void {
    if (!isShimMessage<ShimToDaemon>(message) || !Object.hasOwn(this.handlers, message.type)) return;
    if (this.held && 'worker' in message && !this.workers.has(message.worker)) {
      this.held.push(message);
      return;
    }
    (this.handlers[message.type] as EventHandler<ShimToDaemon['type']>)(message as never);
  }

  private readonly handlers: EventHandlers = {
    reply: (m) => {
      const waiter = this.pending.get(m.id);
      if (!waiter) return;
      this.pending.delete(m.id);
      if (m.ok) waiter.resolve(m.result);
      else waiter.reject(HerdError.fromData(m.error));
    },
    spawned: (m) => this.workers.get(m.worker)?.onSpawned(m.pid),
    ready: (m) => this.workers.get(m.worker)?.onReady(m.how, m.at),
    listening: (m) => this.workers.get(m.worker)?.onListening(m.address, m.stream, m.key),
    listenFailure: (m) => this.workers.get(m.worker)?.onListenFailure(m.failure),
    draining: (m) => this.workers.get(m.worker)?.onDraining(),
    agent: (m) => this.workers.get(m.worker)?.onAgent(m.message),
    sockets: (m) => {
      this.socketState = m.state;
    },
    line: (m) => this.events.line?.(m.line),
    logStats: (m) => {
      this.logsDropped = m.dropped;
    },
    replaced: () => this.events.replaced?.(),
    exit: (m) => {
      const worker = this.workers.get(m.worker);
      this.workers.delete(m.worker);
      worker?.onExit(m);
      // Acted on (or not ours to act on): the host may forget it.
      if (!this.closed) this.link.send({ type: 'ackExits', upTo: m.seq });
    },
  };
}

/** The app's log settings and the socket mode for sockets bound from now on. */
function configureRequest(spec: AppSpec): HostRequest {
  return {
    type: 'configure',
    logs: spec.logs,
    files: spec.logFiles,
    // A sticky connection may wait as long as a restart takes: drain, then a new worker's start.
    sockets: { sticky: spec.sticky && spec.execMode === 'cluster', holdMs: spec.killTimeout + spec.listenTimeout },
    spec,
  };
}
