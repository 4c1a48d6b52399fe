import * as fs from 'node:fs';

/**
 * Can this machine run `adding` more workers? Checked before an app starts
 * or scales up, so a runaway `instances` is refused at once with the reason,
 * instead of spawning until the daemon falls over.
 */

/** What one more worker costs at least: a bare Node process with the agent keeps 20-30 MB of its own (USS). */
export const WORKER_MEMORY_ESTIMATE = 25 * 1024 * 1024;

export interface MachineView {
  /** MemAvailable in bytes; null when unknown. */
  memAvailable(): number | null;
  /** The soft RLIMIT_NPROC of this process; null when unlimited or unknown. */
  processLimit(): number | null;
  /** Processes (threads count for RLIMIT_NPROC, but processes are what we add) of this user now. */
  userProcesses(): number;
}

export function capacityProblem(adding: number, machine: MachineView = PROC): string | null {
  if (adding <= 0) return null;
  const available = machine.memAvailable();
  if (available !== null && adding * WORKER_MEMORY_ESTIMATE > available) {
    const mb = (b: number) => `${Math.round(b / (1024 * 1024))}MB`;
    return `${adding} workers need at least ${mb(adding * WORKER_MEMORY_ESTIMATE)} (about ${mb(WORKER_MEMORY_ESTIMATE)} each); ` +
      `the machine has ${mb(available)} available`;
  }
  const limit = machine.processLimit();
  if (limit !== null) {
    const used = machine.userProcesses();
    if (used + adding > limit) return `${adding} more processes would pass this user's process limit (${used} of ${limit} in use; ulimit -u)`;
  }
  return null;
}

const PROC: MachineView = {
  memAvailable() {
    try {
      const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  },
  processLimit() {
    try {
      const m = /^Max processes\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
      return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
    } catch {
      return null;
    }
  },
  userProcesses() {
    const uid = process.getuid?.();
    let n = 0;
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.statSync(`/proc/${entry}`).uid === uid) n++;
      } catch {
        // gone meanwhile
      }
    }
    return n;
  },
};
