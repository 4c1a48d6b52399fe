import { AlertManager } from '../../alerts/alerts';
import { alertValue } from '../../alerts/appAlertValue';
import { MAX_INSTANCES } from '../../config/specCheck';
import { capacityProblem } from './capacity';
import { Autoscaling } from './autoscaling';
import type { AppSpec } from '../../config/types';
import { HerdError } from '../../errors';
import { renderPrometheus } from '../../metrics/prometheus';
import { SECOND_POINTS } from '../../metrics/series';
import type { AppMetricsView, MonitApp, SeriesView } from '../../metrics/view';
import type { AppDetail, AppInfo } from '../../protocol/control';
import { resolveHome } from '../../util/paths';
import { App, type Progress } from './app';
import { fleetApp, metricsView, monitView, promApp, sampleQueues, tickMetrics } from './appMetrics';
import type { LocalApp } from '../../fleet/types';
import { systemClock } from './clock';
import type { IllegalTransition } from './slot';
import { checkCronSchedule } from '../reloads/cronReload';
import { prepareLogFiles } from '../../logs/logFiles';
import type { LogSink } from '../../logs/logSink';
import { findPortHolders, type PortHolders } from '../sockets/portConflict';
import type { ProcessEntry } from '../worker/procNet';
import { ProcStats } from '../worker/procStats';
import type { AppHostClient } from '../hosts/hostClient';
import { localHost } from '../hosts/localHost';
import { ReloadTriggers } from '../reloads/reloadTriggers';
import { WorkerMonitor } from './workerMonitor';
import { prepareRunAs, runAsView, runsAsRootUnasked } from '../worker/runAs';
import { workerFiles } from '../worker/workerCommand';
import type { SavedApp } from '../state/savedApps';
import type { HostSnapshot } from '../../protocol/shim';
import type { JobView } from '../../protocol/control';
import { Job, type TickClaimer } from '../jobs/job';
import { JobRecords } from '../jobs/jobRecords';
import { checkJob } from '../jobs/jobCheck';
import * as path from 'node:path';
import { ProfileStore } from '../state/profileStore';
import { profileAll, profileTargets, StallProfiler, type TakenProfile } from './profiling';
import { heldRecently } from '../worker/diagnosticHold';
import type { StallProfileView } from '../../protocol/profile';
import { QueueReader } from '../queues/queueReader';

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}

const SAMPLE_INTERVAL_MS = 1000;

/** Where an app's workers run: a shim of its own (the daemon), or this process (`herd run`, tests). */
export type HostFactory = (app: string) => AppHostClient;

export interface SupervisorOptions {
  /** Where jobs' last ticks and runs are kept ($HERD_HOME/jobs.json); null or absent: in memory. */
  jobsFile?: string | null;
  /** The fleet the daemon joined now, which claims jobs' ticks; absent: none. */
  fleet?: () => TickClaimer | null;
  /** Where profileOnStall keeps its profiles; absent: $HERD_HOME/profiles. */
  profilesDir?: string;
}

/**
 * The registry of apps. It routes commands to apps and samples worker usage;
 * everything about one app's workers lives in App.
 */
export class Supervisor {
  private readonly apps = new Map<string, App>();
  /** Apps with `cron`: run at each tick, never supervised as servers (src/daemon/jobs). */
  private readonly jobs = new Map<string, Job>();
  private readonly jobRecords: JobRecords;
  private readonly hosts = new Map<string, AppHostClient>();
  private readonly stats = new ProcStats();
  private uniqueId = 0;
  private readonly sampler: NodeJS.Timeout;
  private sampling = false;
  private readonly monitor: WorkerMonitor;
  /** Each app's cron and watch reloads. */
  private readonly triggers = new Map<string, ReloadTriggers>();
  /** The daemon said that apps without `user` run as root (once per daemon). */
  private warnedRoot = false;
  /** Remembered apps that were running when the daemon went down, not started since. */
  private readonly awaiting = new Set<string>();
  private readonly changeListeners = new Set<() => void>();
  /** `herd update` hands the apps over: no stall kill, health check, memory limit or sample acts meanwhile. */
  private paused = false;
  /** Reads queue apps' BullMQ queues into their metrics; made (and bullmq loaded) only once an app has `queue`. */
  private queueReader: QueueReader | null = null;

  /** Profiles profileOnStall took ($HERD_HOME/profiles/<app>/). */
  readonly profiles: ProfileStore;
  private readonly stallProfiler: StallProfiler;

