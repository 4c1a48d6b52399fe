import { readlink } from 'node:fs/promises';
import { HerdError } from '../errors';
import type { LogSink } from '../logs/logSink';
import { HERD_VERSION } from '../protocol/version';
import {
  SHIM_PROTOCOL_VERSION, isShimMessage,
  type DaemonToShim, type HostSnapshot, type ShimRequest, type ShimToDaemon, type SocketsAction, type SocketsState,
} from '../protocol/shim';
import { ForkSockets } from '../daemon/sockets/forkSockets';
import { ListenSockets, type SocketSettings } from '../daemon/sockets/listenSockets';
import { WorkerProcess, type WorkerReport } from '../daemon/worker/workerProcess';
import { ExitJournal } from './exitJournal';
import type { HostLink } from './link';

const STATS_INTERVAL_MS = 1000;

type Handler<T extends DaemonToShim['type']> = (message: Extract<DaemonToShim, { type: T }>) => unknown;
/** A new message type without a handler does not compile. */
type Handlers = { [T in DaemonToShim['type']]: Handler<T> };

/**
 * The host of one app: the parent of its workers and the holder of what they
 * need while they run (the listening sockets with the sticky router, the
 * fork-mode socket copies, the IPC channels and pipes, the app's log sink).
 * It has mechanisms, not policy: it spawns, signals and stops workers when
 * the daemon says so, decides readiness (the plan carries the rules), and
 * reports what happens. It never restarts a worker itself; exits wait in a
 * journal until the daemon acknowledges them.
 *
 * Today it runs inside the daemon (or `herd run`) behind an in-memory link;
 * it shares nothing with the daemon but the messages of protocol/shim.ts.
 */
export class AppHost {
  private readonly workers = new Map<number, WorkerProcess>();
  private readonly journal = new ExitJournal();
  private settings: SocketSettings = { sticky: false, holdMs: 0 };
  /** The app's spec as the daemon last sent it; the host does not read it. */
  private spec: unknown = null;
  // The mode of a socket is read when it is bound; the hold time at each use.
  private readonly sockets = new ListenSockets(() => this.settings);
  private readonly forkSockets = new ForkSockets();
  private readonly startedAt = Date.now();
  private lastSockets = '';
  private closed = false;
  /** The daemon follows the log (`line` events): how to stop. */
  private unfollow: (() => void) | null = null;
  private lastDropped = 0;
  private readonly statsTimer: NodeJS.Timeout;
  private readonly closedWaiters: (() => void)[] = [];

  constructor(private readonly app: string, private readonly link: HostLink, private readonly logs: LogSink) {
    link.onMessage((message) => this.receive(message));
    // describe's count of dropped lines follows the host's sink, at most once a second.
    this.statsTimer = setInterval(() => this.reportDropped(), STATS_INTERVAL_MS);
    this.statsTimer.unref();
  }

  /** Workers alive now (spawned, not yet exited). */
  get workerCount(): number {
    return this.workers.size;
  }

  /** Resolves once the daemon said `exit` (the app is gone): the shim ends when its workers are gone too. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** Resolves once no worker is alive. */
  async whenNoWorkers(): Promise<void> {
    while (this.workers.size > 0) await Promise.all([...this.workers.values()].map((w) => w.waitExit()));
  }

  /** Drain every worker (SIGKILL after its kill timeout) and wait for their exits: a shim told to stop by a signal. */
  async stopAll(): Promise<void> {
    for (const proc of this.workers.values()) void proc.stop(proc.killTimeout, Math.min(1000, proc.killTimeout));
    await this.whenNoWorkers();
  }

  /** What the host knows now: its workers, unacknowledged exits, sockets. */
  snapshot(): HostSnapshot {
    return {
      host: { pid: process.pid, protocol: SHIM_PROTOCOL_VERSION, startedAt: this.startedAt, version: HERD_VERSION },
      app: this.app,
      workers: [...this.workers.values()].map((w) => w.state()),
      exits: this.journal.pending(),
      exitsLost: this.journal.lost,
      sockets: { ...this.socketsState(), sticky: this.sockets.stickyStats() },
      logsDropped: this.logs.dropped(this.app),
      spec: this.spec,
    };
  }

  private receive(message: unknown): void {
    if (!isShimMessage<DaemonToShim>(message) || !Object.hasOwn(this.handlers, message.type)) {
      // A type this host does not know (a daemon of another version): said so, if it expects an answer.
      const id = (message as { id?: unknown } | null)?.id;
      const type = (message as { type?: unknown } | null)?.type;
      if (typeof id === 'number') this.replyError(id, new HerdError('HERD_ERR_BAD_REQUEST', { reason: `unknown host message type ${JSON.stringify(type)}` }));
      return;
    }
    const handler = this.handlers[message.type] as Handler<DaemonToShim['type']>;
    const id = 'id' in message ? (message as ShimRequest).id : null;
    let result: unknown;
    try {
      result = handler(message as never);
    } catch (err) {
      if (id !== null) this.replyError(id, err);
      return;
    }
    if (id === null) return;
    void Promise.resolve(result).then(
      (value) => this.send({ type: 'reply', id, ok: true, result: value ?? null }),
      (err: unknown) => this.replyError(id, err),
    );
  }

