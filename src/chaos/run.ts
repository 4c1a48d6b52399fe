/**
 * One `herd chaos` run: probe traffic for the baseline, then a kill at each
 * gap the schedule draws, a poll of the daemon's app list every 50 ms to see
 * each kill recovered and any app go errored, and at the end a wait for the
 * last recoveries before the traffic stops.
 *
 * A killed daemon is brought back the way production brings it back: under
 * the unit `herd startup` writes, systemd does (Restart=always), and the run
 * only waits for it; otherwise the run's next request does what any herd
 * command does when apps still serve under the shims of a dead daemon: it
 * starts a new daemon, which adopts them.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { HerdClient } from '../client/client';
import type { AppInfo } from '../protocol/control';
import type { ChaosOptions } from './options';
import { Probe, type PhaseCounts } from './probe';
import type { ErroredApp, KillRecord, PhaseFigures, RunRecord } from './report';
import { ChaosSchedule } from './schedule';

const POLL_MS = 50;
/** After the last kill, how long the run waits for the kills still pending to recover. */
const SETTLE_MS = 30_000;

export interface ChaosHooks {
  kill?(kill: KillRecord): void;
  recovered?(kill: KillRecord): void;
  errored?(app: ErroredApp): void;
}

export interface ChaosTarget {
  /** What the probe requests; null without probe traffic. */
  url: string | null;
  /** The systemd unit the daemon runs under (`herd startup`), which restarts it; null: the run starts a new one. */
  daemonUnit: string | null;
}

/** Running and not a zombie (a killed process that nobody reaped yet is dead for us). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The control connection, re-opened after the daemon was killed. */
class DaemonLink {
  private connecting: Promise<HerdClient | null> | null = null;

  constructor(private client: HerdClient | null, private readonly underSystemd: boolean) {}

  get pid(): number | null {
    return this.client?.daemon.pid ?? null;
  }

  drop(): void {
    this.client?.close();
    this.client = null;
  }

  close(): void {
    this.drop();
  }

  /** The app list; null while no daemon answers. */
  async list(): Promise<AppInfo[] | null> {
    const client = this.client ?? (await this.reconnect());
    if (!client) return null;
    try {
      return await client.request({ type: 'list' });
    } catch {
      if (this.client === client) this.drop();
      return null;
    }
  }

  async reason(app: string): Promise<string> {
    try {
      return this.client ? (await this.client.request({ type: 'describe', name: app })).reason : 'unknown';
    } catch {
      return 'unknown';
    }
  }

