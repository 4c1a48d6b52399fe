import type { AppSpec } from '../../config/types';
import { HerdError } from '../../errors';
import type { MetricsReport } from '../../metrics/report';
import { formatDuration } from '../../util/units';
import { profileCpu } from '../worker/cpuProfiler';
import { heldRecently } from '../worker/diagnosticHold';
import type { Worker } from '../worker/worker';
import type { ProfileStore } from '../state/profileStore';
import type { Slot } from './slot';

/** How often a worker reports its metrics (the agent's REPORT_INTERVAL_MS), plus slack. */
const REPORT_WINDOW_MS = 1500;

export interface ProfileTarget {
  slot: number;
  proc: Worker;
}

/**
 * The workers `herd profile` asks for: one by id, every running one
 * ('all'), or the first online one (null). Errors name the app and worker.
 */
export function profileTargets(name: string, slots: readonly Slot[], worker: number | 'all' | null): ProfileTarget[] {
  const running = slots.filter((s) => s.proc !== null && !s.proc.exited && s.proc.pid !== null);
  if (typeof worker === 'number') {
    const slot = slots.find((s) => s.id === worker);
    if (!slot) throw new HerdError('HERD_ERR_WORKER_NOT_FOUND', { name, worker });
    if (!running.includes(slot)) throw new HerdError('HERD_ERR_NOT_RUNNING', { name: `${name}[${worker}]`, action: 'profile' });
    return [{ slot: slot.id, proc: slot.proc as Worker }];
  }
  const chosen = worker === 'all' ? running : running.filter((s) => s.status === 'online').slice(0, 1);
  if (chosen.length === 0) throw new HerdError('HERD_ERR_NOT_RUNNING', { name, action: 'profile' });
  return chosen.map((s) => ({ slot: s.id, proc: s.proc as Worker }));
}

export interface TakenProfile {
  worker: number;
  pid: number | null;
  /** The profile as JSON text, or null with the reason. */
  json: string | null;
  error: string | null;
}

/** Every target at once, each for `durationMs`; never rejects: a worker that fails has its reason. */
export function profileAll(targets: readonly ProfileTarget[], durationMs: number): Promise<TakenProfile[]> {
  return Promise.all(targets.map(async ({ slot, proc }) => {
    const pid = proc.pid;
    try {
      const profile = await profileCpu(proc, durationMs);
      return { worker: slot, pid, json: JSON.stringify(profile), error: null };
    } catch (err) {
      return { worker: slot, pid, json: null, error: (err as Error).message };
    }
  }));
}

/**
 * profileOnStall: a worker whose event-loop delay (the max of its last
 * metrics report) reaches the app's `delay` is profiled for `duration`, at
 * most once per `cooldown` per app, and the profile kept in the store.
 *
 * With the stall watchdog: the profile holds a session on the worker's
 * inspector and nothing else; it answers no ping, so a worker stuck for
 * good is still killed at stallTimeout (its stack read on a second
 * session), and its profile then ends at once with the connection.
 */
export class StallProfiler {
  /** When each app's last capture started (the cool-down runs from there). */
  private readonly lastAt = new Map<string, number>();
  /** Apps with a capture running: one at a time per app. */
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly store: ProfileStore,
    private readonly note: (app: string, worker: number, message: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  onMetrics(spec: AppSpec, proc: Worker, report: MetricsReport): void {
    const rule = spec.profileOnStall;
    if (!rule || proc.exited || proc.pid === null) return;
    const delay = report.eventLoop?.max;
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < rule.delay) return;
    const now = this.now();
    // A heap snapshot blocks the loop on purpose: the report that covers it
    // (the first after it) is not a stall.
    if (heldRecently(proc, now, REPORT_WINDOW_MS)) return;
    if (this.inFlight.has(spec.name)) return;
    const last = this.lastAt.get(spec.name);
    if (last !== undefined && now - last < rule.cooldown) return;
    this.lastAt.set(spec.name, now);
    this.inFlight.add(spec.name);
    const pid = proc.pid;
    const worker = proc.slot;
    this.note(spec.name, worker, `pid ${pid} event-loop delay ${Math.round(delay)}ms passed profileOnStall's ${formatDuration(rule.delay)}: CPU profile for ${formatDuration(rule.duration)}`);
    void profileCpu(proc, rule.duration)
      .then((profile) => this.store.save(spec.name, { time: now, worker, pid, delayMs: delay, durationMs: rule.duration }, JSON.stringify(profile)))
      .then(
        (file) => this.note(spec.name, worker, `pid ${pid} CPU profile kept in ${file}`),
        (err: Error) => this.note(spec.name, worker, `pid ${pid} CPU profile not kept: ${err.message}`),
      )
      .finally(() => this.inFlight.delete(spec.name));
  }
}
