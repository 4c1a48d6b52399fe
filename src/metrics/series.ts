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

  /** The last `n` points (oldest first) of every field, in one pass. */
  lastAll(n = this.size): { times: number[]; columns: Record<F, number[]> } {
    const count = Math.min(n, this.size);
    const times: number[] = [];
    const columns = Object.fromEntries(this.fields.map((f) => [f, [] as number[]])) as Record<F, number[]>;
    for (let k = count; k > 0; k--) {
      const i = (this.next - k + this.capacity) % this.capacity;
      times.push(this.times[i] as number);
      for (const f of this.fields) columns[f].push(this.columns[f][i] as number);
    }
    return { times, columns };
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

/**
 * The fields of an app's series, and how a minute's point is built from its
 * seconds: counts are summed, rates and usage averaged, the event-loop delay
 * takes the worst second, and latencies come from the minute's merged
 * histogram (percentiles of seconds cannot be combined).
 */
export const SERIES_KIND = {
  requests: 'sum',
  rps: 'mean',
  p50: 'latency',
  p90: 'latency',
  p99: 'latency',
  s2xx: 'sum',
  s3xx: 'sum',
  s4xx: 'sum',
  errors: 'sum',
  shed: 'sum',
  cpu: 'mean',
  memory: 'mean',
  eventLoopP99: 'max',
  utilization: 'mean',
  /** Workers (slots) of the app: the dashboard's step line of scale steps; a minute keeps its largest. */
  workers: 'max',
} as const;

export type SeriesField = keyof typeof SERIES_KIND;
export const SERIES_FIELDS = Object.keys(SERIES_KIND) as SeriesField[];
export type SeriesPoint = Record<SeriesField, number>;
export type LatencyPoint = Pick<SeriesPoint, 'p50' | 'p90' | 'p99'>;

/** 1 s resolution for 15 minutes; 1 min resolution for 24 hours. */
export const SECOND_POINTS = 15 * 60;
export const MINUTE_POINTS = 24 * 60;

/** An app's series at both resolutions. Each second's point is pushed as is; each minute's is rolled up from them. */
export class AppSeries {
  readonly seconds = new SeriesRing<SeriesField>(SECOND_POINTS, SERIES_FIELDS);
  readonly minutes = new SeriesRing<SeriesField>(MINUTE_POINTS, SERIES_FIELDS);
  private minuteStart: number | null = null;
  private acc: SeriesPoint = emptyPoint();
  private n = 0;

  /** Returns true when this second closed a minute (the caller resets its minute histogram). */
  pushSecond(time: number, point: SeriesPoint, minuteLatency: () => LatencyPoint): boolean {
    const minute = Math.floor(time / 60_000) * 60_000;
    let closed = false;
    if (this.minuteStart !== null && minute !== this.minuteStart) {
      this.closeMinute(minuteLatency());
      closed = true;
    }
    if (this.minuteStart === null || closed) this.minuteStart = minute;
    this.seconds.push(time, point);
    for (const f of SERIES_FIELDS) {
      const kind = SERIES_KIND[f];
      if (kind === 'max') this.acc[f] = Math.max(this.acc[f], point[f]);
      else if (kind !== 'latency') this.acc[f] += point[f];
    }
    this.n++;
    return closed;
  }

  private closeMinute(latency: LatencyPoint): void {
    const n = Math.max(1, this.n);
    const point = emptyPoint();
    for (const f of SERIES_FIELDS) {
      const kind = SERIES_KIND[f];
      point[f] = kind === 'mean' ? this.acc[f] / n : kind === 'latency' ? latency[f as keyof LatencyPoint] : this.acc[f];
    }
    this.minutes.push(this.minuteStart ?? 0, point);
    this.acc = emptyPoint();
    this.n = 0;
  }
}

export function emptyPoint(): SeriesPoint {
  return Object.fromEntries(SERIES_FIELDS.map((f) => [f, 0])) as SeriesPoint;
}
