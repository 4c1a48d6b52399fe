import type { CpuProfile } from '../../profile/cpuProfile';
import type { InspectorSession } from './inspectorSession';

/**
 * A CPU profile of a running worker through its V8 inspector: no restart,
 * no app code. Profiler.enable, setSamplingInterval, start, wait, stop.
 *
 * The sampling interval is 1 ms, the interval of Node's own --cpu-prof: fine
 * enough to place a 20 ms handler, coarse enough that a 10 s profile stays
 * around 10,000 samples (a few hundred KB of JSON) and costs the worker
 * little (bench/profile.mjs measures it). DevTools' default, 100 µs, makes
 * ten times the samples for a picture that is no clearer at these lengths.
 */
export const SAMPLING_INTERVAL_US = 1000;
/** Opening the inspector (SIGUSR1, the URL on stderr, the handshake). */
const OPEN_TIMEOUT_MS = 5000;
/** Profiler.stop serialises the profile on the worker's thread: generous for a long one. */
const STOP_TIMEOUT_MS = 30_000;

export interface Inspectable {
  inspect(timeoutMs: number): Promise<InspectorSession>;
}

/**
 * Resolves with the profile; rejects with the reason (no inspector, the
 * worker exited during the profile, the inspector refused). The session is
 * closed whatever happens, and a worker that dies mid-profile ends it at
 * once rather than at the end of the duration.
 */
export async function profileCpu(worker: Inspectable, durationMs: number): Promise<CpuProfile> {
  const session = await worker.inspect(OPEN_TIMEOUT_MS);
  try {
    await session.send('Profiler.enable');
    await session.send('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await session.send('Profiler.start');
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), durationMs)));
    const closed = await Promise.race([waited, session.whenClosed()]);
    clearTimeout(timer);
    if (closed !== null) throw new Error(`the profile ended early: ${closed} (the worker exited?)`);
    const { profile } = await session.send<{ profile: CpuProfile }>('Profiler.stop', {}, STOP_TIMEOUT_MS);
    // Leaves the worker as it was: no profiler left running in it.
    await session.send('Profiler.disable').catch(() => undefined);
    return profile;
  } finally {
    session.close();
  }
}
