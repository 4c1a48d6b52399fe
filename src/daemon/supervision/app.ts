import { queueShown } from '../../config/queue';
import type { AppSpec } from '../../config/types';
import { HerdError } from '../../errors';
import type { LogSink } from '../../logs/logSink';
import { AppMetrics } from '../../metrics/aggregate';
import type { MetricsReport } from '../../metrics/report';
import type { AppDetail, AppInfo, AppStatus, TriggerDetail, WorkerInfo, WorkerStatus } from '../../protocol/control';
import { Ring } from '../../util/ring';
import { formatDuration } from '../../util/units';
import { portLabel, type ListenFailure, type PortHolders } from '../sockets/portConflict';
import { treeListening } from '../worker/listenWatch';
import { processTable } from '../worker/procNet';
import type { ProcStats } from '../worker/procStats';
import type { ExitInfo, Worker, WorkerOptions } from '../worker/worker';
import type { AppHostClient } from '../hosts/hostClient';
import type { HostedWorkerState, HostSnapshot } from '../../protocol/shim';
import type { StickyStats } from '../../protocol/control';
import type { Clock } from './clock';
import { CrashLoop } from './crashLoop';
import { restartPlan } from './restartPolicy';
import { explainListenFailure, withPortFromEnv } from './listenFailure';
import { Slot, type IllegalTransition } from './slot';
import { stopOutcome } from './stopOutcome';

export type Progress = (message: string) => void;

export interface AppDeps {
  /** Lines dropped from the app's log, for describe. */
  logs: Pick<LogSink, 'dropped'>;
  /** CPU and memory of a pid, as last sampled. */
  stats: Pick<ProcStats, 'get'>;
  /**
   * The app's host: it spawns the workers (or makes fakes, in unit tests) and
   * holds their listening sockets and the app's log.
   */
  host: AppHostClient;
  clock: Clock;
  nextUniqueId: () => number;
  /** Who listens where `wanted` would (null: nobody, the port is free); knows every app of the daemon. */
  portHolders: (wanted: { address: string | null; port: number }) => Promise<PortHolders | null>;
  /** A transition the lifecycle table forbids: tests throw; the daemon reports it and goes on. */
  illegalTransition: IllegalTransition;
  /** Every metrics report of a worker, after the app took it in (profileOnStall watches the event-loop delay). */
  onWorkerMetrics?: (worker: Worker, report: MetricsReport) => void;
}

type Operation = 'reloading' | 'restarting' | 'stopping' | 'scaling' | 'replacing';

/** Time box for reading a stalled worker's stack before it is killed. */
const STACK_CAPTURE_MS = 1000;

/**
 * One app: its slots, the sockets its workers share, and the policy that
 * keeps the slots filled. Operations that change the set of workers (stop,
 * restart, reload, scale) run one at a time.
 */
export class App {
  spec: AppSpec;
  readonly createdAt: number;
  slots: Slot[] = [];
  /** Old processes draining after a reload or scale-down. */
  readonly retiring = new Set<Worker>();
  stopped = true;
  reason = 'not started';
  lastStderr: string[] = [];
  /** Totals since the app was created; they survive worker restarts, stop and start. */
  readonly metrics = new AppMetrics();
  private readonly crashLoop: CrashLoop;
  /** Fork mode: where the workers' process trees listen, as of the last refreshListening(). */
  private forkListening: string[] = [];
  /** The sticky router's counters, as of the last refreshListening(). */
  private stickyStats: StickyStats | null = null;
  private operation: Operation | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly events = new Ring<{ time: number; worker: number | null; message: string }>(50);
  private readonly listeners = new Set<() => void>();
  /** Processes with a replacement queued or running, so a second trigger does not queue another. */
  private readonly replacing = new WeakSet<Worker>();
  /** Processes the stall watchdog is ending (their stack is being read), so it does not end them twice. */
  private readonly stalled = new WeakSet<Worker>();

  constructor(spec: AppSpec, private readonly deps: AppDeps) {
    this.spec = spec;
    this.createdAt = deps.clock.now();
    this.crashLoop = new CrashLoop(() => this.spec.crashLoop, deps.clock);
  }

  get name(): string {
    return this.spec.name;
  }

  get status(): AppStatus {
    if (this.operation === 'reloading' || this.operation === 'replacing') return 'reloading';
    if (this.operation === 'stopping') return 'stopping';
    if (this.crashLoop.errored) return 'errored';
    if (this.stopped || this.slots.length === 0) return 'stopped';
    if (this.slots.every((s) => s.status === 'online')) return 'online';
    return 'launching';
  }

  /** The operation running now (reloading, restarting, stopping, scaling, replacing), or null. */
  get busy(): string | null {
    return this.operation;
  }

  /** An app event in `herd describe` from outside the app (cron and watch reloads, profileOnStall), of one worker or of the app. */
  note(message: string, worker: number | null = null): void {
    this.addEvent(worker, message);
  }

  get totalRestarts(): number {
    return this.slots.reduce((n, s) => n + s.restarts, 0);
  }

  /** Every live process of the app, for stats and shutdown. */
  processes(): Worker[] {
    const all: Worker[] = [...this.retiring];
    for (const s of this.slots) {
      if (s.proc) all.push(s.proc);
      if (s.next) all.push(s.next);
    }
    return all.filter((p) => !p.exited);
  }