  /** Alert rules from the config's top-level `alerts`, evaluated after each metrics tick. */
  readonly alerts = new AlertManager((line) => console.error(`${new Date().toISOString()} herd: ${line}`));

  /** Apps with `instances: { min, max }` size themselves after each metrics tick (docs/autoscaling.md). */
  private readonly autoscaling = new Autoscaling((line) => console.error(`${new Date().toISOString()} herd: ${line}`));

  constructor(private readonly logs: LogSink, private readonly hostFor: HostFactory = (app) => localHost(app, logs), private readonly options: SupervisorOptions = {}) {
    this.jobRecords = new JobRecords(options.jobsFile ?? null, (line) => console.error(`${new Date().toISOString()} herd: ${line}`));
    this.sampler = setInterval(() => void this.sample(), SAMPLE_INTERVAL_MS);
    this.sampler.unref();
    this.monitor = new WorkerMonitor(() => (this.paused ? [] : this.apps.values()));
    this.profiles = new ProfileStore(options.profilesDir ?? path.join(resolveHome(), 'profiles'));
    this.stallProfiler = new StallProfiler(this.profiles, (app, worker, message) => this.apps.get(app)?.note(message, worker));
  }

  /** True when every app that is not stopped has its `minReady` workers serving (the supervisor's /ready). */
  ready(): { ok: boolean; apps: { name: string; ready: number; needed: number }[] } {
    const apps = [...this.apps.values()].map((a) => ({ name: a.name, ...a.readiness() }));
    return { ok: apps.every((a) => a.ready >= a.needed), apps };
  }

  names(): string[] {
    return [...this.apps.keys(), ...this.jobs.keys()];
  }

  /** Start new apps, and stopped ones again; apps already running are skipped. */
  async start(specs: readonly AppSpec[]): Promise<{ started: string[]; skipped: string[]; warnings?: string[] }> {
    const notes = await this.check(specs);
    const warnings = this.rootWarning(specs.filter((s) => notes.has(s.name) && runsAsRootUnasked(s)).map((s) => s.name));
    const result = await this.launch(specs, notes);
    return warnings.length > 0 ? { ...result, warnings } : result;
  }

  /**
   * Every spec that would start is checked before any app starts (capacity,
   * cron schedule, log paths, the user it runs as): a bad one changes
   * nothing. Returns the notes for each app's events.
   */
  private async check(specs: readonly AppSpec[]): Promise<Map<string, string[]>> {
    const toStart = specs.filter((spec) => (this.apps.get(spec.name) ?? this.jobs.get(spec.name))?.stopped !== false);
    for (const spec of toStart) {
      if (spec.job ? this.apps.has(spec.name) : this.jobs.has(spec.name)) {
        throw new HerdError('HERD_ERR_USAGE', { message: `app "${spec.name}" is listed as a ${spec.job ? 'server' : 'job'}; \`herd delete ${spec.name}\` first to start it as a ${spec.job ? 'job (cron)' : 'server'}` });
      }
    }
    const problem = capacityProblem(toStart.reduce((n, s) => n + s.instances, 0));
    if (problem) throw new HerdError('HERD_ERR_CAPACITY', { name: toStart.map((s) => s.name).join(', '), reason: problem });
    const notes = new Map<string, string[]>();
    for (const spec of toStart) notes.set(spec.name, await checkRuntimeFields(spec));
    return notes;
  }

  private async launch(specs: readonly AppSpec[], notes: ReadonlyMap<string, string[]>): Promise<{ started: string[]; skipped: string[] }> {
    const started: string[] = [];
    const skipped: string[] = [];
    const runs: Promise<void>[] = [];
    for (const spec of specs) {
      if (spec.job) {
        const job = this.jobs.get(spec.name) ?? this.createJob(spec);
        if (!job.stopped) {
          skipped.push(spec.name);
          continue;
        }
        this.awaiting.delete(spec.name);
        for (const note of notes.get(spec.name) ?? []) job.note(note);
        started.push(spec.name);
        job.start(spec);
        continue;
      }
      let app = this.apps.get(spec.name);
      if (app && !app.stopped) {
        skipped.push(spec.name);
        continue;
      }
      app ??= this.create(spec);
      this.awaiting.delete(spec.name);
      for (const note of notes.get(spec.name) ?? []) app.note(note);
      started.push(spec.name);
      runs.push(app.start(spec));
    }
    const results = await Promise.allSettled(runs);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    return { started, skipped };
  }