  /** What each message of the daemon does; a request's reply is what its handler returns. */
  private readonly handlers: Handlers = {
    hello: () => ({ pid: process.pid, protocol: SHIM_PROTOCOL_VERSION, app: this.app, version: HERD_VERSION }),
    snapshot: () => this.snapshot(),
    configure: (m) => {
      this.logs.configure(this.app, m.logs, m.files);
      this.settings = m.sockets;
      if (m.spec !== undefined) this.spec = m.spec;
      return null;
    },
    spawn: (m) => {
      if (this.workers.has(m.worker)) throw new HerdError('HERD_ERR_BAD_REQUEST', { reason: `worker ${m.worker} exists already` });
      const proc = new WorkerProcess({
        worker: m.worker,
        slot: m.slot,
        plan: m.plan,
        sockets: this.sockets,
        forkSockets: this.forkSockets,
        logs: this.logs,
        report: (event) => this.onReport(event),
      });
      this.workers.set(m.worker, proc);
      return { pid: proc.pid };
    },
    stop: (m) => {
      void this.worker(m.worker).stop(m.timeoutMs, m.websocketDrainMs);
      return null;
    },
    kill: (m) => {
      const proc = this.worker(m.worker);
      if (m.reason === null) void proc.kill();
      else proc.killWith(m.reason);
      return null;
    },
    signal: (m) => this.worker(m.worker).sendSignal(m.signal),
    toAgent: (m) => this.worker(m.worker).toAgent(m.message),
    openInspector: (m) => this.worker(m.worker).openInspector(m.timeoutMs),
    writeLog: (m) => this.logs.write(m.line),
    follow: (m) => {
      this.unfollow?.();
      this.unfollow = m.on
        ? this.logs.subscribe((line) => {
          if (line.app === this.app) this.send({ type: 'line', line });
        })
        : null;
      return null;
    },
    // The apps whose files were removed (this one, or none).
    flushLogs: () => this.logs.flush(this.app),
    sockets: (m) => this.socketsAction(m.action),
    ackExits: (m) => this.journal.ack(m.upTo),
    exit: () => {
      this.sockets.closeAll();
      this.forkSockets.closeAll();
      // After the reply has gone out.
      setImmediate(() => {
        this.closed = true;
        this.unfollow?.();
        clearInterval(this.statsTimer);
        this.link.close();
        for (const waiter of this.closedWaiters.splice(0)) waiter();
      });
      return null;
    },
  };

  private async socketsAction(action: SocketsAction): Promise<unknown> {
    switch (action.kind) {
      case 'closeAll':
        this.sockets.closeAll();
        this.forkSockets.closeAll();
        break;
      case 'closeUnlistened':
        if (this.sockets.size > 0) this.sockets.closeUnlistened();
        break;
      case 'retainFork':
        this.forkSockets.retain(new Set(action.keys));
        break;
      case 'stickyStats':
        return this.sockets.stickyStats();
      case 'inodes':
        return { pid: process.pid, inodes: await this.socketInodes() };
    }
    this.socketsChanged();
    return null;
  }

  /** Inodes of the listening sockets in this process, to tell which app holds a port. */
  private async socketInodes(): Promise<number[]> {
    const inodes: number[] = [];
    for (const fd of this.sockets.fds()) {
      const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode) inodes.push(Number(inode));
    }
    return inodes;
  }

  private onReport(event: WorkerReport): void {
    if (event.type === 'exit') {
      this.workers.delete(event.worker);
      this.send(this.journal.record(event));
      return;
    }
    // A worker became ready: sticky connections waiting for one can go.
    if (event.type === 'ready') this.sockets.sticky?.retry();
    this.send(event);
    if (event.type === 'listening' || event.type === 'listenFailure') this.socketsChanged();
  }

  private reportDropped(): void {
    const dropped = this.logs.dropped(this.app);
    if (dropped === this.lastDropped) return;
    this.lastDropped = dropped;
    this.send({ type: 'logStats', dropped });
  }

  /** The daemon's copy of the sockets' state follows every change. */
  private socketsChanged(): void {
    const state = this.socketsState();
    const text = JSON.stringify(state);
    if (text === this.lastSockets) return;
    this.lastSockets = text;
    this.send({ type: 'sockets', state });
  }

  private socketsState(): SocketsState {
    return { listening: this.sockets.describe(), size: this.sockets.size };
  }

  private worker(id: number): WorkerProcess {
    const proc = this.workers.get(id);
    if (!proc) throw new HerdError('HERD_ERR_WORKER_NOT_FOUND', { name: this.app, worker: id });
    return proc;
  }

  private replyError(id: number, err: unknown): void {
    const error = err instanceof HerdError ? err : new HerdError('HERD_ERR_INTERNAL', { reason: (err as Error)?.message ?? String(err) });
    this.send({ type: 'reply', id, ok: false, error: error.toData() });
  }

  private send(message: ShimToDaemon): void {
    if (!this.closed) this.link.send(message);
  }
}
