/**
 * An app with `cron`: its script runs to completion at each tick, one
 * process in fork mode, never restarted on exit. A run is a worker of the
 * app's host (its shim), spawned from the same plan as any worker (env,
 * cwd, user and group through setpriv, interpreter) but without herd's
 * agent: the shim holds its pipes and writes its log lines, and keeps its
 * exit in its journal, so a run outlives a daemon that dies and the next
 * daemon learns how it ended.
 *
 * A tick that finds the previous run still going is skipped and counted.
 * In a fleet each tick is claimed in Redis first (src/fleet/jobLock.ts);
 * when Redis cannot answer the tick is skipped, never run unclaimed.
 */
import * as os from 'node:os';
import type { AppSpec } from '../../config/types';
import { HerdError } from '../../errors';
import type { TickClaim } from '../../fleet/jobLock';
import type { AppDetail, AppInfo, AppStatus, JobRunView, JobView, TriggerDetail, WorkerInfo } from '../../protocol/control';
import type { HostSnapshot } from '../../protocol/shim';
import { processAlive, procStat } from '../../util/procStat';
import { Ring } from '../../util/ring';
import type { AppHostClient } from '../hosts/hostClient';
import type { ExitInfo, Worker, WorkerOptions } from '../worker/worker';
import { KEPT_RUNS, type JobRecord, type JobRecords } from './jobRecords';
import { cronTicks, ticksBetween, type TickSchedule } from './jobSchedule';

/** How a job claims its ticks in a fleet (FleetMember), or null outside one. */
export interface TickClaimer {
  readonly host: string;
  claimTick(app: string, tickMs: number, ttlMs: number): Promise<TickClaim>;
}

export interface JobDeps {
  host: AppHostClient;
  records: JobRecords;
  nextUniqueId: () => number;
  /** The fleet this daemon joined now, or null. */
  fleet: () => TickClaimer | null;
  /** Status or runs changed (state file, listeners). */
  changed: () => void;
  now?: () => number;
}

/** Setting timers further ahead than this is re-armed in steps (setTimeout's limit is 2^31-1 ms). */
const MAX_TIMER_MS = 2 ** 30;
/** A timer late by more than this (a blocked loop, a suspended machine) counts the ticks it passed as missed. */
const LATE_MS = 1000;

interface Run {
  tick: number;
  fence: number;
  startedAt: number;
  worker: Worker;
}

export class Job {
  spec: AppSpec;
  readonly createdAt: number;
  /** Stopped: not scheduled (stopped on purpose, or waiting for `herd resurrect`). */
  stopped = true;
  reason = 'not started';
  private stopping = false;
  private schedule: TickSchedule;
  private timer: NodeJS.Timeout | null = null;
  private nextTick: number | null = null;
  private run: Run | null = null;
  private readonly events = new Ring<{ time: number; worker: number | null; message: string }>(50);
  private lastStderr: string[] = [];
  private readonly now: () => number;
  private exitWaiters: (() => void)[] = [];

  constructor(spec: AppSpec, private readonly deps: JobDeps) {
    this.spec = spec;
    this.now = deps.now ?? Date.now;
    this.createdAt = this.now();
    this.schedule = cronTicks(jobOf(spec));
  }

  get name(): string {
    return this.spec.name;
  }

  get status(): AppStatus {
    if (this.stopping) return 'stopping';
    if (this.run !== null) return 'running';
    return this.stopped ? 'stopped' : 'waiting';
  }

  get busy(): string | null {
    return this.stopping ? 'stopping' : null;
  }

  private get record(): JobRecord {
    return this.deps.records.get(this.name);
  }

  note(message: string): void {
    this.events.push({ time: this.now(), worker: null, message });
  }