  /**
   * Root starting apps that set no `user`: said once per daemon, in the
   * output of the `herd start` that does it and in the daemon's log (each
   * such app also gets an event), so an operator who means it is not nagged.
   */
  private rootWarning(names: string[]): string[] {
    if (names.length === 0 || this.warnedRoot) return [];
    this.warnedRoot = true;
    const [one] = names;
    const who = names.length === 1 ? `${one} sets no user: its workers run` : `${names.join(', ')} set no user: their workers run`;
    const warning = `herd runs as root and ${who} as root; set user (PM2: uid), e.g. user: 'nobody', to run them unprivileged ` +
      '(herd keeps binding the ports and writing the logs); said once per daemon';
    console.error(`${new Date().toISOString()} herd: warning: ${warning}`);
    return [warning];
  }

  /** A listed app, not started: its changes (status, spec, stop) reach the state file's listeners. */
  private create(spec: AppSpec): App {
    const host = this.hostFor(spec.name);
    this.hosts.set(spec.name, host);
    const app = new App(spec, {
      logs: this.logs,
      stats: this.stats,
      host,
      clock: systemClock,
      nextUniqueId: () => ++this.uniqueId,
      portHolders: (wanted) => this.portHolders(wanted),
      illegalTransition: reportIllegal(spec.name),
      onWorkerMetrics: (proc, report) => {
        if (!this.paused) this.stallProfiler.onMetrics(proc.spec, proc, report);
      },
    });
    this.apps.set(spec.name, app);
    this.triggers.set(spec.name, new ReloadTriggers(app, { ignoreDirs: this.ignoredByWatch() }));
    app.onChange(() => {
      if (!app.stopped) this.awaiting.delete(app.name);
      this.appsChanged();
    });
    this.appsChanged();
    return app;
  }

  private createJob(spec: AppSpec): Job {
    const host = this.hostFor(spec.name);
    this.hosts.set(spec.name, host);
    const job = new Job(spec, {
      host,
      records: this.jobRecords,
      nextUniqueId: () => ++this.uniqueId,
      fleet: () => this.options.fleet?.() ?? null,
      changed: () => {
        if (!job.stopped) this.awaiting.delete(job.name);
        this.appsChanged();
      },
    });
    this.jobs.set(spec.name, job);
    this.appsChanged();
    return job;
  }

  /** Every job with its schedule, runs and skipped ticks (`herd jobs`). */
  jobViews(): JobView[] {
    return [...this.jobs.values()].map((j) => j.view());
  }

  /**
   * List remembered apps without starting them (a daemon that restarted,
   * `herd resurrect` of stopped apps). Those not stopped on purpose wait
   * for `herd resurrect` (or `herd start <name>`) with `waiting` as their
   * reason; an app listed already is left as it is.
   */
  remember(saved: readonly SavedApp[], waiting: string): void {
    for (const s of saved) {
      if (this.apps.has(s.name) || this.jobs.has(s.name)) continue;
      const app = s.spec.job ? this.createJob(s.spec) : this.create(s.spec);
      app.reason = s.stopped ? s.reason : waiting;
      if (!s.stopped) this.awaiting.add(s.name);
    }
    this.appsChanged();
  }

  /**
   * Take over an app whose host runs already (a daemon that restarted
   * adopts what the last one left serving): listed with `spec`, its live
   * workers placed as they are. NODE_UNIQUE_ID goes on above every id the
   * host has used, so no new worker takes the id of a live one. Returns the
   * host's journal position acted on.
   */
  adopt(spec: AppSpec, snapshot: HostSnapshot, why: string, restarts: Readonly<Record<string, number>> = {}): number {
    for (const id of [...snapshot.workers.map((w) => w.worker), ...snapshot.exits.map((e) => e.worker)]) this.uniqueId = Math.max(this.uniqueId, id);
    this.awaiting.delete(spec.name);
    if (spec.job) {
      const acted = (this.jobs.get(spec.name) ?? this.createJob(spec)).adopt(snapshot, why);
      this.appsChanged();
      return acted;
    }
    const app = this.apps.get(spec.name) ?? this.create(spec);
    const acted = app.adopt(snapshot, why, restarts);
    this.appsChanged();
    return acted;
  }

  /** `herd resurrect`: check `run` whole, list `keep` as stopped, then start `run`. */
  async restore(run: readonly AppSpec[], keep: readonly SavedApp[]): Promise<{ started: string[]; skipped: string[] }> {
    const notes = await this.check(run);
    // Said in the daemon's log (and once per daemon) as for herd start.
    this.rootWarning(run.filter((s) => notes.has(s.name) && runsAsRootUnasked(s)).map((s) => s.name));
    this.remember(keep, 'stopped');
    return this.launch(run, notes);
  }

