import type { AppSpec } from '../../config/types';
import { specProblems } from '../../config/specCheck';
import { HerdError } from '../../errors';
import { processAlive } from '../../util/procStat';
import { readRecords, removeRecord, type ShimRecord } from '../../shim/runRecord';
import type { ShimHosts } from '../hosts/shimHosts';
import type { Supervisor } from '../supervision/supervisor';
import type { SavedApp } from './savedApps';

export interface Adoption {
  /** Apps taken over, with their workers' pids as they were. */
  adopted: { app: string; shim: number; workers: number[] }[];
  /** What could not be taken over, and what was done instead (for the daemon's log). */
  problems: string[];
}

/**
 * A daemon that starts where another one died (or hands over, `herd
 * update`) takes over the shims listed in run/: each live one is connected
 * with takeover and its snapshot turns into a listed, running app with the
 * same workers. The spec is the one state.json keeps, else the one the shim
 * was last given (state.json lost or behind). Records of dead shims are
 * removed; a second shim of one app (it cannot happen unless a daemon raced
 * another) and a shim that cannot be taken over are told to stop, and their
 * workers drain.
 */
export async function adoptShims(runDir: string, shims: ShimHosts, supervisor: Supervisor, saved: readonly SavedApp[], why: string, handover = false): Promise<Adoption> {
  const problems: string[] = [];
  const live = new Map<string, ShimRecord>();
  for (const record of readRecords(runDir)) {
    if (!processAlive(record.pid, record.startTime)) {
      removeRecord(runDir, record.id);
      continue;
    }
    const other = live.get(record.app);
    if (other) {
      const [older, newer] = other.startedAt <= record.startedAt ? [other, record] : [record, other];
      problems.push(`app ${record.app} has two shims (pids ${older.pid} and ${newer.pid}): the older one is stopped`);
      stopShim(older);
      live.set(record.app, newer);
      continue;
    }
    live.set(record.app, record);
  }
  const results = await Promise.all([...live.values()].map(async (record) => {
    const host = shims.host(record.app);
    let snapshot;
    try {
      // In a hand-over nothing is stopped: the old daemon takes its shims back and stays.
      snapshot = await host.attach(record, !handover);
    } catch (err) {
      if (handover) throw new HerdError('HERD_ERR_UPDATE_FAILED', { pid: process.ppid, reason: `app ${record.app}: shim pid ${record.pid} could not be taken over: ${(err as Error).message}` });
      problems.push(`app ${record.app}: shim pid ${record.pid} could not be taken over (${(err as Error).message}); it was told to stop`);
      return null;
    }
    const remembered = saved.find((a) => a.name === record.app);
    const spec = remembered?.spec ?? specFrom(snapshot.spec, record.app);
    if (spec === null && handover) throw new HerdError('HERD_ERR_UPDATE_FAILED', { pid: process.ppid, reason: `app ${record.app}: no spec in state.json nor in its shim` });
    if (spec === null) {
      problems.push(`app ${record.app}: neither state.json nor its shim (pid ${record.pid}) has its spec; the shim was told to stop`);
      await host.release().catch(() => undefined);
      shims.closeApp(record.app);
      stopShim(record);
      return null;
    }
    const acted = supervisor.adopt(spec, snapshot, `adopted from shim pid ${record.pid} by a new daemon (${why})`, remembered?.restarts ?? {});
    host.acknowledgeExits(acted);
    host.adopted();
    // Stopped on purpose while the last daemon died in the middle of it: the stop is finished.
    if (remembered?.stopped === true) void supervisor.stop(record.app).catch(() => undefined);
    return { app: record.app, shim: record.pid, workers: snapshot.workers.map((w) => w.pid).filter((p): p is number => p !== null) };
  }));
  return { adopted: results.filter((r) => r !== null), problems };
}

/** The spec a shim kept, when it is one (it came from a daemon of this user, but is checked all the same). */
function specFrom(value: unknown, app: string): AppSpec | null {
  if (value === null || value === undefined || specProblems(value, 'spec').length > 0) return null;
  const spec = value as AppSpec;
  return spec.name === app ? spec : null;
}

function stopShim(record: ShimRecord): void {
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    // gone meanwhile
  }
}