  private reconnect(): Promise<HerdClient | null> {
    this.connecting ??= (async () => {
      try {
        // systemd restarts its daemon: one started here as well would race it for the socket.
        if (this.underSystemd && !(await HerdClient.isRunning())) return null;
        // With the apps' shims still live, connect() starts a new daemon that adopts them, as every herd command does.
        this.client = await HerdClient.connect();
        return this.client;
      } catch {
        return null;
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }
}

interface Pending {
  record: KillRecord;
  startedAt: number;
  /** For a daemon kill: the apps that were online before it, all of which must be again. */
  onlineBefore: string[];
}

function figures(p: PhaseCounts): PhaseFigures {
  const ms = (v: number) => v / 1000;
  const any = p.ok > 0;
  return {
    requests: p.ok + p.failed,
    ok: p.ok,
    failed: p.failed,
    errors: { ...p.errors },
    seconds: p.ms / 1000,
    p50: any ? ms(p.latency.percentile(50)) : null,
    p99: any ? ms(p.latency.percentile(99)) : null,
    max: any ? ms(p.latency.max) : null,
  };
}

const workerOnline = (w: AppInfo['workers'][number]): boolean => w.status === 'online' && w.pid !== null;

/**
 * Runs the chaos; `stop` (Ctrl-C) ends the kills early, `hurry` (a second
 * Ctrl-C) also skips the wait for the last recoveries. Whatever happens, no
 * worker this run stopped is left frozen.
 */
export async function runChaos(options: ChaosOptions, client: HerdClient, target: ChaosTarget, hooks: ChaosHooks, stop: AbortSignal, hurry: AbortSignal): Promise<RunRecord> {
  const link = new DaemonLink(client, target.daemonUnit !== null);
  const schedule = new ChaosSchedule(options.seed, options.everyMs);
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const since = () => performance.now() - t0;
  const kills: KillRecord[] = [];
  const failuresAtKill: number[] = [];
  const pending = new Set<Pending>();
  const frozen = new Set<number>();
  /** Every pid this run signalled: never a target twice. */
  const struck = new Set<number>();
  const errored: ErroredApp[] = [];
  const seenErrored = new Set<string>();
  let skipped = 0;
  let polling = true;
  const probe = target.url !== null ? new Probe(target.url, options.connections, options.timeoutMs) : null;

  const poll = async (): Promise<void> => {
    const apps = await link.list();
    if (apps === null) return;
    for (const app of apps) {
      if (app.status !== 'errored' || seenErrored.has(app.name)) continue;
      seenErrored.add(app.name);
      const e = { app: app.name, at: Math.round(since()), reason: await link.reason(app.name) };
      errored.push(e);
      hooks.errored?.(e);
    }
    const mine = apps.find((a) => a.name === options.app);
    for (const p of pending) {
      const k = p.record;
      let back: boolean;
      if (k.kind === 'daemon') {
        back = link.pid !== null && link.pid !== k.pid && p.onlineBefore.every((name) => {
          const a = apps.find((x) => x.name === name);
          return a !== undefined && a.status === 'online' && a.workers.every(workerOnline);
        });
      } else {
        const w = mine?.workers.find((x) => x.id === k.worker);
        // A slot gone (scaled down, or numbered anew by the daemon that took over) is back when the whole app is.
        back = w !== undefined ? workerOnline(w) && w.pid !== k.pid
          : mine !== undefined && mine.status === 'online' && mine.workers.every((x) => workerOnline(x) && x.pid !== k.pid);
      }
      if (!back) continue;
      k.recoveredMs = Math.round(performance.now() - p.startedAt);
      pending.delete(p);
      hooks.recovered?.(k);
    }
    for (const pid of frozen) if (!isRunning(pid)) frozen.delete(pid);
  };
  const poller = (async () => {
    while (polling) {
      await poll();
      await sleep(POLL_MS);
    }
  })();

  const strike = async (): Promise<void> => {
    const apps = await link.list();
    const app = apps?.find((a) => a.name === options.app);
    const daemonPid = link.pid;
    if (!apps || !app) {
      skipped++;
      return;
    }
    type Target = { kind: 'worker'; pid: number; worker: number } | { kind: 'daemon'; pid: number };
    const targets: Target[] = [];
    if (options.kill !== 'daemon') {
      for (const w of [...app.workers].sort((a, b) => a.id - b.id)) {
        // A pid killed a moment ago can still be listed online: the daemon has not seen its exit yet.
        if (workerOnline(w) && !frozen.has(w.pid as number) && !struck.has(w.pid as number)) targets.push({ kind: 'worker', pid: w.pid as number, worker: w.id });
      }
    }
    if (options.kill !== 'worker' && daemonPid !== null) targets.push({ kind: 'daemon', pid: daemonPid });
    const victim = schedule.pick(targets);
    if (victim === null) {
      skipped++;
      return;
    }
    const signal = victim.kind === 'daemon' ? 'SIGKILL' : options.signal;
    try {
      process.kill(victim.pid, signal);
    } catch {
      skipped++; // it exited on its own meanwhile
      return;
    }
    const startedAt = performance.now();
    probe?.startKills();
    const record: KillRecord = {
      at: Math.round(startedAt - t0), time: new Date().toISOString(), kind: victim.kind, signal, pid: victim.pid,
      worker: victim.kind === 'worker' ? victim.worker : null, recoveredMs: null, failed: null,
    };
    const last = kills.length - 1;
    if (probe && last >= 0) (kills[last] as KillRecord).failed = probe.failures - (failuresAtKill[last] as number);
    kills.push(record);
    failuresAtKill.push(probe?.failures ?? 0);
    if (signal === 'SIGSTOP') frozen.add(victim.pid);
    struck.add(victim.pid);
    pending.add({ record, startedAt, onlineBefore: apps.filter((a) => a.status === 'online').map((a) => a.name) });
    hooks.kill?.(record);
    if (victim.kind === 'daemon') {
      link.drop();
      // Reconnecting to a daemon not yet gone would only find its socket closing.
      const deadline = performance.now() + 5000;
      while (isRunning(victim.pid) && performance.now() < deadline) await sleep(10);
    }
  };

  try {
    await sleep(options.baselineMs, stop);
    const end = performance.now() + options.forMs;
    let next = performance.now();
    while (!stop.aborted && next < end) {
      await sleep(next - performance.now(), stop);
      if (stop.aborted) break;
      await strike();
      // A strike that ran late (a daemon kill waits for the exit) does not make the next ones fire in a burst.
      next = Math.max(next + schedule.nextGapMs(), performance.now());
    }
    const settleUntil = performance.now() + SETTLE_MS;
    while (pending.size > 0 && !hurry.aborted && performance.now() < settleUntil) await sleep(POLL_MS, hurry);
  } finally {
    polling = false;
    await poller;
    if (probe) await probe.stop();
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    link.close();
  }
  const last = kills.length - 1;
  if (probe && last >= 0) (kills[last] as KillRecord).failed = probe.failures - (failuresAtKill[last] as number);
  return {
    options,
    url: target.url,
    startedAt,
    durationMs: Math.round(since()),
    interrupted: stop.aborted,
    kills,
    skipped,
    before: probe && options.baselineMs > 0 ? figures(probe.phases.before) : null,
    during: probe ? figures(probe.phases.during) : null,
    errored,
  };
}