  /** Every listed app as the state file and the dump keep it; `stopped` means stopped on purpose. */
  savedApps(): SavedApp[] {
    return [...this.apps.values()].map((a) => ({
      name: a.name,
      spec: a.spec,
      stopped: a.stopped && !this.awaiting.has(a.name),
      reason: a.reason,
      createdAt: a.createdAt,
      restarts: Object.fromEntries(a.slots.map((s) => [String(s.id), s.restarts])),
    })).concat([...this.jobs.values()].map((j) => ({
      name: j.name,
      spec: j.spec,
      stopped: j.stopped && !this.awaiting.has(j.name),
      reason: j.reason,
      createdAt: j.createdAt,
      restarts: {},
    })));
  }

  /** True when listed and not stopped, false when listed and stopped, null when not listed. */
  running(name: string): boolean | null {
    const app = this.apps.get(name) ?? this.jobs.get(name);
    return app ? !app.stopped : null;
  }

  /** Listed apps that are not running only because the daemon restarted. */
  awaitingResurrect(): string[] {
    return [...this.awaiting];
  }

  /** Calls `fn` when an app is added or deleted, or one of its workers or operations changes. Returns an unsubscribe function. */
  onAppsChanged(fn: () => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  private appsChanged(): void {
    for (const fn of this.changeListeners) fn();
  }

  /** Start an app that is listed but stopped, with the spec it has; a running (or errored) one is skipped. */
  async startApp(name: string): Promise<{ started: string[]; skipped: string[] }> {
    return this.start([(this.jobs.get(name) ?? this.get(name)).spec]);
  }

  async stop(target: string): Promise<string[]> {
    const jobs = this.resolveJobs(target);
    const apps = target !== 'all' && jobs.length > 0 ? [] : this.resolve(target);
    // Stopped on purpose now, even one that was waiting for `herd resurrect`.
    for (const a of [...apps, ...jobs]) this.awaiting.delete(a.name);
    await Promise.all([...apps.map((a) => a.stop()), ...jobs.map((j) => j.stop())]);
    return [...apps, ...jobs].map((a) => a.name);
  }

  async restart(target: string): Promise<string[]> {
    return this.restartWith(target, null);
  }

  /**
   * A job restarted or reloaded takes its new spec (schedule) from the next
   * tick on; a run going on is left to finish.
   */
  private async rescheduleJobs(jobs: readonly Job[], specs: readonly AppSpec[] | null): Promise<void> {
    for (const job of jobs) {
      const spec = specs?.find((s) => s.name === job.name) ?? job.spec;
      if (!spec.job) throw new HerdError('HERD_ERR_USAGE', { message: `app "${job.name}" is a job and its config no longer sets cron; \`herd delete ${job.name}\` and start it again` });
      if (spec !== job.spec) for (const note of await checkRuntimeFields(spec)) job.note(note);
      job.disarm();
      job.start(spec);
    }
  }

  /** Restart with re-read specs (`--update-env`, a config file target); apps without one keep theirs. */
  async restartWith(target: string, specs: readonly AppSpec[] | null): Promise<string[]> {
    const jobs = this.resolveJobs(target);
    await this.rescheduleJobs(jobs, specs);
    if (target !== 'all' && jobs.length > 0) return jobs.map((j) => j.name);
    const apps = this.resolve(target);
    const next = apps.map((a) => ({ app: a, spec: keepScaledCount(a, specs?.find((s) => s.name === a.name) ?? a.spec) }));
    for (const { app, spec } of next) if (spec !== app.spec) for (const note of await checkRuntimeFields(spec)) app.note(note);
    await Promise.all(next.map(({ app, spec }) => app.restart(spec)));
    return [...apps, ...jobs].map((a) => a.name);
  }

  /** `herd start <name|all>`: start listed apps that are stopped; running ones are skipped. */
  async startListed(target: string): Promise<{ started: string[]; skipped: string[] }> {
    const jobs = this.resolveJobs(target);
    const apps = target !== 'all' && jobs.length > 0 ? [] : this.resolve(target);
    return this.start([...apps, ...jobs].map((a) => a.spec));
  }

  /** PM2's `reset`: zero the restart counters. */
  reset(target: string): string[] {
    const jobs = this.resolveJobs(target);
    if (target !== 'all' && jobs.length > 0) return jobs.map((j) => j.name);
    const apps = this.resolve(target);
    for (const app of apps) app.resetRestarts();
    return apps.map((a) => a.name);
  }

  /**
   * Send `signal` to every current worker of an app (or to worker `worker`),
   * for apps that act on signals (reopen files, dump state). Replacements
   * still starting and old workers draining are left alone.
   */
  signal(name: string, signal: NodeJS.Signals, worker: number | null): { name: string; signal: string; pids: number[] } {
    const job = this.jobs.get(name);
    if (job) {
      const pids = job.processes().filter((p) => p.pid !== null && p.sendSignal(signal)).map((p) => p.pid as number);
      if (pids.length === 0) throw new HerdError('HERD_ERR_NOT_RUNNING', { name, action: `send ${signal} to` });
      return { name, signal, pids };
    }
    const app = this.get(name);
    if (worker !== null && !app.slots.some((s) => s.id === worker)) throw new HerdError('HERD_ERR_WORKER_NOT_FOUND', { name, worker });
    const pids: number[] = [];
    for (const slot of app.slots) {
      const proc = slot.proc;
      if ((worker !== null && slot.id !== worker) || !proc || proc.exited || proc.pid === null) continue;
      if (proc.sendSignal(signal)) pids.push(proc.pid);
    }
    if (pids.length === 0) throw new HerdError('HERD_ERR_NOT_RUNNING', { name: worker === null ? name : `${name}[${worker}]`, action: `send ${signal} to` });
    return { name, signal, pids };
  }

  /** `herd profile`: CPU profiles of the app's workers (one, the first online, or all), taken at once. */
  async profile(name: string, worker: number | 'all' | null, durationMs: number, progress: Progress = () => {}): Promise<TakenProfile[]> {
    if (this.jobs.has(name)) throw new HerdError('HERD_ERR_NOT_RUNNING', { name, action: 'profile (a job runs to completion; profile the script itself)' });
    const targets = profileTargets(name, this.get(name).slots, worker);
    progress(`profiling ${name} worker${targets.length === 1 ? '' : 's'} ${targets.map((t) => t.slot).join(', ')} for ${formatSeconds(durationMs)}`);
    return profileAll(targets, durationMs);
  }

  /** The profiles profileOnStall kept for an app, oldest first. */
  stallProfiles(name: string): Promise<StallProfileView[]> {
    this.get(name);
    return this.profiles.list(name);
  }

  /** One of them, as JSON text; null when `file` is not one of the app's. */
  readStallProfile(name: string, file: string): Promise<string | null> {
    this.get(name);
    return this.profiles.read(name, file);
  }

  /** Rolling reload, app after app. `specs` are re-read config for apps that came from a file. */
  async reload(target: string, specs: readonly AppSpec[] | null, progress: Progress): Promise<string[]> {
    const jobs = this.resolveJobs(target);
    await this.rescheduleJobs(jobs, specs);
    for (const job of jobs) progress(`${job.name}: job rescheduled (${job.spec.job?.schedule ?? ''})`);
    if (target !== 'all' && jobs.length > 0) return jobs.map((j) => j.name);
    const apps = this.resolve(target);
    for (const app of apps) {
      const spec = keepScaledCount(app, specs?.find((s) => s.name === app.name) ?? app.spec);
      if (spec !== app.spec) for (const note of await checkRuntimeFields(spec)) app.note(note);
      progress(`${app.name}: reloading ${app.slots.length} worker(s)`);
      await app.reload(spec, progress);
      progress(`${app.name}: reloaded`);
    }
    return [...apps, ...jobs].map((a) => a.name);
  }

  async delete(target: string): Promise<string[]> {
    const jobs = this.resolveJobs(target);
    await Promise.all(jobs.map((j) => j.stop('deleted')));
    for (const job of jobs) {
      this.jobs.delete(job.name);
      this.awaiting.delete(job.name);
      await this.hosts.get(job.name)?.close();
      this.hosts.delete(job.name);
      this.jobRecords.delete(job.name);
      this.logs.closeApp(job.name);
    }
    if (target !== 'all' && jobs.length > 0) {
      this.appsChanged();
      return jobs.map((j) => j.name);
    }
    const apps = this.resolve(target);
    await Promise.all(apps.map((a) => a.stop()));
    for (const app of apps) {
      this.apps.delete(app.name);
      this.awaiting.delete(app.name);
      this.hosts.delete(app.name);
      this.triggers.get(app.name)?.close();
      this.triggers.delete(app.name);
      this.autoscaling.forget(app.name);
      await app.closeHost();
      this.logs.closeApp(app.name);
    }
    // A deleted queue app's queue (and its connection, when no other app shares it) closes now.
    this.readJobQueues();
    this.appsChanged();
    return [...apps, ...jobs].map((a) => a.name);
  }

  /** `herd scale <app> N|+N|-N` (a fixed count), or `auto` for an app with `instances: { min, max }`. */
  async scale(name: string, count: string, progress: Progress): Promise<{ name: string; from: number; to: number; mode?: 'auto' | 'fixed' }> {
    if (this.jobs.has(name)) throw new HerdError('HERD_ERR_USAGE', { message: `scale: "${name}" is a job (cron): one process runs at each tick` });
    const app = this.get(name);
    const auto = count.trim() === 'auto';
    const scaling = app.spec.scaling;
    if (auto && !scaling) {
      throw new HerdError('HERD_ERR_USAGE', { message: `scale: "${name}" has no instances: { min, max } to scale automatically between; set them in its config (docs/autoscaling.md), or give a count` });
    }
    const current = app.slots.length || app.spec.instances;
    const to = auto && scaling ? Math.min(scaling.max, Math.max(scaling.min, current)) : parseScale(count, current);
    const problem = app.stopped ? null : capacityProblem(to - app.slots.length);
    if (problem) throw new HerdError('HERD_ERR_CAPACITY', { name, reason: problem });
    const { from } = await app.scale(to, progress, scaling ? { scalingFixed: !auto } : undefined);
    if (scaling) this.autoscaling.switched(app, from, auto ? null : to, Date.now());
    return scaling ? { name, from, to, mode: auto ? 'auto' : 'fixed' } : { name, from, to };
  }

  async list(): Promise<AppInfo[]> {
    await this.stats.sampleNew(this.livePids());
    const usage = (pid: number) => this.stats.get(pid);
    return [...[...this.apps.values()].map((a) => a.info()), ...[...this.jobs.values()].map((j) => j.info(usage))];
  }

  async describe(name: string): Promise<AppDetail> {
    const job = this.jobs.get(name);
    if (job) {
      await this.stats.sampleNew(this.livePids());
      return { ...job.detail(this.logs.dropped(name), (pid) => this.stats.get(pid)), runAs: runAsView(job.spec), shim: this.hosts.get(name)?.info?.() ?? null };
    }
    const app = this.get(name);
    const [stallProfiles] = await Promise.all([this.profiles.list(name), this.stats.sampleNew(this.livePids()), app.refreshListening()]);
    const triggers = this.triggers.get(name);
    return {
      ...app.detail(),
      stallProfiles,
      autoscale: this.autoscaling.view(app),
      runAs: runAsView(app.spec),
      shim: this.hosts.get(name)?.info?.() ?? null,
      ...(triggers ? triggers.detail() : { cron: null, watch: null, logFiles: { ...app.spec.logFiles } }),
    };
  }

  /** herd's own state and log files never reload a watched app. */
  private ignoredByWatch(): string[] {
    return [resolveHome(), ...(this.logs.dir !== null ? [this.logs.dir] : [])];
  }

  /**
   * Who listens where `wanted` would, naming this daemon's own apps: a
   * cluster app's socket is held by the daemon itself, a fork app's by a
   * process in one of its workers' trees.
   */
  async portHolders(wanted: { address: string | null; port: number }): Promise<PortHolders | null> {
    // Keyed by holder pid and inode: each app's host holds its sockets.
    const ownSockets = new Map<string, string>();
    for (const app of this.apps.values()) {
      const held = await app.hostSockets().catch(() => ({ pid: 0, inodes: [] }));
      for (const inode of held.inodes) ownSockets.set(`${held.pid}:${inode}`, app.name);
    }
    const workers = new Map<number, string>();
    for (const app of [...this.apps.values(), ...this.jobs.values()]) for (const p of app.processes()) if (p.pid !== null) workers.set(p.pid, app.name);
    return findPortHolders(wanted, (pid, inode, table) => {
      const own = ownSockets.get(`${pid}:${inode}`);
      if (own) return { label: `herd app ${own}`, app: own };
      if (pid === process.pid) return { label: `this herd supervisor (pid ${pid})`, app: null };
      const app = workerApp(pid, table, workers);
      return app ? { label: `herd app ${app} (pid ${pid})`, app } : null;
    });
  }

  private livePids(): number[] {
    return [...this.apps.values(), ...this.jobs.values()].flatMap((a) => a.processes()).map((p) => p.pid).filter((p): p is number => p !== null);
  }

  metrics(name: string, worker: number | null): AppMetricsView {
    if (this.jobs.has(name)) throw new HerdError('HERD_ERR_USAGE', { message: `metrics: "${name}" is a job (cron); its runs are in \`herd jobs\`` });
    return metricsView(this.get(name), worker);
  }

  /** An app's series over a window: 1 s points up to 15 minutes, 1 min points beyond; only points after `since`. */
  series(name: string, windowSeconds: number, since: number | null): SeriesView {
    const metrics = this.get(name).metrics;
    return windowSeconds <= SECOND_POINTS
      ? metrics.seriesView('seconds', windowSeconds, since)
      : metrics.seriesView('minutes', Math.ceil(windowSeconds / 60), since);
  }

  /** Requests, 5xx and p99 latency of an app over its last `seconds` closed seconds. */
  recent(name: string, seconds: number): { requests: number; errors: number; seconds: number; p99: number | null } {
    const r = this.get(name).metrics.recent(seconds);
    return { requests: r.requests, errors: r.errors, seconds: r.seconds, p99: r.latency.count === 0 ? null : r.latency.percentile(0.99) };
  }

  /** Every app as this host publishes it to its fleet. */
  fleetApps(): LocalApp[] {
    return [...this.apps.values()].map((a) => fleetApp(a));
  }

  monit(): MonitApp[] {
    return [...this.apps.values()].map((a) => ({ ...monitView(a), autoscale: this.autoscaling.view(a) }));
  }

  /** Prometheus text for every app, from what the daemon holds (never asks a worker). */
  prometheus(): string {
    return renderPrometheus([...this.apps.values()].map((a) => promApp(a)));
  }

  /** Stop every app (graceful), e.g. before the daemon exits. */
  async shutdown(): Promise<string[]> {
    clearInterval(this.sampler);
    this.monitor.close();
    for (const t of this.triggers.values()) t.close();
    this.triggers.clear();
    // A run going on finishes under its shim; the next daemon adopts it and records how it ended.
    for (const j of this.jobs.values()) j.disarm();
    const names = this.names();
    await Promise.all([...this.apps.values()].map((a) => a.stop()));
    await this.queueReader?.close();
    return names;
  }

  /** The specs of `target` (an app or `all`) as they run now. */
  specsOf(target: string): AppSpec[] {
    // A job by its name is not an App: its spec, and nothing for an app of neither kind (the operation itself says so).
    const jobs = this.resolveJobs(target);
    if (target !== 'all' && jobs.length > 0) return jobs.map((j) => j.spec);
    if (target !== 'all' && !this.apps.has(target)) return [];
    return [...this.resolve(target).map((a) => a.spec), ...(target === 'all' ? jobs.map((j) => j.spec) : [])];
  }

  /** The app `name` for an operation on one of its workers (`herd heap`); a job is a usage error. */
  appForWorker(name: string, what: string): App {
    if (this.jobs.has(name)) throw new HerdError('HERD_ERR_USAGE', { message: `${what}: "${name}" is a job (cron); it has no long-running worker` });
    return this.get(name);
  }

  private get(name: string): App {
    const app = this.apps.get(name);
    if (!app) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
    return app;
  }

  private resolve(target: string): App[] {
    if (target === 'all') return [...this.apps.values()];
    return [this.get(target)];
  }

  /** The jobs `target` names: every one for 'all', else the one of that name, if it is a job. */
  private resolveJobs(target: string): Job[] {
    if (target === 'all') return [...this.jobs.values()];
    const job = this.jobs.get(target);
    return job ? [job] : [];
  }

  /** Stop (or resume) acting on the workers while they are handed to another daemon. */
  pause(on: boolean): void {
    this.paused = on;
  }

  /** No app is in the middle of an operation (reload, restart, stop, scale). */
  idle(): boolean {
    return [...this.apps.values(), ...this.jobs.values()].every((a) => a.busy === null);
  }

  /** Workers alive now, over every app (and job runs). */
  workerCount(): number {
    return [...this.apps.values(), ...this.jobs.values()].reduce((n, a) => n + a.processes().length, 0);
  }

  private async sample(): Promise<void> {
    if (this.sampling || this.paused) return;
    this.sampling = true;
    try {
      await this.stats.sample(this.livePids());
      await sampleQueues([...this.apps.values()]);
      this.readJobQueues();
      const now = Date.now();
      for (const app of this.apps.values()) {
        this.enforceMemoryLimit(app);
        tickMetrics(app, now);
      }
      this.alerts.tick([...this.apps.values()].map((a) => ({ name: a.name, stopped: a.stopped, alertValue: (m, w) => alertValue(a, m, w) })), now);
      this.autoscaling.tick(this.apps.values(), now);
    } finally {
      this.sampling = false;
    }
  }

  /** Start this second's read of the queue apps' queues; it lands in their metrics when Redis answers. */
  private readJobQueues(): void {
    if (this.queueReader === null && ![...this.apps.values()].some((a) => a.spec.queue)) return;
    // The reader turns Redis's failures into the apps' views; anything else is a herd bug, said, never fatal.
    const failed = (err: unknown) => console.error(`${new Date().toISOString()} herd: reading the queue apps' queues failed: ${err instanceof Error ? err.message : String(err)}`);
    try {
      this.queueReader ??= new QueueReader();
      this.queueReader.tick(this.apps.values()).catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private enforceMemoryLimit(app: App): void {
    const limit = app.spec.maxMemory;
    if (limit === null) return;
    for (const slot of app.slots) {
      const pid = slot.proc?.pid;
      const usage = pid ? this.stats.get(pid) : undefined;
      // A heap snapshot grows its worker for a while: not a reason to replace it.
      if (slot.proc && heldRecently(slot.proc, Date.now(), MEMORY_GRACE_AFTER_HOLD_MS)) continue;
      if (usage && slot.status === 'online' && usage.memory > limit) {
        app.replaceSlot(slot, `memory ${Math.round(usage.memory / 1048576)}MB over limit ${Math.round(limit / 1048576)}MB`);
      }
    }
  }
}

/** How long after a heap snapshot its worker's memory is not held against maxMemory. */
const MEMORY_GRACE_AFTER_HOLD_MS = 10_000;

/**
 * A lifecycle transition the table forbids is a bug in herd, not in the app:
 * the daemon says so in its log and keeps supervising.
 */
function reportIllegal(app: string): IllegalTransition {
  return (slot, from, to, reason) => {
    console.error(`${new Date().toISOString()} herd: app ${app} worker ${slot}: illegal worker transition ${from} -> ${to} (${reason})`);
  };
}

/** The app whose worker is `pid` or one of its ancestors, or leads its process group. */
function workerApp(pid: number, table: readonly ProcessEntry[], workers: ReadonlyMap<number, string>): string | null {
  const byPid = new Map(table.map((e) => [e.pid, e]));
  let entry = byPid.get(pid);
  for (let depth = 0; entry && depth < 64; depth++) {
    const app = workers.get(entry.pid) ?? workers.get(entry.pgrp);
    if (app) return app;
    entry = byPid.get(entry.ppid);
  }
  return workers.get(pid) ?? null;
}

/**
 * The fields the daemon acts on by itself, checked before an app starts or
 * is reloaded into a new spec: the cron schedule, the PM2 log paths, the
 * user its workers run as. Returns notes for the app's events.
 */
async function checkRuntimeFields(spec: AppSpec): Promise<string[]> {
  if (spec.cronRestart) checkCronSchedule(spec.name, spec.cronRestart);
  if (spec.job) checkJob(spec.name, spec.job);
  const runAs = await prepareRunAs(spec, workerFiles(spec));
  const notes = await prepareLogFiles(spec);
  if (runAs !== null) notes.push(`workers run as ${runAs.user} (uid ${runAs.uid}), group ${runAs.group} (gid ${runAs.gid}), with the user's supplementary groups`);
  else if (runsAsRootUnasked(spec)) notes.push('workers run as root: herd runs as root and the app sets no user');
  return notes;
}

/**
 * A re-read config of an app the autoscaler sizes keeps the count it has
 * now (within the file's min and max) instead of dropping to `min`; a
 * re-read config is automatic again, as the file says.
 */
function keepScaledCount(app: App, spec: AppSpec): AppSpec {
  if (spec === app.spec || !spec.scaling || app.stopped || app.slots.length === 0) return spec;
  return { ...spec, instances: Math.min(spec.scaling.max, Math.max(spec.scaling.min, app.slots.length)) };
}

/** '4' sets, '+2' / '-1' adjust. */
export function parseScale(value: string, current: number): number {
  const m = /^([+-]?)(\d+)$/.exec(value.trim());
  if (!m) throw new HerdError('HERD_ERR_USAGE', { message: `scale: expected N, +N or -N; got "${value}"` });
  const n = Number(m[2]);
  const to = m[1] === '+' ? current + n : m[1] === '-' ? current - n : n;
  if (to < 0) throw new HerdError('HERD_ERR_USAGE', { message: `scale: cannot go below 0 workers (${current} ${value})` });
  if (to > MAX_INSTANCES) throw new HerdError('HERD_ERR_USAGE', { message: `scale: ${to} workers is more than the limit of ${MAX_INSTANCES} per app` });
  return to;
}