  // ---- operations -------------------------------------------------------

  /** Start a stopped app (or a new one) and wait until it settles. */
  start(spec: AppSpec = this.spec): Promise<void> {
    return this.exclusive('restarting', async () => {
      this.spec = spec;
      this.launchSlots();
      await this.settled(spec.listenTimeout + 1000);
      this.assertStarted();
    });
  }

  stop(): Promise<void> {
    return this.exclusive('stopping', async () => {
      await this.stopAll('stopped by user');
      await this.deps.host.sockets.closeAll();
      // A stopped app has no shim: it ends once its workers are gone.
      await this.deps.host.release();
      this.reason = 'stopped by user';
    });
  }

  /**
   * Stop every worker and start new ones, with `spec` when given (re-read
   * config, a new environment); the sockets stay open so connections queue
   * meanwhile.
   */
  restart(spec: AppSpec = this.spec): Promise<void> {
    return this.exclusive('restarting', async () => {
      this.spec = spec;
      if (this.stopped) {
        this.launchSlots();
      } else {
        this.addEvent(null, 'restart requested');
        await this.stopAll('restarting');
        this.stopped = false;
        for (const slot of this.slots) {
          slot.restarts++;
          slot.consecutiveCrashes = 0;
          this.spawn(slot, this.spec);
        }
      }
      // A re-read config may ask for another number of workers, as with reload.
      if (this.slots.length !== spec.instances) await this.resize(spec.instances, () => {});
      await this.settled(this.spec.listenTimeout + 1000);
      await this.retainForkSockets(spec);
      this.assertStarted();
    });
  }

  /** PM2's `reset`: the restart counters start again from zero. */
  resetRestarts(): void {
    for (const slot of this.slots) slot.restarts = 0;
    this.addEvent(null, 'restart counters reset');
    this.changed();
  }

