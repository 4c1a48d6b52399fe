import { promises as fs } from 'node:fs';
import { procUnits } from './procUnits';

export interface Usage {
  /** Percent of one core since the previous sample. */
  cpu: number;
  /** Resident set size in bytes. */
  memory: number;
}

/**
 * CPU and memory of worker processes, read from /proc once per interval for
 * every pid at once. Reading is cheap (one small file per worker), and doing
 * it on a timer means `herd list` never waits on it.
 */
export class ProcStats {
  private readonly latest = new Map<number, Usage>();
  private readonly previous = new Map<number, { ticks: number; at: number }>();

  get(pid: number): Usage | undefined {
    return this.latest.get(pid);
  }

  /** Sample only pids never seen, so a new worker shows its memory at once without resetting others' CPU window. */
  async sampleNew(pids: readonly number[]): Promise<void> {
    await Promise.all(pids.filter((pid) => !this.latest.has(pid)).map((pid) => this.sampleOne(pid)));
  }

  async sample(pids: readonly number[]): Promise<void> {
    const alive = new Set(pids);
    for (const pid of this.latest.keys()) {
      if (!alive.has(pid)) {
        this.latest.delete(pid);
        this.previous.delete(pid);
      }
    }
    await Promise.all(pids.map((pid) => this.sampleOne(pid)));
  }

  private async sampleOne(pid: number): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return; // exited, or not Linux
    }
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rssPages = Number(fields[21]);
    const now = Date.now();
    const prev = this.previous.get(pid);
    // Ticks and pages in the kernel's units, which vary by architecture and build.
    const { ticksPerSecond, pageSize } = procUnits();
    const cpu = prev && now > prev.at
      ? ((ticks - prev.ticks) / ticksPerSecond) / ((now - prev.at) / 1000) * 100
      : 0;
    this.previous.set(pid, { ticks, at: now });
    this.latest.set(pid, { cpu: Math.max(0, Math.round(cpu * 10) / 10), memory: rssPages * pageSize });
  }
}
