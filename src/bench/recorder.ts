import { Histogram } from '../metrics/histogram';

/**
 * What the load generator saw, kept per second of the run and in total.
 * Latencies of every answered request go in (an error status is an answer
 * too); a request that got no answer (refused, reset, timed out) is an error
 * with its kind and no latency.
 */
export interface GeneratorSecond {
  /** Seconds since the start of the run (0, 1, 2...): the second in which the requests completed. */
  t: number;
  requests: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** This process's CPU over the second, % of one core (filled in by the runner). */
  generatorCpu: number;
}

/** A response counts as an error from this status on (k6's http_req_failed does the same). */
export const ERROR_STATUS = 400;

export class BenchRecorder {
  readonly total = new Histogram();
  readonly status = new Map<number, number>();
  readonly errorKinds = new Map<string, number>();
  requests = 0;
  errors = 0;
  private readonly seconds: { requests: number; errors: number; latency: Histogram }[] = [];

  /**
   * `startMs` on the same clock as the `at` given to `response` and `error`
   * (performance.now()). What completes after `endMs` is left out: autocannon
   * stops up to a second after its duration, and the run's window must be
   * the one its throughput is divided by.
   */
  constructor(private readonly startMs: number, private endMs = Infinity) {}

  /** The run was stopped early (Ctrl-C): nothing after `at` counts. */
  cutAt(at: number): void {
    this.endMs = Math.min(this.endMs, at);
  }

  response(at: number, status: number, latencyMs: number): void {
    if (at > this.endMs) return;
    const s = this.second(at);
    this.requests++;
    s.requests++;
    this.total.observe(latencyMs);
    s.latency.observe(latencyMs);
    this.status.set(status, (this.status.get(status) ?? 0) + 1);
    if (status >= ERROR_STATUS) {
      this.errors++;
      s.errors++;
      const kind = `HTTP ${status}`;
      this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
    }
  }

  /** A request that got no response; `kind` is what went wrong (ECONNREFUSED, timeout...). */
  error(at: number, kind: string): void {
    if (at > this.endMs) return;
    const s = this.second(at);
    this.requests++;
    this.errors++;
    s.requests++;
    s.errors++;
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }

  /** One point per second from 0 to the last second anything completed in (or `atLeast` - 1). */
  perSecond(atLeast = 0): Omit<GeneratorSecond, 'generatorCpu'>[] {
    const n = Math.max(atLeast, this.seconds.length);
    const out: Omit<GeneratorSecond, 'generatorCpu'>[] = [];
    for (let t = 0; t < n; t++) {
      const s = this.seconds[t];
      const [p50, p90, p99] = s ? s.latency.percentiles([0.5, 0.9, 0.99]) : [0, 0, 0];
      out.push({ t, requests: s?.requests ?? 0, errors: s?.errors ?? 0, p50: round(p50 ?? 0), p90: round(p90 ?? 0), p99: round(p99 ?? 0), max: round(s?.latency.max ?? 0) });
    }
    return out;
  }

  private second(at: number) {
    const t = Math.max(0, Math.floor((at - this.startMs) / 1000));
    while (this.seconds.length <= t) this.seconds.push({ requests: 0, errors: 0, latency: new Histogram() });
    return this.seconds[t] as { requests: number; errors: number; latency: Histogram };
  }
}

/** The kind of a transport error, as a short word for the errors table. */
export function errorKind(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e && typeof e.code === 'string' && e.code !== '') return e.code;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (/timed? ?out/i.test(message)) return 'timeout';
  return message.slice(0, 60) || 'error';
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
