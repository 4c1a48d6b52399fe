import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { HerdError, type ErrorData } from '../../errors';
import type { HostSnapshot } from '../../protocol/shim';
import type { LogLine } from '../../logs/format';
import type { HerdPaths } from '../../util/paths';
import { procStat, processAlive } from '../../util/procStat';
import { procUnits } from '../worker/procUnits';
import { newShimId, readRecord, removeRecord, socketPath, socketPathProblem, type ShimRecord } from '../../shim/runRecord';
import type { Worker, WorkerOptions } from '../worker/worker';
import type { HostedWorkerState } from '../../protocol/shim';
import { HostClient, type AppHostClient } from './hostClient';
import { SocketLink } from './socketLink';

const SHIM_MAIN = require.resolve('../../shim/main');
/** How often a shim's process is checked, besides its socket closing (a connection can be half dead). */
const POLL_MS = 1000;
/** How long a shim may take to start and say ready. */
const START_TIMEOUT_MS = 10_000;
/** How long taking over a running shim (hello and snapshot) may take. */
const ATTACH_TIMEOUT_MS = 5000;
/** How long a shim told to exit may take to be gone. */
const EXIT_TIMEOUT_MS = 5000;

/** The shim of an app as `herd describe` shows it. */
export interface ShimInfo {
  pid: number;
  version: string;
  /** Resident set size in bytes. */
  memory: number;
}

interface ShimEvents {
  line: (line: LogLine) => void;
  /** The daemon hands its shims to the one replacing it (`herd update`): a shim taken over is let go, not mourned. */
  handingOver: () => boolean;
  /** The shim died (or never started): the host starts a new one for the next worker. */
  died: (shim: ShimProcess) => void;
}

/**
 * One shim process of an app, from the daemon's side: spawned detached (its
 * own session; stdout and stderr to daemon.log, a file; readiness on fd 3),
 * connected, greeted, then driven through a HostClient. Its death is seen by
 * its socket closing and confirmed through /proc (gone, a zombie, or another
 * process under its pid), and by a poll every second; its workers are then
 * counted as exited (their exits replace them) and, being no one's children
 * now, are killed if they have not drained by their kill timeout.
 */
export class ShimProcess {
  readonly id: string;
  readonly client: HostClient;
  private readonly link: SocketLink;
  private record: ShimRecord | null = null;
  private child: ChildProcess | null = null;
  private poll: NodeJS.Timeout | null = null;
  private ending = false;
  private dead = false;
  /** Taken over by the daemon this one hands over to: its link is closed and nothing is done about it. */
  private handedOver = false;

  /**
   * Without `running`, a new shim is spawned; with it, the shim it names
   * (left by a daemon that died, or by the one that hands over in `herd
   * update`) is taken over by `attach()`.
   */
  constructor(private readonly app: string, private readonly paths: HerdPaths, following: boolean, private readonly events: ShimEvents, running?: ShimRecord) {
    this.id = running?.id ?? newShimId(paths.run);
    this.link = new SocketLink(app);
    this.client = new HostClient(this.link, { line: events.line, replaced: () => this.onReplaced() });
    // Sent first, before any spawn, once the connection is up.
    if (following) void this.client.follow(true).catch(() => undefined);
    if (running) this.record = running;
    else void this.start();
  }

  /**
   * Take over the running shim this was made for: connect with takeover (a
   * daemon still connected is told `replaced`) and read its snapshot. On
   * failure the shim is stopped (its workers drain) and this one is dead.
   */
  async attach(stopOnFailure = true): Promise<HostSnapshot> {
    try {
      if (!this.alive()) throw this.unreachable('it is not running');
      // A shim that accepts but never answers (stopped, wedged) must not hold the whole daemon's start.
      const snapshot = await withTimeout((async () => {
        await this.connect(true);
        return this.client.adoptionSnapshot();
      })(), ATTACH_TIMEOUT_MS, () => this.unreachable(`no snapshot within ${ATTACH_TIMEOUT_MS / 1000} s`));
      this.poll = setInterval(() => this.check(), POLL_MS);
      this.poll.unref();
      return snapshot;
    } catch (err) {
      const record = this.record as ShimRecord;
      if (stopOnFailure && this.alive()) {
        try {
          // Its workers drain and exit: the app starts afresh under a new shim.
          process.kill(record.pid, 'SIGTERM');
        } catch {
          // gone meanwhile
        }
      }
      this.die(`its shim (pid ${record.pid}) could not be taken over: ${err instanceof Error ? err.message : String(err)}`, err);
      throw err;
    }
  }

  get pid(): number | null {
    return this.record?.pid ?? this.child?.pid ?? null;
  }

  info(): ShimInfo | null {
    if (!this.record || this.dead) return null;
    const stat = procStat(this.record.pid);
    return { pid: this.record.pid, version: this.record.version, memory: (stat?.rssPages ?? 0) * procUnits().pageSize };
  }

  /** The app stopped: the shim closes what it holds and exits; resolves once it is gone. */
  async end(): Promise<void> {
    if (this.dead) return;
    this.ending = true;
    await this.client.close();
    await this.gone(EXIT_TIMEOUT_MS);
    this.stopPolling();
    this.dead = true;
  }

