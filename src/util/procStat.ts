import * as fs from 'node:fs';

/** One process as /proc/<pid>/stat tells it. */
export interface ProcStat {
  /** The state letter: R, S, D, T, Z (zombie), X (dead), ... */
  state: string;
  /** Field 22, in clock ticks since boot: with the pid, it names one process for the machine's uptime. */
  startTime: string;
  /** Resident set size in pages (field 24). */
  rssPages: number;
}

/** /proc/<pid>/stat, or null when no such process exists (or this is not Linux). */
export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', startTime: fields[19] ?? '', rssPages: Number(fields[21] ?? 0) };
}

/**
 * The process that had `startTime` when it was seen is still running. A
 * zombie (Z) or a dead entry (X) is gone, even when nobody reaped it yet (an
 * init that does not reap leaves zombies for ever); another start time means
 * the pid was reused by another process.
 */
export function processAlive(pid: number, startTime: string): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X' && stat.startTime === startTime;
}
