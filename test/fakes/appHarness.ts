// App without processes: fake workers and a fake clock, so the unit tests of
// src/daemon/supervision/app.ts drive crashes, backoff, cool-downs and
// reloads in milliseconds. Time moves only when a test calls advance().
import type { AppSpec } from '../../src/config/types';
import { DEFAULTS } from '../../src/config/types';
import { App } from '../../src/daemon/supervision/app';
import type { Clock } from '../../src/daemon/supervision/clock';
import { throwOnIllegal } from '../../src/daemon/supervision/slot';
import type { InspectorSession } from '../../src/daemon/worker/inspectorSession';
import type { StackCapture } from '../../src/daemon/worker/stackCapture';
import type { ExitInfo, HealthOutcome, ReadyOutcome, Worker, WorkerOptions } from '../../src/daemon/worker/worker';
import { Ring } from '../../src/util/ring';
import type { HostedWorkerState } from '../../src/protocol/shim';

export class FakeClock implements Clock {
  time = 1_000_000;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Moves time on by `ms`, running every timer that falls due in order (and what their callbacks start). */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.fn();
    }
    this.time = end;
    await settle();
  }

  pending(): number {
    return this.timers.length;
  }
}

/** Lets every promise callback that is ready run (no timers: time is fake). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

let nextPid = 10_000;

/**
 * A worker without a process. The test says what it does: ready(), crash(),
 * exit by itself; stop() drains until the test calls finishDrain(), or at
 * once with `drainsAtOnce`.
 */
export class FakeWorker implements Worker {
  readonly spec: AppSpec;
  readonly slot: number;
  readonly pid: number;
  readonly startedAt: number;
  ready = false;
  readyAt: number | null = null;
  draining = false;
  exited: ExitInfo | null = null;
  readonly stderrTail = new Ring<string>(20);
  listenFailure = null;
  readonly listenKeys = new Set<string>();
  readonly listening: string[] = [];
  readonly hasAgent = true;
  clustersItself = null;
  shed = 0;
  drainReport = null;
  forcedExit = null;
  serversGone = false;
  lastPongAt: number;
  healthFailures = 0;
  healthPending = false;
  lastHealthAt = 0;
  drainsAtOnce = true;
  stopsAsked = 0;
  private intended = false;
  private readonly readyWaiters = new Set<(o: ReadyOutcome) => void>();
  private readonly exitWaiters: ((i: ExitInfo) => void)[] = [];

  /** `adopted`: a worker a host ran already (adoption), with the facts its snapshot gave. */
  constructor(private readonly options: WorkerOptions, private readonly clock: FakeClock, adopted?: HostedWorkerState) {
    this.spec = options.spec;
    this.slot = options.slot;
    this.pid = adopted?.pid ?? nextPid++;
    this.startedAt = adopted?.startedAt ?? clock.now();
    this.lastPongAt = clock.now();
    if (adopted?.ready) {
      this.ready = true;
      this.readyAt = adopted.readyAt;
    }
    this.draining = adopted?.draining ?? false;
  }

  get uptimeMs(): number {
    return (this.exited ? this.exited.uptimeMs : this.clock.now() - this.startedAt);
  }

  /** The app listened (or said ready). */
  becomeReady(): void {
    if (this.ready || this.exited) return;
    this.ready = true;
    this.readyAt = this.clock.now();
    for (const w of [...this.readyWaiters]) w({ kind: 'ready' });
    this.options.onReady(this, 'listening');
  }

  /** The process died by itself. */
  crash(code = 1, line?: string): void {
    if (line) this.stderrTail.push(line);
    this.finish(code, null);
  }

  finishDrain(): void {
    if (this.draining && !this.exited) this.finish(0, null);
  }

  whenSpawned(): Promise<void> {
    return Promise.resolve();
  }

  whenReady(timeoutMs: number): Promise<ReadyOutcome> {
    if (this.ready) return Promise.resolve({ kind: 'ready' });
    if (this.exited) return Promise.resolve({ kind: 'exited', exit: this.exited });
    return new Promise((resolve) => {
      const cancel = this.clock.after(timeoutMs, () => done({ kind: 'timeout' }));
      const done = (o: ReadyOutcome) => {
        cancel();
        this.readyWaiters.delete(done);
        resolve(o);
      };
      this.readyWaiters.add(done);
    });
  }

