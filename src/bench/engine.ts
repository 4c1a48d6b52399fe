import type { AppMetricsView, WorkerMetricsView } from '../metrics/view';
import { round } from './recorder';

/**
 * The engine's health during a bench, read from what the daemon already
 * collects: once a second the app's `metrics` view (the same one `herd
 * metrics --json` prints), each worker's CPU and RSS (sampled by the daemon
 * from /proc), heap, event-loop delay p99 and utilisation over the worker's
 * last 1 s report, and its GC since it started, turned into per-second
 * deltas here. Workers are followed by id: a restarted worker keeps its id
 * and gets a new pid.
 */
export interface WorkerSecond {
  /** Seconds since the start of the run. */
  t: number;
  pid: number | null;
  status: string;
  /** % of one core. */
  cpu: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  loopDelayP99: number;
  /** Event-loop utilisation 0..1. */
  elu: number;
  /** GC pause (ms) and collections in the second. */
  gcPauseMs: number;
  gcCount: number;
  /** The worker's restart counter at that second. */
  restarts: number;
}

export interface WorkerBench {
  id: number;
  /** Every pid the worker had during the run (more than one after a restart). */
  pids: number[];
  /** Restarts during the run. */
  restarts: number;
  cpu: { mean: number; max: number };
  elu: { mean: number; max: number };
  loopDelayP99Max: number;
  heapUsedMax: number;
  rssMax: number;
  gcPauseMs: number;
  gcCount: number;
  seconds: WorkerSecond[];
}

export type ReadMetrics = () => Promise<AppMetricsView>;

export class EngineRecorder {
  private readonly workers = new Map<number, { pids: number[]; firstRestarts: number; seconds: WorkerSecond[]; gc: { pid: number | null; pauseMs: number; count: number } }>();
  private firstAppRestarts: number | null = null;
  private lastAppRestarts = 0;
  /** False when the app runs with `metrics: false`: no heap, loop or GC figures, only CPU and memory. */
  metricsOn = true;

  /** A view read at `t` seconds since the start (the first one, at 0, is the baseline for GC and restarts). */
  add(t: number, view: AppMetricsView): void {
    this.metricsOn = view.metrics;
    this.firstAppRestarts ??= view.restarts;
    this.lastAppRestarts = view.restarts;
    const seen = new Set<number>();
    for (const w of view.workers) {
      // During a reload a slot shows its replacement beside it: the first listed is the one serving.
      if (seen.has(w.id)) continue;
      seen.add(w.id);
      this.addWorker(t, w);
    }
  }

  private addWorker(t: number, w: WorkerMetricsView): void {
    let entry = this.workers.get(w.id);
    if (!entry) {
      entry = { pids: [], firstRestarts: w.restarts, seconds: [], gc: { pid: w.pid, pauseMs: w.gc.pauseMs, count: w.gc.count } };
      this.workers.set(w.id, entry);
    }
    if (w.pid !== null && !entry.pids.includes(w.pid)) entry.pids.push(w.pid);
    // GC figures are since the worker started: a new pid starts from 0.
    const samePid = entry.gc.pid === w.pid;
    const gcPauseMs = Math.max(0, w.gc.pauseMs - (samePid ? entry.gc.pauseMs : 0));
    const gcCount = Math.max(0, w.gc.count - (samePid ? entry.gc.count : 0));
    entry.gc = { pid: w.pid, pauseMs: w.gc.pauseMs, count: w.gc.count };
    if (t === 0) return;
    entry.seconds.push({
      t,
      pid: w.pid,
      status: w.status,
      cpu: w.cpu,
      rss: w.memory.rss,
      heapUsed: w.memory.heapUsed,
      heapTotal: w.memory.heapTotal,
      loopDelayP99: round(w.eventLoop.delay.p99),
      elu: round(w.eventLoop.utilization, 3),
      gcPauseMs: round(gcPauseMs),
      gcCount,
      restarts: w.restarts,
    });
  }

  /** Restarts of the app's workers during the run. */
  restarts(): number {
    return this.firstAppRestarts === null ? 0 : Math.max(0, this.lastAppRestarts - this.firstAppRestarts);
  }

  workersSummary(): WorkerBench[] {
    return [...this.workers.entries()].sort(([a], [b]) => a - b).map(([id, e]) => {
      const s = e.seconds;
      const last = s[s.length - 1];
      return {
        id,
        pids: e.pids,
        restarts: last ? Math.max(0, last.restarts - e.firstRestarts) : 0,
        cpu: { mean: round(mean(s.map((x) => x.cpu)), 1), max: round(max(s.map((x) => x.cpu)), 1) },
        elu: { mean: round(mean(s.map((x) => x.elu)), 3), max: round(max(s.map((x) => x.elu)), 3) },
        loopDelayP99Max: round(max(s.map((x) => x.loopDelayP99))),
        heapUsedMax: max(s.map((x) => x.heapUsed)),
        rssMax: max(s.map((x) => x.rss)),
        gcPauseMs: round(s.reduce((n, x) => n + x.gcPauseMs, 0)),
        gcCount: s.reduce((n, x) => n + x.gcCount, 0),
        seconds: s,
      };
    });
  }
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function max(xs: readonly number[]): number {
  return xs.reduce((a, b) => Math.max(a, b), 0);
}

/**
 * Poll `read` once a second until stopped; a failed read (the daemon busy
 * or restarting) skips that second instead of ending the run.
 */
export function sampleEngine(read: ReadMetrics, startMs: number, now: () => number, recorder: EngineRecorder, onError: (err: unknown) => void): { stop: (lastSecond: number) => Promise<void> } {
  let stopped = false;
  let pending: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let tick = 1;
  const schedule = () => {
    timer = setTimeout(() => {
      timer = null;
      const t = tick++;
      pending = read().then((view) => recorder.add(t, view), onError).finally(() => {
        if (!stopped) schedule();
      });
    }, Math.max(0, startMs + tick * 1000 - now()));
  };
  schedule();
  return {
    /** Stop; the run's last second is read now if its timer had not fired yet (the load ended just before it). */
    stop: async (lastSecond: number) => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await pending;
      if (tick <= lastSecond) await read().then((view) => recorder.add(lastSecond, view), onError);
    },
  };
}
