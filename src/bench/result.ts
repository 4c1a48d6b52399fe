import type { WorkerBench } from './engine';
import type { ExpectSummary, ThresholdResult } from './expect';
import { round, type BenchRecorder, type GeneratorSecond } from './recorder';

/** What `herd bench --json` prints, and what the HTML report draws. Times in ms, memory in bytes, CPU in % of one core. */
export interface BenchResult {
  app: string;
  url: string;
  method: 'GET';
  /** closed: each connection sends when answered (autocannon); open: `rate` requests/s on a schedule (node:http). */
  mode: 'closed' | 'open';
  connections: number;
  /** The run's window: -d, or less when it was stopped early (Ctrl-C). */
  durationMs: number;
  /** Stopped by Ctrl-C before -d was over. */
  interrupted: boolean;
  rate: number | null;
  /** Latencies are measured from the intended send time (open loop only). */
  coordinatedOmissionCorrected: boolean;
  startedAt: string;
  /** False when the load generator itself was the bottleneck: the figures then measure the client. */
  valid: boolean;
  invalidReason: string | null;
  /**
   * This process: its CPU over the run, and (open loop) how late it sent its
   * requests by its own schedule: p99 and max in ms, null for a closed loop.
   */
  generator: { cpuPercent: number; sendLagP99Ms: number | null; sendLagMaxMs: number | null };
  requests: number;
  errors: number;
  errorRate: number;
  rps: number;
  latency: ExpectSummary['latency'];
  status: Record<string, number>;
  errorKinds: Record<string, number>;
  restarts: number;
  /** False when the app runs with `metrics: false`: workers then have CPU and memory only. */
  engineMetrics: boolean;
  /** Seconds whose engine figures could not be read from the daemon (busy, restarting). */
  engineMissedSeconds: number;
  seconds: GeneratorSecond[];
  workers: WorkerBench[];
  thresholds: ThresholdResult[];
  /** True when every threshold passed (also with none). */
  passed: boolean;
  report: string | null;
}

/** Above this share of one core the generator was the bottleneck. */
export const GENERATOR_SATURATED_PERCENT = 90;

/** The run's totals from the generator's record: the arithmetic every view shares. */
export function totalsOf(rec: BenchRecorder, durationMs: number): Pick<BenchResult, 'requests' | 'errors' | 'errorRate' | 'rps' | 'latency' | 'status' | 'errorKinds'> {
  const [p50, p90, p99, p999] = rec.total.percentiles([0.5, 0.9, 0.99, 0.999]);
  const seconds = durationMs / 1000;
  return {
    requests: rec.requests,
    errors: rec.errors,
    errorRate: rec.requests > 0 ? rec.errors / rec.requests : 0,
    rps: round(seconds > 0 ? rec.requests / seconds : 0, 1),
    latency: {
      p50: round(p50 ?? 0),
      p90: round(p90 ?? 0),
      p99: round(p99 ?? 0),
      p999: round(p999 ?? 0),
      max: round(rec.total.max),
      mean: round(rec.total.count > 0 ? rec.total.sum / rec.total.count : 0),
    },
    status: Object.fromEntries([...rec.status.entries()].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v])),
    errorKinds: Object.fromEntries([...rec.errorKinds.entries()].sort(([, a], [, b]) => b - a)),
  };
}

/** CPU time over wall time, in % of one core. */
export function cpuPercent(cpuMicros: number, wallMs: number): number {
  return wallMs > 0 ? round((cpuMicros / 1000 / wallMs) * 100, 1) : 0;
}

/** Above this p99 of its own send delay the open-loop generator's lateness is a visible part of the latencies. */
export const GENERATOR_LAG_P99_MS = 10;

/** Why the run does not measure the app, or null when it does. */
export function invalidReason(generatorCpu: number, sendLagP99: number | null, requests: number): string | null {
  if (generatorCpu > GENERATOR_SATURATED_PERCENT) {
    return `the load generator used ${generatorCpu.toFixed(0)}% of a core (more than ${GENERATOR_SATURATED_PERCENT}%): it was the bottleneck, so these figures measure the client, not the app; ` +
      'use fewer connections or a --rate below this throughput, or run the generator on another machine';
  }
  if (sendLagP99 !== null && sendLagP99 > GENERATOR_LAG_P99_MS) {
    return `the load generator sent 1% of its requests more than ${sendLagP99.toFixed(0)} ms after their scheduled time (its own event loop was busy or the machine is overloaded): ` +
      'those delays are counted in the latencies; use a lower --rate or a quieter machine';
  }
  if (requests === 0) return 'no request completed';
  return null;
}

/** What thresholds read: the totals plus the worst second any worker had. */
export function expectSummary(r: Pick<BenchResult, 'requests' | 'errors' | 'errorRate' | 'rps' | 'latency' | 'restarts' | 'workers'>): ExpectSummary {
  const peak = { cpu: 0, elu: 0, loopP99: 0 };
  for (const w of r.workers) {
    peak.cpu = Math.max(peak.cpu, w.cpu.max);
    peak.elu = Math.max(peak.elu, w.elu.max);
    peak.loopP99 = Math.max(peak.loopP99, w.loopDelayP99Max);
  }
  return { requests: r.requests, errors: r.errors, errorRate: r.errorRate, rps: r.rps, latency: r.latency, restarts: r.restarts, peak };
}
