import { SAMPLING_INTERVAL_US } from '../worker/cpuProfiler';
import type { TakenProfile } from '../supervision/profiling';
import type { Handler } from './controlServer';

/** A profile is sent in pieces this big: far below the client's 16 MB line limit, whatever the profile's length. */
const CHUNK_CHARS = 1024 * 1024;

/**
 * `herd profile`: every profile is taken first (at once, for --worker all),
 * then sent as 'chunk' replies, one profile after the other, in the order of
 * the result's list, with backpressure (a client that does not read holds
 * the sender, it does not grow the daemon's memory).
 */
export function profileHandler(profile: (name: string, worker: number | 'all' | null, durationMs: number, progress: (message: string) => void) => Promise<TakenProfile[]>): Handler<'profile'> {
  return async (r, progress, stream) => {
    const startedAt = Date.now();
    const taken = await profile(r.name, r.worker, r.durationMs, progress);
    for (const t of taken) {
      const json = t.json ?? '';
      for (let at = 0; at < json.length; at += CHUNK_CHARS) await stream.chunk(json.slice(at, at + CHUNK_CHARS));
    }
    return {
      name: r.name, durationMs: r.durationMs, intervalUs: SAMPLING_INTERVAL_US, startedAt,
      profiles: taken.map((t) => ({ worker: t.worker, pid: t.pid, chars: t.json?.length ?? 0, error: t.error })),
    };
  };
}
