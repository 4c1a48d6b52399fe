import * as os from 'node:os';
import type { AutoscaleMetric } from '../../config/types';
import type { AutoscaleView } from '../../protocol/autoscale';
import type { App } from './app';
import { AutoscalePolicy, LATENCY_WINDOW_SECONDS, type AutoscaleStep } from './autoscale';
import { capacityProblem } from './capacity';

/** A queue read older than this (a slow or unreachable Redis) is no data: the backlog may have moved since. */
export const QUEUE_READ_MAX_AGE_MS = 2500;

export interface Machine {
  cores(): number;
  capacity(adding: number): string | null;
}

const THIS_MACHINE: Machine = { cores: () => os.availableParallelism(), capacity: (n) => capacityProblem(n) };

/**
 * The supervisor's side of autoscaling (docs/autoscaling.md): each second,
 * for every running app with `instances: { min, max }` in automatic mode
 * and no operation under way, read its metric, ask its AutoscalePolicy, and
 * take the step through App.scale (which drains removed workers like any
 * stop). Every step is an app event and a daemon log line with its reason.
 */
export class Autoscaling {
  private readonly policies = new Map<string, AutoscalePolicy>();

  constructor(private readonly log: (line: string) => void, private readonly machine: Machine = THIS_MACHINE) {}

  tick(apps: Iterable<App>, now: number): void {
    for (const app of apps) {
      const scaling = app.spec.scaling;
      if (!scaling) continue;
      const policy = this.policyFor(app);
      if (app.stopped || app.spec.scalingFixed === true) {
        policy.restart();
        continue;
      }
      // A reload, restart or scale under way, or a worker starting or crashed: its readings say nothing about the load.
      if (app.busy !== null) continue;
      const heldBefore = policy.held;
      if (app.status !== 'online') {
        // Workers that crash (new ones that fail to start, say) hold the pool where it is: said once.
        const failing = app.status === 'errored' || app.slots.some((s) => s.status === 'backoff' || s.status === 'held');
        policy.held = failing
          ? `paused while workers fail to come online (app ${app.status}): the pool stays at ${app.slots.length}`
          : `paused while a worker starts (app ${app.status})`;
        if (failing && heldBefore !== policy.held) {
          app.note(`autoscale ${policy.held}`);
          this.log(`app ${app.name}: autoscale ${policy.held}`);
        }
        continue;
      }
      const reading = readMetric(app, scaling.autoscale.metric, now);
      const step = policy.tick({
        now,
        current: app.slots.length,
        value: reading.value,
        noData: reading.noData,
        cores: this.machine.cores(),
        capacity: (n) => this.machine.capacity(n),
      });
      if (step) void this.take(app, policy, step, now);
      // A limit that starts holding the pool (max, cores, memory, processes) is said once, when it starts.
      const limit = (held: string | null) => held?.startsWith('held at ') === true;
      if (limit(policy.held) && !limit(heldBefore)) {
        app.note(`autoscale ${policy.held}`);
        this.log(`app ${app.name}: autoscale ${policy.held}`);
      }
    }
  }

  /**
   * `herd scale <app> auto` (fixed null) or `herd scale <app> N` took effect
   * (App.scale set the spec's scalingFixed in its own exclusive step): the
   * policy starts afresh or stands aside, and the switch is said.
   */
  switched(app: App, from: number, fixed: number | null, now: number): void {
    const policy = this.policyFor(app);
    const reason = fixed === null ? 'herd scale auto: automatic scaling resumed' : `herd scale ${fixed}: fixed at ${fixed} until \`herd scale ${app.name} auto\``;
    if (fixed === null) policy.restart();
    policy.stepped({ time: now, from, to: fixed ?? app.slots.length, reason });
    app.note(reason);
    this.log(`app ${app.name}: ${reason}`);
  }

  forget(name: string): void {
    this.policies.delete(name);
  }

  view(app: App): AutoscaleView | null {
    const s = app.spec.scaling;
    if (!s) return null;
    const p = this.policyFor(app);
    const fixed = app.spec.scalingFixed === true;
    return {
      mode: fixed ? 'fixed' : 'auto',
      min: s.min,
      max: s.max,
      current: app.slots.length,
      metric: s.autoscale.metric,
      target: s.autoscale.target,
      value: fixed ? null : p.value,
      desired: fixed ? null : p.desired,
      held: fixed ? `fixed at ${app.spec.instances} by herd scale; \`herd scale ${app.name} auto\` resumes autoscaling` : p.held,
      decisions: p.decisions.toArray(),
    };
  }

  private policyFor(app: App): AutoscalePolicy {
    let policy = this.policies.get(app.name);
    if (!policy) {
      policy = new AutoscalePolicy(() => app.spec.scaling ?? { min: 1, max: 1, autoscale: { metric: 'eventLoop.utilization', target: 1, up: 1, down: 1, coolDown: 0 } });
      this.policies.set(app.name, policy);
    }
    return policy;
  }

  private async take(app: App, policy: AutoscalePolicy, step: AutoscaleStep, now: number): Promise<void> {
    const from = app.slots.length;
    policy.stepped({ time: now, from, to: step.to, reason: step.reason });
    const line = `autoscale ${from} → ${step.to}: ${step.reason}`;
    app.note(line);
    this.log(`app ${app.name}: ${line}`);
    try {
      await app.scale(step.to, () => {});
    } catch (err) {
      const failed = `autoscale ${from} → ${step.to} failed: ${(err as Error).message}`;
      app.note(failed);
      this.log(`app ${app.name}: ${failed}`);
    }
  }
}

/** The app's metric now: per worker over its online workers (http.latency.p99: the app's, over the last few seconds). */
export function readMetric(app: App, metric: AutoscaleMetric, now = Date.now()): { value: number | null; noData?: string } {
  const online = new Set<number>();
  for (const s of app.slots) if (s.status === 'online' && s.proc?.pid != null) online.add(s.proc.pid);
  if (metric === 'queue.waiting') {
    const jobs = app.metrics.jobs;
    if (jobs === null || jobs.at === null) return { value: null, noData: jobs?.error ?? 'the queue was not read yet' };
    if (now - jobs.at > QUEUE_READ_MAX_AGE_MS) return { value: null, noData: `the queue's last read is ${Math.round((now - jobs.at) / 1000)}s old` };
    return { value: (jobs.waiting + jobs.prioritized) / Math.max(1, app.slots.length) };
  }
  if (app.spec.metrics === false) return { value: null, noData: 'the app runs with metrics: false' };
  const reports = app.metrics.workerReports().filter((w) => online.has(w.pid) && w.report !== null).map((w) => w.report);
  if (reports.length === 0) return { value: null, noData: 'no worker reported metrics yet' };
  if (metric === 'eventLoop.utilization') return { value: mean(reports.map((r) => r?.eventLoop?.utilization ?? 0)) };
  if (metric === 'http.inFlight') return { value: mean(reports.map((r) => r?.http?.inFlight ?? 0)) };
  const recent = app.metrics.recent(LATENCY_WINDOW_SECONDS);
  // No request in the window: nothing waits, which reads as no latency (so an idle app scales down).
  return { value: recent.latency.count === 0 ? 0 : recent.latency.percentile(0.99) };
}

function mean(values: readonly number[]): number {
  return values.reduce((n, v) => n + v, 0) / Math.max(1, values.length);
}