  /**
   * Schedule the job (with `spec`, which may bring another schedule). With
   * `catchUp` (the daemon restarted), the last tick that fell due while no
   * daemon ran is run now if it is less than one period old; older ones are
   * counted as missed.
   */
  start(spec: AppSpec = this.spec, catchUp = false): void {
    this.spec = spec;
    this.schedule = cronTicks(jobOf(spec));
    this.stopped = false;
    this.reason = 'waiting for the next tick';
    const record = this.record;
    // A run the records have that no shim gave back (the host died with it): ended, how is not known.
    if (this.run === null && record.running !== null) this.finish(record.running, null, 'its process was gone when the job started again (how it ended is not known)');
    const now = this.now();
    let due: number | null = null;
    if (catchUp && record.lastTick !== null) {
      const passed = ticksBetween(this.schedule, record.lastTick, now);
      if (passed.last !== null) {
        const period = (this.schedule.next(passed.last) ?? Infinity) - passed.last;
        const recent = now - passed.last < period;
        due = recent ? passed.last : null;
        const missed = passed.count - (recent ? 1 : 0);
        if (missed > 0) {
          record.skipped.missed += missed;
          this.note(`${missed} tick(s) fell due while no daemon ran: counted as missed, not run`);
        }
      }
    } else if (!catchUp) {
      // Started anew: ticks from now on.
      record.lastTick = null;
    }
    this.deps.records.save();
    this.arm(due ?? now);
    if (due !== null) {
      this.note(`tick ${iso(due)} fell due while no daemon ran: run once now (catch-up)`);
      void this.fire(due);
    }
    this.deps.changed();
  }

  /** Not scheduled any more; a run going on is stopped (SIGTERM, then SIGKILL after killTimeout). */
  async stop(reason = 'stopped by user'): Promise<void> {
    this.disarm();
    this.stopped = true;
    this.reason = reason;
    // Stopped on purpose: ticks missed meanwhile are not caught up when it starts again.
    this.record.lastTick = null;
    this.deps.records.save();
    const run = this.run;
    if (run !== null) {
      this.stopping = true;
      this.deps.changed();
      try {
        await run.worker.stop(this.spec.killTimeout);
        await this.whenIdle();
      } finally {
        this.stopping = false;
      }
    }
    this.deps.changed();
  }

