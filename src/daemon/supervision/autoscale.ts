import type { AutoscaleMetric, ScalingSpec } from '../../config/types';
import { formatAutoscaleValue as formatValue, type AutoscaleDecision } from '../../protocol/autoscale';
import { Ring } from '../../util/ring';
import { formatDuration } from '../../util/units';

/**
 * The autoscaler's policy for one app, without processes or clocks of its
 * own (the supervisor's once-a-second sampler feeds it; unit tests feed it
 * numbers). Kubernetes' HPA is the model users know:
 *
 *   desired = ceil(current × value / target)
 *
 * left at `current` while value/target is within TOLERANCE of 1; clamped to
 * [min, max]. Up at once, by at most `up` workers a step (the next step
 * waits until the new workers are ready: the caller does not tick an app
 * that is busy). Down only when `coolDown` has passed since the last step
 * and since autoscaling began, to the highest count any reading asked for
 * over the last `coolDown` (HPA's scale-down stabilisation), by at most
 * `down` a step. No data, no step.
 */

/** |value / target − 1| within this keeps the count (HPA's default tolerance). */
export const TOLERANCE = 0.1;

/** Seconds of latency the http.latency.p99 metric reads: recent enough to react, long enough for a p99. */
export const LATENCY_WINDOW_SECONDS = 5;

export interface AutoscaleReading {
  now: number;
  /** Workers now (slots). */
  current: number;
  /** The metric (per worker, or the app's p99); null when there is no data, `noData` says why. */
  value: number | null;
  noData?: string;
  /** Cores of the machine: a pool sized on event-loop utilisation gets no more workers than these. */
  cores: number;
  /** Why the machine cannot run `adding` more workers, or null (capacity.ts). */
  capacity: (adding: number) => string | null;
}

export interface AutoscaleStep {
  to: number;
  reason: string;
}

export class AutoscalePolicy {
  /** What each reading asked for over the last coolDown: the scale-down takes the highest. */
  private recommendations: { time: number; desired: number }[] = [];
  /** The last step, or when autoscaling (re)began: a scale-down waits coolDown from it. */
  private quietSince: number | null = null;
  /** The last step itself (null before any). */
  private lastStep: number | null = null;
  /** The settings the readings so far were taken under: a reload that changes them starts afresh. */
  private settings: string | null = null;
  readonly decisions = new Ring<AutoscaleDecision>(20);
  value: number | null = null;
  desired: number | null = null;
  held: string | null = null;

  constructor(private readonly scaling: () => ScalingSpec) {}

  /** Autoscaling (re)begins now (app started, `herd scale <app> auto`): the readings so far are forgotten. */
  restart(): void {
    this.recommendations = [];
    this.quietSince = null;
    this.lastStep = null;
    this.value = null;
    this.desired = null;
    this.held = null;
  }

  /** A step (the autoscaler's or a user's) happened: scale-downs wait coolDown from now. */
  stepped(decision: AutoscaleDecision): void {
    this.decisions.push(decision);
    this.quietSince = decision.time;
    this.lastStep = decision.time;
  }

  /** One reading; returns the step to take now, or null (then `held` says why, when something holds the pool). */
  tick(r: AutoscaleReading): AutoscaleStep | null {
    const scaling = this.scaling();
    const { min, max, autoscale: a } = scaling;
    const settings = JSON.stringify(scaling);
    if (this.settings !== settings) {
      // New settings (a reload changed them): what was wanted under the old ones says nothing now.
      if (this.settings !== null) this.restart();
      this.settings = settings;
    }
    this.quietSince ??= r.now;
    this.value = r.value;
    if (r.current < min) return this.up(r, min, `below min ${min}`);
    if (r.current > max) return { to: max, reason: `above max ${max}` };
    if (r.value === null) {
      this.desired = null;
      this.held = `no data (${r.noData ?? 'no reading'}): not scaling`;
      return null;
    }
    // The app's p99 over the last seconds still holds requests served before the last step: read
    // on, it would multiply the new count by the old latency each second and run to max.
    if (a.metric === 'http.latency.p99' && this.lastStep !== null && r.now - this.lastStep < LATENCY_WINDOW_SECONDS * 1000) {
      this.desired = null;
      this.held = `waiting for ${LATENCY_WINDOW_SECONDS}s of latency at ${r.current} workers since the last step`;
      return null;
    }
    const ratio = r.value / a.target;
    const wanted = Math.abs(ratio - 1) <= TOLERANCE ? r.current : Math.ceil(r.current * ratio);
    const desired = Math.min(max, Math.max(min, wanted));
    this.desired = desired;
    this.recommendations = this.recommendations.filter((x) => r.now - x.time < a.coolDown);
    this.recommendations.push({ time: r.now, desired });
    const why = `${a.metric} ${formatValue(a.metric, r.value)}${PER[a.metric]}`;
    if (desired > r.current) return this.up(r, desired, `${why} over target ${formatValue(a.metric, a.target)}`);
    if (desired < r.current) return this.down(r, `${why} under target ${formatValue(a.metric, a.target)}`);
    this.held = wanted > max ? `held at max ${max}: ${why} over target ${formatValue(a.metric, a.target)}` : null;
    return null;
  }

  private up(r: AutoscaleReading, desired: number, reason: string): AutoscaleStep | null {
    const { max, autoscale: a } = this.scaling();
    // More workers than cores cannot lower a CPU-bound loop's utilisation; other metrics (I/O-bound work) are not capped.
    const cores = a.metric === 'eventLoop.utilization' ? Math.max(1, r.cores) : Infinity;
    const to = Math.min(desired, r.current + a.up, Math.max(cores, this.scaling().min));
    if (to <= r.current) {
      this.held = `held at ${r.current} of max ${max}: ${r.cores} core${r.cores === 1 ? '' : 's'} (more workers than cores cannot lower eventLoop.utilization)`;
      return null;
    }
    const problem = r.capacity(to - r.current);
    if (problem !== null) {
      this.held = `held at ${r.current} of max ${max}: ${problem}`;
      return null;
    }
    this.held = to < desired && to === cores ? `held at ${to} of max ${max}: ${r.cores} cores` : null;
    return { to, reason };
  }

  private down(r: AutoscaleReading, reason: string): AutoscaleStep | null {
    const { autoscale: a } = this.scaling();
    const quietFor = r.now - (this.quietSince ?? r.now);
    if (quietFor < a.coolDown) {
      this.held = `scale-down waits for the cool-down (${formatDuration(a.coolDown - quietFor)} left)`;
      return null;
    }
    const stable = Math.max(...this.recommendations.map((x) => x.desired));
    if (stable >= r.current) {
      this.held = `scale-down waits: ${stable} workers were wanted within the last ${formatDuration(a.coolDown)}`;
      return null;
    }
    this.held = null;
    return { to: Math.max(stable, r.current - a.down), reason };
  }
}

const PER: Record<AutoscaleMetric, string> = {
  'eventLoop.utilization': ' per worker',
  'http.latency.p99': '',
  'http.inFlight': ' per worker',
  'queue.waiting': ' per worker',
};
