import { performance } from 'node:perf_hooks';
import type { AppMetricsView } from '../metrics/view';
import { loadAutocannon, runClosedLoop } from './closedLoop';
import { EngineRecorder, sampleEngine } from './engine';
import { evaluate } from './expect';
import { runOpenLoop } from './openLoop';
import type { BenchOptions } from './options';
import { BenchRecorder, round, type GeneratorSecond } from './recorder';
import { cpuPercent, expectSummary, invalidReason, totalsOf, type BenchResult } from './result';

export interface BenchTarget {
  host: string;
  port: number;
}

/** Loopback addresses are kept as they are; an app listening on every address is reached on 127.0.0.1. */
export function targetOf(listening: readonly string[], port: number | null): BenchTarget | { error: string } {
  const found: BenchTarget[] = [];
  for (const address of listening) {
    const m = /^(\[[^\]]*\]|[^/\\:]*):(\d{1,5})$/.exec(address);
    if (!m) continue;
    const host = (m[1] as string).replace(/^\[|\]$/g, '');
    const p = Number(m[2]);
    if (!(p > 0 && p < 65536)) continue;
    const reach = host === '::1' || /^127\./.test(host) || host === 'localhost' ? host : '127.0.0.1';
    if (!found.some((t) => t.port === p)) found.push({ host: reach, port: p });
  }
  if (found.length === 0) return { error: listening.length === 0 ? 'it is listening on nothing now (is it online?)' : `it listens on ${listening.join(', ')}, no TCP port` };
  if (port === null) return found.sort((a, b) => a.port - b.port)[0] as BenchTarget;
  const chosen = found.find((t) => t.port === port);
  return chosen ?? { error: `it does not listen on port ${port} (it listens on ${found.map((t) => t.port).join(', ')})` };
}

export function urlOf(t: BenchTarget, path: string): string {
  return `http://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}${path}`;
}

/**
 * One run: the load, the engine sampler and this process's CPU side by side,
 * then the totals, the validity check and the thresholds. `readMetrics` is
 * the daemon's `metrics` view of the app.
 */
export async function runBench(opts: BenchOptions, target: BenchTarget, readMetrics: () => Promise<AppMetricsView>, signal?: AbortSignal): Promise<BenchResult> {
  const url = urlOf(target, opts.path);
  const engine = new EngineRecorder();
  engine.add(0, await readMetrics());
  const autocannon = opts.rate === null ? loadAutocannon() : null;
  const startedAt = new Date();
  const start = performance.now();
  // A closed loop counts what completed in its window; an open loop every request it scheduled in it, however late the answer.
  const recorder = new BenchRecorder(start, opts.rate === null ? start + opts.durationMs : Infinity);
  const cpuStart = process.cpuUsage();
  const cpuSeconds: number[] = [];
  let lastCpu = cpuStart;
  let lastAt = start;
  const cpuTimer = setInterval(() => {
    const now = performance.now();
    const used = process.cpuUsage(lastCpu);
    cpuSeconds.push(cpuPercent(used.user + used.system, now - lastAt));
    lastCpu = process.cpuUsage();
    lastAt = now;
  }, 1000);
  let missed = 0;
  const sampler = sampleEngine(readMetrics, start, () => performance.now(), engine, () => missed++);

  let lag: { p99: number; max: number } | null = null;
  // Stopped early (Ctrl-C): the run is what happened until then, its window that long.
  let stoppedAt: number | null = null;
  const onAbort = (stop: () => void) => {
    if (!signal) return;
    const abort = () => {
      stoppedAt = performance.now();
      recorder.cutAt(stoppedAt);
      stop();
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  };
  try {
    if (autocannon !== null) {
      const run = runClosedLoop(autocannon, url, opts.connections, opts.durationMs, recorder);
      onAbort(run.stop);
      await run.done;
    } else {
      const run = runOpenLoop({ host: target.host, port: target.port, path: opts.path }, opts.rate as number, opts.connections, opts.durationMs, recorder, start);
      onAbort(run.stop);
      const { sendLag } = await run.done;
      lag = { p99: round(sendLag.percentile(0.99)), max: round(sendLag.max) };
    }
  } finally {
    clearInterval(cpuTimer);
  }
  const windowMs = stoppedAt === null ? opts.durationMs : Math.max(1, Math.min(opts.durationMs, (stoppedAt as number) - start));
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpuStart);
  await sampler.stop(Math.ceil(windowMs / 1000));
  const generatorCpu = cpuPercent(used.user + used.system, wallMs);

  const totals = totalsOf(recorder, windowMs);
  const seconds: GeneratorSecond[] = recorder.perSecond(Math.ceil(windowMs / 1000))
    .map((s) => ({ ...s, generatorCpu: cpuSeconds[s.t] ?? cpuSeconds[cpuSeconds.length - 1] ?? 0 }));
  const workers = engine.workersSummary();
  const restarts = engine.restarts();
  const reason = invalidReason(generatorCpu, lag?.p99 ?? null, totals.requests);
  const partial = { ...totals, restarts, workers };
  const thresholds = evaluate(opts.thresholds, expectSummary(partial));
  return {
    app: opts.app,
    url,
    method: 'GET',
    mode: opts.rate === null ? 'closed' : 'open',
    connections: opts.connections,
    durationMs: Math.round(windowMs),
    interrupted: stoppedAt !== null,
    rate: opts.rate,
    coordinatedOmissionCorrected: opts.rate !== null,
    startedAt: startedAt.toISOString(),
    valid: reason === null,
    invalidReason: reason,
    generator: { cpuPercent: generatorCpu, sendLagP99Ms: lag?.p99 ?? null, sendLagMaxMs: lag?.max ?? null },
    ...totals,
    restarts,
    engineMetrics: engine.metricsOn,
    engineMissedSeconds: missed,
    seconds,
    workers,
    thresholds,
    passed: thresholds.every((t) => t.pass),
    report: null,
  };
}
