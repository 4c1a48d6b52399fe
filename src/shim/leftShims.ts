import { processAlive } from '../util/procStat';
import { readRecords, removeRecord, type ShimRecord } from './runRecord';

/** Shims listed in run/ whose process still runs (a daemon that died left them). */
export function liveShims(runDir: string): ShimRecord[] {
  return readRecords(runDir).filter((r) => processAlive(r.pid, r.startTime));
}

/**
 * Stop the shims a dead daemon left: SIGTERM makes each drain its workers and
 * exit. Resolves with those stopped, once they are gone. Until a new daemon
 * can take shims over, this is what `herd kill` and a new daemon's start do,
 * so that the apps it starts again find their ports free.
 */
export async function stopLeftShims(runDir: string): Promise<ShimRecord[]> {
  const shims = liveShims(runDir);
  for (const shim of shims) {
    try {
      process.kill(shim.pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
  while (shims.some((s) => processAlive(s.pid, s.startTime))) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const record of readRecords(runDir)) if (!processAlive(record.pid, record.startTime)) removeRecord(runDir, record.id);
  return shims;
}