  /** The daemon shuts down: the schedule stops, a run going on is left to finish under its shim (the next daemon adopts it). */
  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextTick = null;
  }

  /**
   * A daemon that restarted takes the job over from its shim: the run the
   * records say was going is placed again if its process lives (same pid,
   * same start time), or finished from the shim's journal; then the job is
   * scheduled with catch-up. Returns the journal position acted on.
   */
  adopt(snapshot: HostSnapshot, why: string): number {
    this.note(why);
    const record = this.record;
    const running = record.running;
    let acted = 0;
    for (const exit of snapshot.exits) {
      acted = Math.max(acted, exit.seq);
      if (running !== null && exit.worker === running.uniqueId) {
        if (exit.stderrTail.length > 0) this.lastStderr = exit.stderrTail;
        this.finish(running, exit.info, `${exit.info.reason} while no daemon was running`);
      }
    }
    const current = record.running;
    for (const state of snapshot.workers) {
      const ours = current !== null && state.worker === current.uniqueId
        && (current.startTime === null || state.pid === null || processAlive(state.pid, current.startTime));
      if (!ours || current === null) {
        // Not a run this job knows (records lost): it is stopped rather than left running unaccounted.
        const stray = this.deps.host.adoptWorker(this.options(this.spec, state.worker), state);
        this.note(`pid ${state.pid ?? '?'} found under the shim is no run of the records; stopped`);
        void stray.stop(this.spec.killTimeout);
        continue;
      }
      const worker = this.deps.host.adoptWorker(this.options(this.spec, state.worker), state);
      this.run = { tick: current.tick, fence: current.fence, startedAt: current.startedAt, worker };
      this.note(`run of tick ${iso(current.tick)} (pid ${state.pid ?? '?'}) adopted: still running, not started again`);
    }
    if (record.running !== null && this.run === null) {
      this.finish(record.running, null, 'its process was gone when the daemon restarted (how it ended is not known)');
    }
    this.start(this.spec, true);
    return acted;
  }

  // ---- ticks --------------------------------------------------------------

  private arm(from: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let next = this.schedule.next(from);
    const now = this.now();
    // Ticks a late timer passed are missed, not run in a burst.
    let late = 0;
    while (next !== null && next < now - LATE_MS) {
      late++;
      next = this.schedule.next(next);
    }
    if (late > 0) {
      this.record.skipped.missed += late;
      this.note(`${late} tick(s) passed while the daemon could not run them (blocked or suspended): missed`);
    }
    this.nextTick = next;
    if (next === null || this.stopped) return;
    const wait = Math.max(0, next - now);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (wait > MAX_TIMER_MS) this.arm(from);
      else void this.fire(next);
    }, Math.min(wait, MAX_TIMER_MS));
    this.timer.unref?.();
  }

  /** Tick `tick` (its scheduled time) fell due. */
  private async fire(tick: number): Promise<void> {
    if (this.stopped) return;
    // The next one is armed first: a slow claim or spawn never shifts the schedule.
    if (this.nextTick === tick || this.nextTick === null || this.nextTick <= tick) this.arm(tick);
    const record = this.record;
    if (record.lastTick !== null && tick <= record.lastTick) return;
    record.lastTick = tick;
    if (this.run !== null) {
      record.skipped.overlap++;
      this.note(`tick ${iso(tick)} skipped: the run of ${iso(this.run.tick)} is still going`);
      this.deps.records.save();
      return;
    }
    let fence: number;
    if (jobOf(this.spec).fleet) {
      const fleet = this.deps.fleet();
      const claim: TickClaim = fleet === null
        ? { won: false, error: 'this daemon has not joined the fleet yet (run `herd start <config>`)' }
        : await fleet.claimTick(this.name, tick, this.claimTtl(tick));
      if (this.stopped) return;
      if (!claim.won) {
        if ('error' in claim) {
          record.skipped.redis++;
          this.note(`tick ${iso(tick)} skipped: redis unavailable (${claim.error})`);
        } else {
          record.skipped.lost++;
          record.lastLost = { tick: iso(tick), host: claim.by };
          this.note(`tick ${iso(tick)} ran on ${claim.by ?? 'another host'}`);
        }
        this.deps.records.save();
        this.deps.changed();
        return;
      }
      fence = claim.fence;
    } else {
      fence = ++record.localFence;
    }
    if (this.run !== null) {
      // Another tick started while this one was being claimed (a catch-up and its successor).
      record.skipped.overlap++;
      this.deps.records.save();
      return;
    }
    this.launch(tick, fence);
  }

  /** The tick's key outlives every host's timer for it and a catch-up one period late: 3 periods, 10 s to 31 days. */
  private claimTtl(tick: number): number {
    const period = (this.schedule.next(tick) ?? tick + 86_400_000) - tick;
    return Math.min(Math.max(3 * period, 10_000), 31 * 86_400_000);
  }

  private launch(tick: number, fence: number): void {
    const spec = runSpec(this.spec, tick, fence);
    const uniqueId = this.deps.nextUniqueId();
    const startedAt = this.now();
    const running = { tick, fence, uniqueId, pid: null, startTime: null, startedAt };
    const record = this.record;
    // Written before the spawn: a daemon killed right after does not start the tick again.
    record.running = running;
    this.deps.records.save();
    const worker = this.deps.host.createWorker(this.options(spec, uniqueId));
    this.run = { tick, fence, startedAt, worker };
    this.note(`tick ${iso(tick)}: run started (fence ${fence})`);
    this.deps.changed();
    void worker.whenSpawned().then(() => {
      if (worker.pid === null || record.running !== running) return;
      record.running = { ...running, pid: worker.pid, startTime: procStat(worker.pid)?.startTime ?? null };
      this.deps.records.save();
      this.deps.changed();
    });
  }

  private options(spec: AppSpec, uniqueId: number): WorkerOptions {
    return {
      spec,
      slot: 0,
      uniqueId,
      onReady: () => {},
      onMetrics: () => {},
      onExit: (worker, info) => this.exited(worker, info),
    };
  }

  private exited(worker: Worker, info: ExitInfo): void {
    const run = this.run;
    if (run === null || run.worker !== worker) return;
    this.run = null;
    const tail = worker.stderrTail.toArray();
    if (info.code !== 0 && tail.length > 0) this.lastStderr = tail;
    this.finish(run, info, null);
    for (const fn of this.exitWaiters.splice(0)) fn();
  }

  /** The run of `running` ended (`info` null: how is not known). */
  private finish(running: { tick: number; fence: number; startedAt: number }, info: ExitInfo | null, why: string | null): void {
    const record = this.record;
    const ended = this.now();
    const run: JobRunView = {
      tick: iso(running.tick),
      host: this.hostName(),
      startedAt: running.startedAt,
      durationMs: info !== null ? Math.max(0, Math.round(info.uptimeMs) || ended - running.startedAt) : null,
      exitCode: info?.code ?? null,
      signal: info?.signal ?? null,
      fence: running.fence,
      ...(why !== null ? { reason: why } : info !== null && info.intended ? { reason: info.reason } : {}),
    };
    record.runs.push(run);
    if (record.runs.length > KEPT_RUNS) record.runs.splice(0, record.runs.length - KEPT_RUNS);
    record.running = null;
    this.deps.records.save();
    const how = info === null ? 'ended' : info.signal !== null ? `killed by ${info.signal}` : `exited with code ${info.code}`;
    this.note(`tick ${run.tick}: run ${how}${why !== null ? ` (${why})` : ''}`);
    this.deps.changed();
  }

  private whenIdle(): Promise<void> {
    return this.run === null ? Promise.resolve() : new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private hostName(): string {
    return this.deps.fleet()?.host ?? os.hostname();
  }

  // ---- views --------------------------------------------------------------

  processes(): Worker[] {
    return this.run !== null && !this.run.worker.exited ? [this.run.worker] : [];
  }

  view(): JobView {
    const record = this.record;
    const job = jobOf(this.spec);
    return {
      name: this.name,
      schedule: job.schedule,
      timezone: this.schedule.timezone,
      next: this.stopped || this.nextTick === null ? null : iso(this.nextTick),
      running: this.run !== null ? iso(this.run.tick) : null,
      runs: record.runs.map((r) => ({ ...r })),
      skipped: { ...record.skipped },
      lastLost: record.lastLost,
      fleet: job.fleet,
    };
  }

  info(usage: (pid: number) => { cpu: number; memory: number } | undefined = () => undefined): AppInfo {
    const workers: WorkerInfo[] = [];
    const run = this.run;
    if (run !== null) {
      const pid = run.worker.exited ? null : run.worker.pid;
      const u = pid !== null ? usage(pid) : undefined;
      workers.push({
        id: 0, pid, status: this.stopping ? 'draining' : 'online', restarts: 0, uptimeMs: pid !== null ? run.worker.uptimeMs : 0,
        cpu: u?.cpu ?? 0, memory: u?.memory ?? 0, shed: 0, reason: `running tick ${iso(run.tick)}`,
      });
    }
    return { name: this.name, status: this.status, workers };
  }

  detail(logsDropped: number, usage?: (pid: number) => { cpu: number; memory: number } | undefined): Omit<AppDetail, 'runAs' | 'shim'> {
    const s = this.spec;
    const triggers: TriggerDetail = { cron: null, watch: null, logFiles: { ...s.logFiles } };
    return {
      ...this.info(usage),
      ...triggers,
      reason: this.reason,
      script: s.script,
      cwd: s.cwd,
      execMode: 'fork',
      instances: 1,
      interpreter: s.interpreter,
      nodeArgs: [...s.nodeArgs],
      args: [...s.args],
      restarts: 0,
      createdAt: this.createdAt,
      configFile: s.source.configFile,
      envName: s.source.envName,
      cliOverrides: { ...s.source.cliOverrides },
      env: { ...s.env },
      listening: [],
      logLinesDropped: logsDropped,
      lastStderr: this.lastStderr,
      events: this.events.toArray(),
      retryAt: null,
      metrics: false,
      sticky: null,
      warnings: [],
      job: this.view(),
    };
  }
}

function jobOf(spec: AppSpec): NonNullable<AppSpec['job']> {
  if (!spec.job) throw new HerdError('HERD_ERR_INTERNAL', { reason: `app ${spec.name} is not a job` });
  return spec.job;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * What one run spawns: the app's own command without herd's agent (a run
 * has no port to drain and reports nothing over IPC), one process, and the
 * tick in its environment.
 */
export function runSpec(spec: AppSpec, tick: number, fence: number): AppSpec {
  return {
    ...spec,
    runner: 'exec',
    execMode: 'fork',
    instances: 1,
    stallTimeout: 0,
    waitReady: false,
    accessLog: false,
    overload: null,
    healthCheck: null,
    env: { ...spec.env, HERD_JOB_NAME: spec.name, HERD_JOB_TICK: iso(tick), HERD_JOB_FENCE: String(fence) },
  };
}
