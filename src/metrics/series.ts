/**
 * Fixed-size time series in memory: one ring of points per resolution.
 * Columnar Float64Arrays, allocated once, so memory is bounded by
 * capacity x fields whatever the uptime.
 */
export class SeriesRing<F extends string> {
  private readonly times: Float64Array;
  private readonly columns: Record<F, Float64Array>;
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number, readonly fields: readonly F[]) {
    this.times = new Float64Array(capacity);
    this.columns = Object.fromEntries(fields.map((f) => [f, new Float64Array(capacity)])) as Record<F, Float64Array>;
  }

  get length(): number {
    return this.size;
  }

  push(time: number, point: Record<F, number>): void {
    this.times[this.next] = time;
    for (const f of this.fields) this.columns[f][this.next] = point[f];
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** The last `n` points (oldest first) of one field, with their times. */
  last(field: F, n = this.size): { times: number[]; values: number[] } {
    const count = Math.min(n, this.size);
    const times: number[] = [];
    const values: number[] = [];
    for (let k = count; k > 0; k--) {
      const i = (this.next - k + this.capacity) % this.capacity;
      times.push(this.times[i] as number);
      values.push(this.columns[field][i] as number);
    }
    return { times, values };
  }
}

export const SERIES_FIELDS = ['requests', 'rps', 'p50', 'p99', 'errors', 'cpu', 'memory', 'eventLoopP99'] as const;
export type SeriesField = (typeof SERIES_FIELDS)[number];
export type SeriesPoint = Record<SeriesField, number>;

/** 1 s resolution for 15 minutes; 1 min resolution for 24 hours. */
export const SECOND_POINTS = 15 * 60;
export const MINUTE_POINTS = 24 * 60;

/**
 * An app's series at both resolutions. Each second's point is pushed as is;
 * a minute's point is built from its seconds (sums for counts, means for
 * rates and usage, maxima for latencies; the minute's p50/p99 come from the
 * minute's merged histogram, supplied by the caller).
 */
export class AppSeries {
  readonly seconds = new SeriesRing<SeriesField>(SECOND_POINTS, SERIES_FIELDS);
  readonly minutes = new SeriesRing<SeriesField>(MINUTE_POINTS, SERIES_FIELDS);
  private minuteStart: number | null = null;
  private acc: SeriesPoint = emptyPoint();
  private n = 0;

  /** Returns true when this second closed a minute (the caller resets its minute histogram). */
  pushSecond(time: number, point: SeriesPoint, minuteLatency: () => { p50: number; p99: number }): boolean {
    const minute = Math.floor(time / 60_000) * 60_000;
    let closed = false;
    if (this.minuteStart !== null && minute !== this.minuteStart) {
      this.closeMinute(minuteLatency());
      closed = true;
    }
    if (this.minuteStart === null || closed) this.minuteStart = minute;
    this.seconds.push(time, point);
    this.acc.requests += point.requests;
    this.acc.errors += point.errors;
    this.acc.cpu += point.cpu;
    this.acc.memory += point.memory;
    this.acc.eventLoopP99 = Math.max(this.acc.eventLoopP99, point.eventLoopP99);
    this.n++;
    return closed;
  }

  private closeMinute(latency: { p50: number; p99: number }): void {
    const n = Math.max(1, this.n);
    this.minutes.push(this.minuteStart ?? 0, {
      requests: this.acc.requests,
      rps: this.acc.requests / 60,
      p50: latency.p50,
      p99: latency.p99,
      errors: this.acc.errors,
      cpu: this.acc.cpu / n,
      memory: this.acc.memory / n,
      eventLoopP99: this.acc.eventLoopP99,
    });
    this.acc = emptyPoint();
    this.n = 0;
  }
}

function emptyPoint(): SeriesPoint {
  return { requests: 0, rps: 0, p50: 0, p99: 0, errors: 0, cpu: 0, memory: 0, eventLoopP99: 0 };
}
