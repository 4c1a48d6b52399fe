/**
 * A latency histogram that merges by adding counts. Bucket boundaries are
 * fixed and the same in every process (log-linear: 32 linear buckets per power
 * of two of microseconds, so each bucket is at most ~3% wide), so the daemon
 * merges workers' histograms exactly and computes percentiles from the merged
 * buckets; averaging per-worker percentiles would be wrong.
 *
 * Storage is sparse (bucket index -> count): real latencies fall in a few
 * dozen buckets, and routes x workers x apps histograms must stay small.
 */

const SUB_BITS = 5;
const SUB = 1 << SUB_BITS; // 32 buckets per octave
/** Values below 2 * SUB microseconds get one bucket per microsecond. */
const LINEAR = SUB * 2;
/** Values are clamped to 2^40 us (about 12.7 days). */
const MAX_OCTAVE = 40;
export const BUCKET_COUNT = LINEAR + (MAX_OCTAVE - SUB_BITS - 1) * SUB;

/** The bucket index of a value in milliseconds. */
export function bucketOf(ms: number): number {
  const us = ms > 0 ? Math.floor(ms * 1000) : 0;
  if (us < LINEAR) return us;
  if (us >= 2 ** 31) return bucketOfLarge(us);
  const octave = 31 - Math.clz32(us);
  const sub = (us >>> (octave - SUB_BITS)) - SUB;
  return LINEAR + (octave - SUB_BITS - 1) * SUB + sub;
}

function bucketOfLarge(us: number): number {
  const octave = Math.min(Math.floor(Math.log2(us)), MAX_OCTAVE - 1);
  const sub = Math.min(SUB - 1, Math.floor(us / 2 ** (octave - SUB_BITS)) - SUB);
  return LINEAR + (octave - SUB_BITS - 1) * SUB + sub;
}

/** The exclusive upper bound of a bucket, in milliseconds. */
export function bucketUpperMs(index: number): number {
  if (index < LINEAR) return (index + 1) / 1000;
  const i = index - LINEAR;
  const octave = Math.floor(i / SUB) + SUB_BITS + 1;
  const sub = i % SUB;
  return ((SUB + sub + 1) * 2 ** (octave - SUB_BITS)) / 1000;
}

/** The inclusive lower bound of a bucket, in milliseconds. */
export function bucketLowerMs(index: number): number {
  return index === 0 ? 0 : bucketUpperMs(index - 1);
}

/** On the wire: [index, count, index, count, ...] plus totals. */
export interface WireHistogram {
  b: number[];
  n: number;
  sum: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  /** Sum of observed values, ms. */
  sum = 0;
  /** Largest observed value, ms (exact, not a bucket bound). */
  max = 0;

  observe(ms: number): void {
    const i = bucketOf(ms);
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: Histogram): void {
    for (const [i, c] of other.counts) this.counts.set(i, (this.counts.get(i) ?? 0) + c);
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  mergeWire(w: WireHistogram): void {
    const b = w.b;
    for (let k = 0; k + 1 < b.length; k += 2) {
      const i = b[k] as number;
      const c = b[k + 1] as number;
      if (!Number.isInteger(i) || i < 0 || i >= BUCKET_COUNT || !(c > 0)) continue;
      this.counts.set(i, (this.counts.get(i) ?? 0) + c);
    }
    this.count += w.n;
    this.sum += w.sum;
    if (w.max > this.max) this.max = w.max;
  }

  toWire(): WireHistogram {
    const b: number[] = [];
    for (const [i, c] of this.counts) b.push(i, c);
    return { b, n: this.count, sum: this.sum, max: this.max };
  }

  reset(): void {
    this.counts.clear();
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /**
   * The value at quantile q (0..1): the upper bound of the bucket holding it,
   * capped at the exact max. It never under-reports, and over-reports by at
   * most one bucket width (~3%).
   */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i) ?? 0;
      if (seen >= rank) return Math.min(bucketUpperMs(i), this.max);
    }
    return this.max;
  }

  /** Several quantiles with one sort. */
  percentiles(qs: readonly number[]): number[] {
    if (this.count === 0) return qs.map(() => 0);
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    return qs.map((q) => {
      const rank = Math.max(1, Math.ceil(q * this.count));
      let seen = 0;
      for (const i of keys) {
        seen += this.counts.get(i) ?? 0;
        if (seen >= rank) return Math.min(bucketUpperMs(i), this.max);
      }
      return this.max;
    });
  }

  /** Observations <= `ms` (a bucket straddling `ms` counts as above it). For Prometheus' `le` buckets. */
  countAtMost(ms: number): number {
    let n = 0;
    for (const [i, c] of this.counts) if (bucketUpperMs(i) <= ms) n += c;
    return n;
  }

  get empty(): boolean {
    return this.count === 0;
  }
}

/**
 * The agent's per-interval histogram: the same buckets in a flat array, so
 * recording a request is an index computation and an increment, no map
 * lookups. Only the buckets touched since the last reset are sent and cleared.
 */
export class DeltaHistogram {
  private readonly counts = new Uint32Array(BUCKET_COUNT);
  private readonly touched: number[] = [];
  count = 0;
  sum = 0;
  max = 0;

  observe(ms: number): void {
    const i = bucketOf(ms);
    if ((this.counts[i] as number) === 0) this.touched.push(i);
    (this.counts[i] as number)++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  toWire(): WireHistogram {
    const b: number[] = [];
    for (const i of this.touched) b.push(i, this.counts[i] as number);
    return { b, n: this.count, sum: this.sum, max: this.max };
  }

  reset(): void {
    for (const i of this.touched) this.counts[i] = 0;
    this.touched.length = 0;
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  get empty(): boolean {
    return this.count === 0;
  }
}