  private async start(): Promise<void> {
    try {
      const socket = socketPath(this.paths.run, this.id);
      const problem = socketPathProblem(socket);
      if (problem) throw new HerdError('HERD_ERR_SHIM_START', { name: this.app, reason: problem });
      await this.spawnShim();
      const record = readRecord(this.paths.run, this.id);
      if (!record) throw new HerdError('HERD_ERR_SHIM_START', { name: this.app, reason: `it said ready but wrote no ${this.id}.json in ${this.paths.run}` });
      this.record = record;
      await this.connect(false);
      this.poll = setInterval(() => this.check(), POLL_MS);
      this.poll.unref();
    } catch (err) {
      this.die(`its shim could not start: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  }

  /** Spawn the shim and wait for its one line on fd 3: "ready" or the reason it could not start. */
  private async spawnShim(): Promise<void> {
    const log = fs.openSync(this.paths.daemonLog, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [SHIM_MAIN, this.app, this.id], {
        // Its own session: no signal meant for the daemon's group reaches it, nor the workers under it.
        detached: true,
        stdio: ['ignore', log, log, 'pipe'],
        env: process.env,
      });
    } finally {
      fs.closeSync(log);
    }
    this.child = child;
    child.on('error', () => {});
    child.unref();
    const pipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void } | null;
    const line = await new Promise<string>((resolve) => {
      let text = '';
      if (!pipe) return resolve('error no readiness pipe');
      const timer = setTimeout(() => resolve(`no answer within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      pipe.setEncoding('utf8');
      pipe.on('data', (c: string) => {
        text += c;
      });
      const done = () => {
        clearTimeout(timer);
        resolve(text.trim());
      };
      pipe.on('end', done);
      pipe.on('error', done);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(text.trim() || `it exited with code ${code}`);
      });
    });
    pipe?.destroy();
    if (line === 'ready') return;
    if (line.startsWith('error {')) throw HerdError.fromData(JSON.parse(line.slice(6)) as ErrorData);
    throw new HerdError('HERD_ERR_SHIM_START', { name: this.app, reason: `${line || 'no answer'}; see ${this.paths.daemonLog}` });
  }

  private async connect(takeover: boolean): Promise<void> {
    const record = this.record as ShimRecord;
    await this.link.connect(record.socket, { token: record.token, takeover }, () => this.onClose());
  }

  private onReplaced(): void {
    if (this.events.handingOver()) this.handedOver = true;
    else this.die('another daemon took its shim over');
  }

  /** A hand-over failed: a shim the next daemon took already is taken back, and caught up from its snapshot. */
  async resume(): Promise<void> {
    if (!this.handedOver || this.dead) return;
    this.handedOver = false;
    await this.reconnect();
  }

  /** The connection ended: the shim exited as told, died, or closed a link that fell too far behind. */
  private onClose(): void {
    if (this.dead || this.handedOver) return;
    this.client.disconnected(this.unreachable('its connection closed'));
    if (this.ending) return;
    if (!this.alive()) return this.die(this.deathReason());
    // Alive: it closed a connection that fell behind. Connect again and catch up from a snapshot.
    void this.reconnect();
  }

  private reconnect(): Promise<void> {
    return this.connect(true)
      .then(() => this.client.snapshot())
      .then((snapshot) => this.client.resync(snapshot))
      .catch((err: unknown) => {
        if (!this.alive()) this.die(this.deathReason());
        else this.die(`its shim cannot be reached: ${err instanceof Error ? err.message : String(err)}`, err);
      });
  }

  private check(): void {
    if (!this.dead && !this.ending && !this.alive()) this.die(this.deathReason());
  }

  private alive(): boolean {
    return this.record !== null && processAlive(this.record.pid, this.record.startTime);
  }

  private deathReason(): string {
    const status = this.child?.exitCode ?? null;
    const signal = this.child?.signalCode ?? null;
    const how = signal ? `killed by ${signal}` : status !== null ? `exited with code ${status}` : 'died';
    return `its shim (pid ${this.pid ?? '?'}) ${how}`;
  }

  private unreachable(reason: string): HerdError {
    return new HerdError('HERD_ERR_SHIM_UNREACHABLE', { name: this.app, pid: this.pid ?? '?', reason });
  }

  /** The shim is gone or unusable: its workers count as exited, the host starts another shim for the next. */
  private die(reason: string, cause?: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.stopPolling();
    console.error(`${new Date().toISOString()} herd: app ${this.app}: ${reason}`);
    const orphans = this.client.workerPids().map((pid) => ({ pid, stat: procStat(pid) }));
    // First: a replacement asked for by the exits below goes to a new shim.
    this.events.died(this);
    this.link.close();
    const error = cause instanceof HerdError ? cause : this.unreachable(reason);
    this.client.lost(reason, error);
    if (this.record) removeRecord(this.paths.run, this.id);
    else if (this.child?.pid !== undefined) killGroup(this.child.pid);
    this.killOrphansLater(orphans);
  }

  /**
   * Workers of a dead shim drain and exit by themselves (the agent turns the
   * closed channel into a drain); one that does not (no agent, or stuck) is
   * killed with its process group at its kill timeout, if it is still the
   * same process.
   */
  private killOrphansLater(orphans: { pid: number; stat: ReturnType<typeof procStat> }[]): void {
    const live = orphans.filter((o) => o.stat !== null && o.stat.state !== 'Z' && o.stat.state !== 'X');
    if (live.length === 0) return;
    const timer = setTimeout(() => {
      for (const o of live) if (processAlive(o.pid, (o.stat as { startTime: string }).startTime)) killGroup(o.pid);
    }, ORPHAN_KILL_MS);
    timer.unref();
  }

  private stopPolling(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  /** Resolves once the shim's process is gone, or after `timeoutMs` (it is then killed). */
  private async gone(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.alive() && this.record) {
      console.error(`${new Date().toISOString()} herd: app ${this.app}: its shim (pid ${this.record.pid}) did not exit within ${timeoutMs} ms; killed`);
      killGroup(this.record.pid);
      removeRecord(this.paths.run, this.id);
    }
  }
}

