import * as fs from 'node:fs';

/**
 * Whether the machine has the memory a heap snapshot takes. V8 builds the
 * snapshot's graph inside the worker beside the heap it describes (about as
 * large again) and then serializes it: the worker grows by about its heap
 * while it runs. Asked for twice the heap in use, so that the machine is
 * not pushed into swap or the OOM killer, which would end more than the
 * one worker.
 */
export interface MemoryCheck {
  /** Bytes the snapshot should find free; null when the worker's heap is not known. */
  needed: number;
  /** MemAvailable of /proc/meminfo; null where there is none (not Linux). */
  available: number | null;
  /** What `needed` is twice of. */
  basis: 'heapUsed' | 'rss';
  ok: boolean;
}

/** MemAvailable in bytes from /proc/meminfo's text, or null. */
export function parseMemAvailable(meminfo: string): number | null {
  const m = /^MemAvailable:\s+(\d+)\s*kB$/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : null;
}

export function readMemAvailable(file = '/proc/meminfo'): number | null {
  try {
    return parseMemAvailable(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * `heapUsed` from the worker's last metrics report (0 when metrics are off
 * or none came yet); its RSS, an upper bound, stands in then.
 */
export function checkMemory(heapUsed: number, rss: number, available: number | null): MemoryCheck {
  const basis = heapUsed > 0 ? 'heapUsed' : 'rss';
  const needed = 2 * (heapUsed > 0 ? heapUsed : rss);
  return { needed, available, basis, ok: available === null || available >= needed };
}

export function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}