  /**
   * Rolling reload: for each slot start a new worker with `spec`, wait until
   * it is ready, then drain the old one. The first failure aborts: workers not
   * yet replaced keep serving, and the failed new one is removed.
   */
  reload(spec: AppSpec, progress: Progress): Promise<void> {
    if (this.stopped) {
      progress(`${this.name}: not running; starting it`);
      return this.start(spec);
    }
    if (spec.sticky !== this.spec.sticky && this.deps.host.sockets.size > 0) {
      const note = `sticky: ${spec.sticky} takes effect when the app is next started (herd stop, then herd start); ` +
        'its listening sockets keep their mode while they stay bound';
      progress(`${this.name}: ${note}`);
      this.addEvent(null, note);
    }
    return this.exclusive('reloading', async () => {
      // An errored app is reloaded with the new code directly: its waiting
      // slots are filled by the reload, not restarted with the old spec first.
      this.clearErrored(false);
      for (const slot of this.slots) if (slot.status === 'backoff') slot.transition('held', 'waiting for the reload');
      const slots = [...this.slots];
      const parallel = Math.max(1, spec.reload.parallel);
      let replaced = 0;
      for (let i = 0; i < slots.length; i += parallel) {
        const batch = slots.slice(i, i + parallel);
        const results = await Promise.allSettled(batch.map((slot) => this.replace(slot, spec, progress)));
        replaced += results.filter((r) => r.status === 'fulfilled').length;
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) {
          this.addEvent(null, `reload aborted after ${replaced} of ${slots.length} workers`);
          this.holdEmptySlots('reload failed while the app had no running worker');
          throw failed.reason;
        }
      }
      // Slots added by a scale in the same config change.
      this.spec = spec;
      await this.resize(spec.instances, progress);
      await this.retainForkSockets(spec);
      this.addEvent(null, `reloaded ${replaced} workers`);
    });
  }

  /**
   * Resize to `count` workers. `mode` (an app with `instances: { min, max }`)
   * sets whether the count is fixed, in the same exclusive step, so that a
   * reload queued before it cannot put back a spec without it.
   */
  scale(count: number, progress: Progress, mode?: { scalingFixed: boolean }): Promise<{ from: number; to: number }> {
    return this.exclusive('scaling', async () => {
      const from = this.slots.length;
      this.spec = { ...this.spec, instances: count, ...(mode ?? {}) };
      if (!this.stopped) await this.resize(count, progress);
      return { from, to: count };
    });
  }

  /**
   * Replace one worker gracefully (new first), e.g. over its memory limit or
   * failing its health checks. Skipped while another operation runs (a
   * reload replaces it anyway; the caller's next check tries again) and when
   * this worker is already being replaced.
   */
  replaceSlot(slot: Slot, why: string, proc: Worker | null = slot.proc): boolean {
    if (this.operation !== null || this.stopped || slot.next || proc === null || this.replacing.has(proc)) return false;
    this.replacing.add(proc);
    void this.exclusive('replacing', async () => {
      // Queued behind nothing, but re-checked: the worker may have exited or the app stopped meanwhile.
      if (this.stopped || !this.slots.includes(slot) || slot.proc !== proc || slot.next || proc.exited) return;
      this.addEvent(slot.id, `replacing pid ${proc.pid}: ${why}`);
      try {
        await this.replace(slot, this.spec, () => {});
      } catch (err) {
        this.addEvent(slot.id, `replacement failed: ${(err as Error).message}`);
        // Replaced stop-first, the slot has no worker left: it waits for a cool-down retry.
        this.holdEmptySlots('a replacement failed while its slot had no running worker');
      }
    }).finally(() => this.replacing.delete(proc));
    return true;
  }

  /**
   * The app in `proc` closed its last listening server but the process lives
   * on: it serves nothing, so it is not online, and it is replaced new first
   * (health check or not). If the app exits by itself meanwhile, the
   * replacement simply takes over.
   */
  serversGone(slot: Slot, proc: Worker): void {
    if (slot.proc !== proc || proc.exited || this.stopped) return;
    const why = `the app closed its listening server (pid ${proc.pid} still runs, serving nothing)`;
    // Busy with another operation (a reload replaces it anyway): the next pong tries again.
    if (!this.replaceSlot(slot, why, proc)) {
      proc.serversGone = false;
      return;
    }
    this.addEvent(slot.id, why);
    slot.transition('replacing', `${why}; replacing it`);
    this.changed();
  }

  /** A health check of `proc` failed; `healthCheck.failures` in a row replace it. */
  healthCheckFailed(slot: Slot, proc: Worker, what: string): void {
    const failures = this.spec.healthCheck?.failures ?? 1;
    if (slot.proc !== proc || proc.exited) return;
    this.addEvent(slot.id, `pid ${proc.pid} health check failed (${proc.healthFailures}/${failures}): ${what}`);
    if (proc.healthFailures >= failures) this.replaceSlot(slot, `${failures} health checks failed in a row (last: ${what})`, proc);
  }

  /**
   * The watchdog found `proc` silent for longer than `stallTimeout`. A stuck
   * worker serves nobody and cannot drain: its replacement starts at once
   * (it counts as a crash, so a worker that always stalls ends in the crash
   * loop state), while its stack is read (time-boxed); then it is killed.
   */
  killStalled(slot: Slot, proc: Worker, silentMs: number): void {
    if (this.stalled.has(proc)) return;
    this.stalled.add(proc);
    const why = `event loop stalled (no answer for ${formatDuration(silentMs)})`;
    this.addEvent(slot.id, `pid ${proc.pid} ${why}; capturing its stack, then killing it`);
    // With a replacement already starting (reload), or autorestart off, the exit takes the usual path.
    if (slot.proc === proc && !slot.next && !this.stopped && this.spec.autorestart) {
      slot.proc = null;
      this.retiring.add(proc);
      if (this.crashLoop.crashed(true)) {
        this.enterErrored();
        slot.transition('held', `${why}; crash loop, waiting for cool-down`);
        this.changed();
      } else {
        slot.restarts++;
        this.spawn(slot, this.spec);
      }
    }
    void proc.captureStack(STACK_CAPTURE_MS).then((stack) => {
      const lines = stack.frames.length > 0
        ? [`herd: pid ${proc.pid} ${why}; it was stuck at:`, ...stack.frames.map((f) => `    ${f}`)]
        : [`herd: pid ${proc.pid} ${why}; no stack captured: ${stack.error ?? 'unknown'}`];
      for (const msg of lines) {
        proc.stderrTail.push(msg);
        this.deps.host.writeLog({ time: this.deps.clock.now(), app: this.name, worker: slot.id, stream: 'err', msg });
      }
      this.addEvent(slot.id, stack.frames.length > 0 ? `pid ${proc.pid} was stuck at:\n    ${stack.frames.join('\n    ')}` : `no stack captured: ${stack.error ?? 'unknown'}`);
      this.lastStderr = proc.stderrTail.toArray();
      proc.killWith(`killed: ${why}`);
    });
  }

  /** Workers able to serve now, and how many the supervisor's /ready needs. */
  readiness(): { ready: number; needed: number } {
    const ready = this.slots.filter((s) => s.status === 'online' && s.proc !== null && !s.proc.exited).length;
    return { ready, needed: this.stopped ? 0 : Math.min(this.spec.minReady, this.spec.instances) };
  }

  // ---- views ------------------------------------------------------------

  info(): AppInfo {
    const workers: WorkerInfo[] = [];
    for (const slot of this.slots) {
      workers.push(this.workerInfo(slot.id, slot.proc, slot.status, slot.restarts, slot.reason));
      if (slot.next) workers.push(this.workerInfo(slot.id, slot.next, 'starting', slot.restarts, 'replacement starting'));
    }
    for (const proc of this.retiring) workers.push(this.workerInfo(proc.slot, proc, 'draining', 0, 'draining'));
    return { name: this.name, status: this.status, workers };
  }

  /** The rest (cron, watch, log paths from the supervisor's ReloadTriggers; who the workers run as; the shim) is added by the supervisor. */
  detail(): Omit<AppDetail, keyof TriggerDetail | 'runAs' | 'shim'> {
    const s = this.spec;
    return {
      ...this.info(),
      reason: this.reason,
      script: s.script,
      cwd: s.cwd,
      execMode: s.execMode,
      instances: s.instances,
      interpreter: s.interpreter,
      nodeArgs: [...s.nodeArgs],
      args: [...s.args],
      restarts: this.totalRestarts,
      createdAt: this.createdAt,
      configFile: s.source.configFile,
      envName: s.source.envName,
      cliOverrides: { ...s.source.cliOverrides },
      env: { ...s.env },
      logLinesDropped: this.deps.logs.dropped(this.name),
      listening: this.listening(),
      lastStderr: this.lastStderr,
      events: this.events.toArray(),
      retryAt: this.crashLoop.retryAt,
      metrics: s.metrics !== false,
      sticky: this.stickyStats,
      warnings: this.warnings(),
      queue: s.queue ? { ...queueShown(s.queue), jobs: this.metrics.jobs } : null,
    };
  }

  /** Where the app's workers listen (`[::]:8080`, `127.0.0.1:3000`, a pipe's path). */
  listening(): string[] {
    // Fork-mode workers bind their own sockets: agents report theirs (pipes and port 0 too), /proc tells those of workers without one.
    return this.spec.execMode === 'cluster' ? this.deps.host.sockets.listening()
      : [...new Set([...this.processes().flatMap((p) => p.listening), ...this.forkListening])];
  }

  /**
   * Fork mode: the workers bind their own sockets, so what they listen on is
   * read from /proc (for a describe), never assumed from the config.
   */
  async refreshListening(): Promise<void> {
    this.stickyStats = await this.deps.host.sockets.stickyStats().catch(() => this.stickyStats);
    if (this.spec.execMode === 'cluster') return;
    const table = await processTable();
    const found = await Promise.all(this.processes().filter((p) => !p.hasAgent).map((p) => (p.pid === null ? [] : treeListening(p.pid, table))));
    this.forkListening = [...new Set(found.flat())];
  }

  /** What the user should change: an app that clusters itself run in cluster mode. */
  private warnings(): string[] {
    const proc = this.processes().find((p) => p.clustersItself !== null && p.spec.execMode === 'cluster');
    if (!proc) return [];
    return [`${proc.clustersItself}: the app clusters itself, but in exec_mode 'cluster' every herd worker is a cluster worker ` +
      `(cluster.isPrimary is false), so its own cluster code does not run and it runs as ${this.spec.instances} herd worker(s). ` +
      `Run it with exec_mode 'fork' (instances: 1) to use its own cluster, or drop its cluster code and set instances.`];
  }

  /** Calls `fn` whenever a worker changes status. Returns an unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ---- internals --------------------------------------------------------

  private async exclusive<T>(op: Operation, fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.operation = op;
      this.changed();
      try {
        return await fn();
      } finally {
        this.operation = null;
        this.changed();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private launchSlots(): void {
    this.stopped = false;
    this.clearErrored();
    this.slots = [];
    for (let i = 0; i < this.spec.instances; i++) {
      const slot = new Slot(i, this.illegal);
      this.slots.push(slot);
      this.spawn(slot, this.spec);
    }
    this.reason = 'started';
  }

  /** A transition the table forbids, in the app's events and through the daemon's handler. */
  private readonly illegal: IllegalTransition = (slot, from, to, reason) => {
    this.addEvent(slot, `illegal worker transition ${from} -> ${to} (${reason})`);
    this.deps.illegalTransition(slot, from, to, reason);
  };

  private spawn(slot: Slot, spec: AppSpec): Worker {
    const proc = this.createProcess(slot, spec);
    slot.proc = proc;
    slot.transition('starting', 'starting');
    this.changed();
    return proc;
  }

  private createProcess(slot: Slot, spec: AppSpec): Worker {
    const proc = this.deps.host.createWorker(this.workerOptions(slot, spec));
    void proc.whenSpawned().then(() => this.addEvent(slot.id, `pid ${proc.pid ?? '?'} starting`));
    this.watchStart(slot, proc, spec, spec.listenTimeout);
    return proc;
  }

  /** What a worker of `slot` reports reaches the app's policy. */
  private workerOptions(slot: Slot, spec: AppSpec, uniqueId = this.deps.nextUniqueId()): WorkerOptions {
    return {
      spec,
      slot: slot.id,
      uniqueId,
      onReady: (p, how) => this.onReady(slot, p, how),
      onServersGone: (p) => this.serversGone(slot, p),
      onExit: (p, info) => this.onExit(slot, p, info),
      onMetrics: (p, report) => {
        if (p.pid !== null) this.metrics.ingest(p.slot, p.pid, report);
        this.deps.onWorkerMetrics?.(p, report);
      },
      onClustersItself: (p, how) => {
        this.addEvent(slot.id, p.spec.execMode === 'fork'
          ? `pid ${p.pid} runs its own cluster: it ${how}; herd supervises the primary, and stopping it stops them`
          : `pid ${p.pid} clusters itself: ${how}, which is false in every herd cluster worker`);
        this.changed();
      },
    };
  }

  /**
   * A start that never reports ready still counts as up after the timeout,
   * so apps that never listen (queue consumers) are not stuck in 'starting'.
   * With waitReady the app promised a ready signal: not sending one within
   * listenTimeout is a failed start, like a reload's new worker that is not
   * ready in time (it is killed, and restart policy and the crash loop apply).
   */
  private watchStart(slot: Slot, proc: Worker, spec: AppSpec, timeoutMs: number): void {
    void proc.whenReady(timeoutMs).then((outcome) => {
      if (outcome.kind !== 'timeout' || slot.proc !== proc || slot.status !== 'starting') return;
      if (spec.waitReady) {
        proc.killWith(`no ready signal within ${formatDuration(spec.listenTimeout)} (waitReady)`);
        return;
      }
      // An app with its own cluster whose workers never listen serves nothing: never 'online'.
      if (proc.clustersItself !== null && spec.execMode === 'fork') {
        slot.transition('starting', `its cluster workers did not listen within ${formatDuration(spec.listenTimeout)}`);
      } else {
        slot.transition('online', `no listen() within ${formatDuration(spec.listenTimeout)}; counted as online`);
      }
      this.changed();
    });
  }

  /**
   * A daemon that restarted takes over the app its host runs already. The
   * snapshot's live workers go into their slots as they are (same pids);
   * a reload that the last daemon's death cut short is settled one way (a
   * ready replacement stays, one not ready is stopped and the old worker
   * keeps serving); exits that happened while no daemon listened go through
   * the ordinary restart policy, unless their slot has a live worker (then
   * they are history, not a trigger: a replacement is started once); then
   * the slot count is brought back to `instances`. Returns the journal
   * position acted on, for the host to forget.
   */
  adopt(snapshot: HostSnapshot, why: string, restarts: Readonly<Record<string, number>> = {}): number {
    this.stopped = false;
    this.reason = why;
    this.slots = [];
    this.addEvent(null, why);
    const bySlot = new Map<number, HostedWorkerState[]>();
    for (const state of [...snapshot.workers].sort((a, b) => a.worker - b.worker)) {
      if (state.draining || state.intended) {
        // Told to stop by the last daemon: it goes on draining (its host keeps the kill deadline).
        const proc = this.adoptProcess(new Slot(state.slot, this.illegal), state);
        this.retiring.add(proc);
        void proc.stop(this.spec.killTimeout);
        continue;
      }
      bySlot.set(state.slot, [...(bySlot.get(state.slot) ?? []), state]);
    }
    for (const [id, states] of [...bySlot].sort(([a], [b]) => a - b)) {
      const slot = new Slot(id, this.illegal);
      slot.restarts = restarts[String(id)] ?? 0;
      this.slots.push(slot);
      const newest = states[states.length - 1] as HostedWorkerState;
      const kept = newest.ready ? newest : [...states].reverse().find((w) => w.ready) ?? newest;
      for (const state of states) {
        const proc = this.adoptProcess(slot, state);
        if (state === kept) {
          slot.proc = proc;
          continue;
        }
        this.retiring.add(proc);
        if (state.ready) {
          this.addEvent(id, `reload interrupted by a daemon restart: draining old pid ${state.pid}, its replacement pid ${kept.pid} serves; run \`herd reload ${this.name}\` again`);
          void proc.stop(this.spec.killTimeout);
        } else {
          this.addEvent(id, `reload interrupted by a daemon restart: stopping pid ${state.pid}, which was not ready; pid ${kept.pid} keeps serving; run \`herd reload ${this.name}\` again`);
          void proc.kill();
        }
      }
      const proc = slot.proc as Worker;
      if (proc.ready) slot.transition('online', `adopted: pid ${proc.pid} serving`);
      else this.watchStart(slot, proc, this.spec, Math.max(0, this.spec.listenTimeout - proc.uptimeMs));
      this.addEvent(id, `pid ${proc.pid} adopted (${proc.ready ? 'online' : 'starting'})`);
    }
    let acted = 0;
    for (const exit of snapshot.exits) {
      acted = Math.max(acted, exit.seq);
      const slot = this.slots.find((s) => s.id === exit.slot);
      const what = `pid ${exit.pid ?? '?'} ${exit.info.reason} while no daemon was running`;
      if (exit.info.intended || slot?.proc) {
        this.addEvent(exit.slot, slot?.proc ? `${what} (pid ${slot.proc.pid} serves in its place)` : what);
        continue;
      }
      this.addEvent(exit.slot, `${what}, after ${formatDuration(exit.info.uptimeMs)}`);
      if (exit.stderrTail.length > 0) this.lastStderr = exit.stderrTail;
      if (slot || this.slots.length >= this.spec.instances) continue;
      const empty = new Slot(exit.slot, this.illegal);
      empty.restarts = restarts[String(exit.slot)] ?? 0;
      this.slots.push(empty);
      this.slots.sort((a, b) => a.id - b.id);
      empty.lastExit = exit.info.reason;
      if (!this.spec.autorestart) {
        empty.transition('stopped', `${exit.info.reason}; autorestart is off`);
        continue;
      }
      // Readiness is not in the journal: a worker that lived past minUptime is taken to have served.
      const served = exit.info.uptimeMs >= this.spec.crashLoop.minUptime;
      this.crashed(empty, { ready: served, readyAt: served ? this.deps.clock.now() - exit.info.uptimeMs : null }, exit.info);
    }
    this.changed();
    // Slots missing (a worker that left no exit) or too many (a scale cut short) are put right, as `herd scale` would.
    if (this.slots.length !== this.spec.instances) void this.exclusive('scaling', () => this.resize(this.spec.instances, () => {}));
    return acted;
  }

  /** A worker its host runs already, in `slot`, keeping its NODE_UNIQUE_ID. */
  private adoptProcess(slot: Slot, state: HostedWorkerState): Worker {
    return this.deps.host.adoptWorker(this.workerOptions(slot, this.spec, state.worker), state);
  }

  private async replace(slot: Slot, spec: AppSpec, progress: Progress): Promise<void> {
    const old = slot.proc;
    let next = this.createProcess(slot, spec);
    slot.next = next;
    this.changed();
    await next.whenSpawned();
    progress(`${this.name}[${slot.id}]: new worker pid ${next.pid ?? '?'} starting`);
    let outcome = await next.whenReady(spec.listenTimeout);
    const shared = outcome.kind === 'exited' && old && !old.exited ? await this.portHeldBySelf(next) : null;
    if (shared && old) {
      // A fork-mode server that binds its port without SO_REUSEPORT cannot
      // run beside its replacement: do what PM2 does for fork mode, stop
      // first, and say that this reload refuses connections meanwhile.
      progress(`${this.name}[${slot.id}]: the app cannot share port ${shared.port} with a new worker (${shared.holders}; ` +
        `its server does not set SO_REUSEPORT): replacing pid ${old.pid} stop-first, connections are refused until the new worker listens`);
      this.addEvent(slot.id, `reload stop-first: port ${shared.port} cannot be shared by two workers`);
      slot.next = null;
      this.retiring.add(old);
      slot.proc = null;
      slot.transition('replacing', 'reloading stop-first');
      this.changed();
      await old.stop(spec.killTimeout);
      next = this.createProcess(slot, spec);
      slot.next = next;
      this.changed();
      await next.whenSpawned();
      progress(`${this.name}[${slot.id}]: new worker pid ${next.pid ?? '?'} starting`);
      outcome = await next.whenReady(spec.listenTimeout);
    }
    if (outcome.kind !== 'ready') {
      slot.next = null;
      // Replaced stop-first: the slot has no worker left.
      if (slot.proc === null && slot.status === 'replacing') slot.transition('held', 'its replacement failed; waiting for cool-down');
      const why = outcome.kind === 'timeout'
        ? `new worker was not ready within ${formatDuration(spec.listenTimeout)}`
        : `new worker ${outcome.exit.reason} before it was ready`;
      await next.kill();
      this.addEvent(slot.id, `reload failed: ${why}`);
      const stderr = next.stderrTail.toArray();
      if (stderr.length > 0) this.lastStderr = stderr;
      this.changed();
      throw new HerdError('HERD_ERR_RELOAD_FAILED', { name: this.name, reason: why },
        stderr.length > 0 ? ['stderr of the new worker:', ...stderr] : []);
    }
    slot.next = null;
    slot.proc = next;
    slot.restarts++;
    slot.consecutiveCrashes = 0;
    slot.transition('online', 'reloaded');
    this.changed();
    if (old && !old.exited) {
      progress(`${this.name}[${slot.id}]: pid ${next.pid} ready; draining old pid ${old.pid}`);
      this.retiring.add(old);
      this.changed();
      await old.stop(spec.killTimeout);
    } else {
      progress(`${this.name}[${slot.id}]: pid ${next.pid} ready`);
    }
  }

  /** A new worker failed because this app's own (old) workers hold its port: the port and who holds it, else null. */
  private async portHeldBySelf(proc: Worker): Promise<{ port: number; holders: string } | null> {
    const f = proc.listenFailure;
    if (f === null || f.code !== 'EADDRINUSE' || f.port === null) return null;
    const holders = await this.deps.portHolders({ address: f.address, port: f.port }).catch(() => null);
    return holders !== null && holders.apps.includes(this.name) ? { port: f.port, holders: holders.text } : null;
  }

  /** Fork mode: the socket copies no current worker listens on are closed (the new version moved to another port). */
  private async retainForkSockets(spec: AppSpec): Promise<void> {
    const keys = handsOverSockets(spec) ? this.processes().flatMap((p) => [...p.listenKeys]) : [];
    await this.deps.host.sockets.retainFork(keys);
  }

  /** Where the app's host holds its listening sockets (pid and inodes), to tell who holds a port. */
  hostSockets(): Promise<{ pid: number; inodes: number[] }> {
    return this.deps.host.sockets.inodes();
  }

  /** The app is deleted: its host closes what it still holds. */
  closeHost(): Promise<void> {
    return this.deps.host.close();
  }

  /** Grow or shrink to `count` slots; removed slots drain their workers. */
  private async resize(count: number, progress: Progress): Promise<void> {
    while (this.slots.length < count) {
      const id = this.slots.reduce((max, s) => Math.max(max, s.id + 1), 0);
      const slot = new Slot(id, this.illegal);
      this.slots.push(slot);
      this.spawn(slot, this.spec);
      progress(`${this.name}[${id}]: started`);
    }
    const removed = this.slots.splice(count);
    const stops = removed.map(async (slot) => {
      const proc = slot.proc;
      if (!proc || proc.exited) {
        slot.transition('stopped', 'removed by scale');
        return;
      }
      slot.transition('draining', 'removed by scale');
      this.retiring.add(proc);
      progress(`${this.name}[${slot.id}]: draining pid ${proc.pid}`);
      await proc.stop(this.spec.killTimeout);
    });
    this.changed();
    await Promise.all(stops);
    if (count > 0) await this.settled(this.spec.listenTimeout + 1000);
  }

  private async stopAll(reason: string): Promise<void> {
    this.stopped = true;
    this.clearErrored();
    const procs = this.processes();
    for (const slot of this.slots) slot.transition(slot.proc && !slot.proc.exited ? 'draining' : 'stopped', reason);
    this.changed();
    await Promise.all(procs.map(async (p) => {
      const retiring = this.retiring.has(p); // its exit is logged as an old worker's
      const info = await p.stop(this.spec.killTimeout);
      if (!retiring) this.addEvent(p.slot, `pid ${p.pid} ${stopOutcome(p, info, this.spec.killTimeout)}`);
    }));
    for (const slot of this.slots) slot.transition('stopped', reason);
    this.changed();
  }

  private onReady(slot: Slot, proc: Worker, how: string): void {
    if (slot.proc !== proc) return; // a replacement: the reload swaps it in
    slot.transition('online', how);
    this.addEvent(slot.id, `pid ${proc.pid} online (${how})`);
    this.changed();
  }

  /**
   * Restart policy: what happens to a slot whose process ended reads only
   * the slot's lifecycle (is a replacement starting?), whether the exit was
   * intended, and the app's crash-loop state.
   */
  private onExit(slot: Slot, proc: Worker, info: ExitInfo): void {
    if (proc.pid !== null) this.metrics.workerExited(proc.pid);
    if (this.retiring.delete(proc)) {
      this.addEvent(slot.id, `old pid ${proc.pid} ${stopOutcome(proc, info, this.spec.killTimeout)}`);
      this.changed();
      return;
    }
    if (slot.proc !== proc) return; // a failed replacement: its reload reports it
    slot.proc = null;
    slot.lastExit = info.reason;
    if (info.intended || this.stopped) {
      slot.transition('stopped', info.reason);
      this.changed();
      return;
    }
    this.lastStderr = proc.stderrTail.toArray();
    this.addEvent(slot.id, `pid ${proc.pid} ${info.reason} after ${formatDuration(info.uptimeMs)}`);
    if (!this.slots.includes(slot)) return;
    if (slot.next) {
      // Being replaced already: the replacement takes over when it is ready.
      slot.transition('replacing', info.reason);
      this.changed();
      return;
    }
    if (!this.spec.autorestart) {
      slot.transition('stopped', `${info.reason}; autorestart is off`);
      this.changed();
      return;
    }
    // Only a worker that never became ready died of its listen(): an app that
    // logged EADDRINUSE once and served on crashes later for another reason.
    if (proc.listenFailure && !proc.ready) {
      this.onListenFailure(slot, proc, info, withPortFromEnv(proc.listenFailure, this.spec.env));
      return;
    }
    this.crashed(slot, proc, info);
  }

  /**
   * The worker died because it could not listen. Restarting it blindly would
   * fail the same way for ever: say which port and who holds it, and wait in
   * the errored state; the cool-down retries only once the port is free.
   */
  private onListenFailure(slot: Slot, proc: Worker, info: ExitInfo, failure: ListenFailure): void {
    slot.transition('held', `${info.reason}; could not listen (${failure.code})`);
    this.changed();
    void explainListenFailure(failure, this.deps.portHolders).then((why) => {
      // Stopped, restarted or reloaded meanwhile: that decides.
      if (this.stopped || !this.slots.includes(slot) || slot.proc !== null || slot.status !== 'held') return;
      if (why === null) {
        // Free again already (the holder just exited): an ordinary crash.
        this.crashed(slot, proc, info);
        return;
      }
      void this.deps.host.sockets.closeUnlistened().catch(() => undefined);
      this.addEvent(slot.id, why);
      this.crashLoop.listenFailure = failure;
      const retry = failure.code === 'EADDRINUSE' && failure.port !== null ? `if ${portLabel(failure)} is free by then` : '';
      this.enterErrored(why, retry);
      slot.transition('held', `${why}; waiting for cool-down`);
      this.changed();
    });
  }

  /** A worker crashed: restart it after its backoff, or hold the app in the errored state on a crash loop. */
  private crashed(slot: Slot, proc: Pick<Worker, 'ready' | 'readyAt'>, info: ExitInfo): void {
    const now = this.deps.clock.now();
    const unstable = !proc.ready || info.uptimeMs < this.spec.crashLoop.minUptime;
    if (this.crashLoop.crashed(unstable)) {
      this.enterErrored();
      slot.transition('held', `${info.reason}; crash loop, waiting for cool-down`);
      this.changed();
      return;
    }
    const plan = restartPlan(slot.consecutiveCrashes, info.uptimeMs, proc.readyAt === null ? 0 : now - proc.readyAt, this.spec);
    slot.consecutiveCrashes = plan.consecutiveCrashes;
    this.addEvent(slot.id, plan.servedMs !== null ? `replacing it at once (it served ${formatDuration(plan.servedMs)})` : `restarting it in ${formatDuration(plan.delay)}`);
    const cancel = this.deps.clock.after(plan.delay, () => {
      slot.restartDue();
      if (this.stopped || !this.slots.includes(slot) || slot.proc || slot.status !== 'backoff') return;
      slot.restarts++;
      this.spawn(slot, this.spec);
    });
    slot.backoff(plan.servedMs !== null
      ? `${info.reason} after serving ${formatDuration(plan.servedMs)}; replaced at once`
      : `${info.reason}; restarting in ${formatDuration(plan.delay)}`, cancel);
    this.changed();
  }

  /**
   * After a failed reload or replacement, slots that have no worker (the app
   * was errored, or the worker was replaced stop-first) wait for a cool-down
   * retry rather than staying empty for ever.
   */
  private holdEmptySlots(why: string): void {
    const empty = this.slots.filter((s) => !s.proc && !s.next && s.status !== 'backoff');
    if (empty.length === 0 || this.stopped) return;
    for (const slot of empty) slot.transition('held', 'reload failed; waiting for cool-down');
    this.enterErrored(why);
  }

  private enterErrored(why?: string, retryCondition = ''): void {
    if (!this.crashLoop.enter(() => this.leaveErrored())) return;
    this.explainErrored(why, retryCondition);
    // Slots already waiting to restart wait for the cool-down instead.
    for (const slot of this.slots) if (slot.status === 'backoff') slot.transition('held', 'crash loop, waiting for cool-down');
  }

  private explainErrored(why: string | undefined, retryCondition: string): void {
    const { maxCrashes, window } = this.spec.crashLoop;
    this.reason = `${why ?? `crash loop: ${maxCrashes} crashes within ${formatDuration(window)}`}; ` +
      `retrying at ${new Date(this.crashLoop.retryAt ?? 0).toISOString()}${retryCondition ? ` ${retryCondition}` : ''} (herd restart ${this.name} retries now)`;
    this.addEvent(null, this.reason);
  }

  private leaveErrored(): void {
    const f = this.crashLoop.listenFailure;
    if (f !== null && f.code === 'EADDRINUSE' && f.port !== null) {
      const port = f.port;
      const until = this.crashLoop.retryAt;
      void this.deps.portHolders({ address: f.address, port }).catch(() => null).then((holders) => {
        // Restarted, reloaded or stopped meanwhile: nothing to retry here.
        if (this.crashLoop.retryAt !== until || this.stopped) return;
        if (holders === null) {
          this.retryAfterCoolDown();
          return;
        }
        const why = `${portLabel(f)} is still in use: ${holders.text}`;
        this.crashLoop.extend(() => this.leaveErrored());
        this.explainErrored(why, `if ${portLabel(f)} is free by then`);
        for (const slot of this.slots) if (slot.status === 'held') slot.transition('held', `${why}; waiting for cool-down`);
        this.changed();
      });
      return;
    }
    this.retryAfterCoolDown();
  }

  private retryAfterCoolDown(): void {
    this.crashLoop.clear();
    this.reason = 'cool-down over; retrying';
    this.addEvent(null, this.reason);
    this.startHeldSlots();
    this.changed();
  }

  /** Leave the errored state (restart, reload, stop); `respawn` starts the slots that waited for it. */
  private clearErrored(respawn = true): void {
    this.crashLoop.clear();
    if (respawn) this.startHeldSlots();
  }

  private startHeldSlots(): void {
    if (this.stopped) return;
    for (const slot of this.slots) {
      if (slot.status !== 'held') continue;
      slot.restarts++;
      slot.consecutiveCrashes = 0;
      this.spawn(slot, this.spec);
    }
  }

  /** Resolves when every slot is online, the app is errored, or `timeoutMs` passed. */
  private settled(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        const done = this.crashLoop.errored || this.slots.every((s) => s.status === 'online' || s.status === 'stopped');
        if (done) finish();
      };
      const cancel = this.deps.clock.after(timeoutMs, () => finish());
      const unsubscribe = this.onChange(check);
      const finish = () => {
        cancel();
        unsubscribe();
        resolve();
      };
      check();
    });
  }

  /** After a start settled: a crash loop, or a worker still crashing, fails the command. */
  private assertStarted(): void {
    // A worker still starting after the wait had a failed attempt behind it
    // (it was restarted); with a ready signal promised that is a failed start.
    const crashing = this.slots.find((s) => s.status === 'backoff' || s.status === 'held' || s.status === 'replacing'
      || (s.status === 'starting' && s.lastExit !== null && this.spec.waitReady));
    if (!this.crashLoop.errored && !crashing) return;
    const reason = this.crashLoop.errored ? this.reason
      : crashing?.status === 'starting' ? `worker ${crashing.id} is not ready; its last attempt: ${crashing.lastExit}` : `worker ${crashing?.id} ${crashing?.reason}`;
    throw new HerdError('HERD_ERR_START_FAILED', { name: this.name, reason },
      this.lastStderr.length > 0 ? ['last stderr lines:', ...this.lastStderr] : []);
  }

  private workerInfo(id: number, proc: Worker | null, status: WorkerStatus, restarts: number, reason: string): WorkerInfo {
    const pid = proc && !proc.exited ? proc.pid : null;
    const usage = pid !== null ? this.deps.stats.get(pid) : undefined;
    return {
      id,
      pid,
      status,
      restarts,
      uptimeMs: pid !== null && proc ? proc.uptimeMs : 0,
      cpu: usage?.cpu ?? 0,
      memory: usage?.memory ?? 0,
      shed: proc?.shed ?? 0,
      reason,
    };
  }

  /** An entry in the app's recent events (`herd describe`). */
  private addEvent(worker: number | null, message: string): void {
    this.events.push({ time: this.deps.clock.now(), worker, message });
  }

  private changed(): void {
    for (const fn of [...this.listeners]) fn();
  }
}

/** Fork-mode workers with the agent pass their listening sockets to the next worker (forkSockets.ts). */
function handsOverSockets(spec: AppSpec): boolean {
  return spec.execMode === 'fork' && spec.runner === 'node';
}