/** An orphaned worker (its shim died) that has not drained by then is killed. */
const ORPHAN_KILL_MS = 10_000;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/**
 * An app's host in a shim process of its own, which outlives the daemon.
 * The shim is started for the app's first worker and ends when the app
 * stops (release); if it dies, its workers exit (as crashes: App replaces
 * them) and the next worker starts a new shim.
 */
export class ShimHost implements AppHostClient {
  private current: ShimProcess | null = null;
  private following = false;

  constructor(private readonly app: string, private readonly paths: HerdPaths, private readonly onLine: (line: LogLine) => void,
    private readonly handingOver: () => boolean = () => false) {}

  /** The shim now running, if any. */
  get shim(): ShimProcess | null {
    return this.current;
  }

  createWorker(options: WorkerOptions): Worker {
    return this.ensure().client.createWorker(options);
  }

  adoptWorker(options: WorkerOptions, state: HostedWorkerState): Worker {
    return this.ensure().client.adoptWorker(options, state);
  }

  acknowledgeExits(seq: number): void {
    this.current?.client.acknowledgeExits(seq);
  }

  /** Take over the app's running shim (`record`); resolves with its snapshot. `stopOnFailure`: one that cannot be taken over is told to stop. */
  attach(record: ShimRecord, stopOnFailure = true): Promise<HostSnapshot> {
    if (this.current) throw new HerdError('HERD_ERR_INTERNAL', { reason: `app ${this.app} has a shim already` });
    const shim = this.newShim(record);
    this.current = shim;
    return shim.attach(stopOnFailure);
  }

  /** A hand-over failed: the shim is taken back if the next daemon had it. */
  resume(): Promise<void> {
    return this.current?.resume() ?? Promise.resolve();
  }

  /** The adopted workers are placed: what the shim said meanwhile is delivered. */
  adopted(): void {
    this.current?.client.adopted();
  }

  readonly sockets: AppHostClient['sockets'] = ((host: ShimHost) => ({
    listening: () => host.current?.client.sockets.listening() ?? [],
    get size(): number {
      return host.current?.client.sockets.size ?? 0;
    },
    stickyStats: async () => (host.current ? host.current.client.sockets.stickyStats() : null),
    closeAll: async () => host.current?.client.sockets.closeAll(),
    closeUnlistened: async () => host.current?.client.sockets.closeUnlistened(),
    retainFork: async (keys) => host.current?.client.sockets.retainFork(keys),
    inodes: async () => (host.current ? host.current.client.sockets.inodes() : { pid: 0, inodes: [] }),
  }))(this);

  writeLog(line: LogLine): void {
    this.current?.client.writeLog(line);
  }

  /** Lines the shim dropped from the app's log. */
  get logsDropped(): number {
    return this.current?.client.logsDropped ?? 0;
  }

  info(): ShimInfo | null {
    return this.current?.info() ?? null;
  }

  async follow(on: boolean): Promise<void> {
    this.following = on;
    await this.current?.client.follow(on).catch(() => undefined);
  }

  /** Empty the app's log files; resolves with the apps whose files were removed. */
  async flushLogs(): Promise<string[]> {
    return (await this.current?.client.flushLogs().catch(() => [])) ?? [];
  }

  async release(): Promise<void> {
    const shim = this.current;
    this.current = null;
    await shim?.end();
  }

  close(): Promise<void> {
    return this.release();
  }

  private ensure(): ShimProcess {
    this.current ??= this.newShim();
    return this.current;
  }

  private newShim(running?: ShimRecord): ShimProcess {
    return new ShimProcess(this.app, this.paths, this.following, {
      line: this.onLine,
      handingOver: this.handingOver,
      died: (shim) => {
        if (this.current === shim) this.current = null;
      },
    }, running);
  }
}

/** `work`, or `timeout()` thrown once `ms` have passed first. */
function withTimeout<T>(work: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeout()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