  stop(timeoutMs: number): Promise<ExitInfo> {
    this.stopsAsked++;
    if (this.exited) return Promise.resolve(this.exited);
    this.intended = true;
    if (!this.draining) {
      this.draining = true;
      this.clock.after(timeoutMs, () => this.finish(null, 'SIGKILL'));
      if (this.drainsAtOnce) queueMicrotask(() => this.finishDrain());
    }
    return this.waitExit();
  }

  kill(): Promise<ExitInfo> {
    this.intended = true;
    this.finish(null, 'SIGKILL');
    return this.waitExit();
  }

  killWith(reason: string): void {
    this.finish(null, 'SIGKILL', reason);
  }

  sendSignal(): boolean {
    return !this.exited;
  }

  ping(): void {}

  healthCheck(): Promise<HealthOutcome> {
    return Promise.resolve({ status: 200, error: null });
  }

  captureStack(): Promise<StackCapture> {
    return Promise.resolve({ frames: ['at loop (/app/server.js:1:1)'], error: null });
  }

  inspect(): Promise<InspectorSession> {
    return Promise.reject(new Error('a fake worker has no inspector'));
  }

  private waitExit(): Promise<ExitInfo> {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private finish(code: number | null, signal: NodeJS.Signals | null, reason?: string): void {
    if (this.exited) return;
    const info: ExitInfo = {
      code,
      signal,
      intended: this.intended,
      reason: reason ?? (signal ? `killed by ${signal}` : `exited with code ${code}`),
      uptimeMs: this.clock.now() - this.startedAt,
    };
    this.exited = info;
    for (const w of this.exitWaiters.splice(0)) w(info);
    for (const w of [...this.readyWaiters]) w({ kind: 'exited', exit: info });
    this.options.onExit(this, info);
  }
}

export function testSpec(over: Partial<Record<keyof AppSpec, unknown>> = {}): AppSpec {
  return {
    name: 'api',
    script: '/app/server.js',
    cwd: '/app',
    execMode: 'cluster',
    runner: 'node',
    instances: 2,
    env: {},
    args: [],
    nodeArgs: [],
    interpreter: null,
    autorestart: true,
    waitReady: false,
    sticky: false,
    minReady: 1,
    metrics: true,
    healthCheck: null,
    maxMemory: null,
    killTimeout: DEFAULTS.killTimeout,
    listenTimeout: DEFAULTS.listenTimeout,
    backoff: { ...DEFAULTS.backoff },
    crashLoop: { ...DEFAULTS.crashLoop },
    reload: { ...DEFAULTS.reload },
    websocketDrain: DEFAULTS.websocketDrain,
    user: null,
    group: null,
    source: { configFile: null, envName: null, cliOverrides: {} },
    ...over,
  } as unknown as AppSpec;
}

/** An App whose workers are FakeWorkers; `workers` lists every one it made, oldest first. */
export function fakeApp(spec: AppSpec = testSpec()) {
  const clock = new FakeClock();
  const workers: FakeWorker[] = [];
  let uniqueId = 0;
  const app = new App(spec, {
    logs: { dropped: () => 0 },
    stats: { get: () => undefined },
    host: {
      createWorker: (options) => {
        const w = new FakeWorker(options, clock);
        workers.push(w);
        return w;
      },
      adoptWorker: (options, state) => {
        const w = new FakeWorker(options, clock, state);
        workers.push(w);
        return w;
      },
      sockets: {
        listening: () => [],
        size: 0,
        stickyStats: () => Promise.resolve(null),
        closeAll: () => Promise.resolve(),
        closeUnlistened: () => Promise.resolve(),
        retainFork: () => Promise.resolve(),
        inodes: () => Promise.resolve({ pid: process.pid, inodes: [] }),
      },
      release: () => Promise.resolve(),
      writeLog: () => {},
      close: () => Promise.resolve(),
    },
    clock,
    nextUniqueId: () => ++uniqueId,
    portHolders: () => Promise.resolve(null),
    illegalTransition: throwOnIllegal,
  });
  /** The live current worker of every slot, by slot id. */
  const current = () => app.slots.map((s) => s.proc as FakeWorker | null);
  /** Workers made and not yet ready nor exited. */
  const fresh = () => workers.filter((w) => !w.ready && !w.exited);
  /** Every worker started so far becomes ready (operations start theirs a tick later: settle first). */
  const readyAll = async () => {
    await settle();
    for (const w of fresh()) w.becomeReady();
    await settle();
  };
  return { app, clock, workers, current, fresh, readyAll };
}
