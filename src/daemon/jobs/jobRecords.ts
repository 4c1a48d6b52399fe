/**
 * What a daemon that replaces this one needs to neither repeat nor lose a
 * job's tick: per job, the last tick it handled (run, skipped or lost), the
 * run going on (its pid and start time, so a reused pid is not taken for
 * it), the last runs and the counters. Kept in `$HERD_HOME/jobs.json`
 * (0600, written atomically at each change: a tick is at most once a
 * second); `herd run` keeps them in memory only.
 */
import * as fs from 'node:fs';
import type { JobRunView } from '../../protocol/control';
import { writeFileAtomicSync } from '../../util/atomicWrite';

export const KEPT_RUNS = 20;

export interface RunningRecord {
  tick: number;
  fence: number;
  /** The worker id on the app's shim, and the process. */
  uniqueId: number;
  pid: number | null;
  /** /proc start time of `pid` (a pid reused by another process is not the run). */
  startTime: string | null;
  startedAt: number;
}

export interface JobRecord {
  /** The last tick handled in any way (ms); null before the first, and after a stop on purpose (no catch-up then). */
  lastTick: number | null;
  running: RunningRecord | null;
  runs: JobRunView[];
  skipped: { overlap: number; redis: number; missed: number; lost: number };
  lastLost: { tick: string; host: string | null } | null;
  /** This host's fence count, for a job outside a fleet. */
  localFence: number;
}

export function emptyRecord(): JobRecord {
  return { lastTick: null, running: null, runs: [], skipped: { overlap: 0, redis: 0, missed: 0, lost: 0 }, lastLost: null, localFence: 0 };
}

export class JobRecords {
  private readonly records = new Map<string, JobRecord>();

  /** `file` null: in memory only. A file that cannot be read is set aside by being overwritten; the jobs start afresh. */
  constructor(private readonly file: string | null, private readonly note: (line: string) => void = () => {}) {
    if (file === null) return;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return;
    }
    try {
      const parsed = JSON.parse(text) as { version?: number; jobs?: Record<string, JobRecord> };
      for (const [name, record] of Object.entries(parsed.jobs ?? {})) if (isRecordShape(record)) this.records.set(name, { ...emptyRecord(), ...record });
    } catch (err) {
      note(`${file} could not be read (${(err as Error).message}); job history starts afresh`);
    }
  }

  get(name: string): JobRecord {
    let record = this.records.get(name);
    if (!record) {
      record = emptyRecord();
      this.records.set(name, record);
    }
    return record;
  }

  /** `record` changed: written before the caller goes on (a kill -9 next must find it). */
  save(): void {
    if (this.file === null) return;
    try {
      writeFileAtomicSync(this.file, `${JSON.stringify({ version: 1, jobs: Object.fromEntries(this.records) })}\n`);
    } catch (err) {
      // A full disk must not stop the jobs; a restart then may repeat or miss a tick, which is said here.
      this.note(`${this.file} not written (${(err as Error).message}): a daemon restart may repeat or miss a job's tick`);
    }
  }

  delete(name: string): void {
    if (this.records.delete(name)) this.save();
  }
}

function isRecordShape(value: unknown): value is JobRecord {
  return typeof value === 'object' && value !== null && Array.isArray((value as JobRecord).runs) && typeof (value as JobRecord).skipped === 'object';
}
