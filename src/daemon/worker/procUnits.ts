import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

/** The two units /proc/<pid>/stat counts in. */
export interface ProcUnits {
  /** Bytes per memory page (rss is in pages). */
  pageSize: number;
  /** Clock ticks per second (utime and stime are in ticks), USER_HZ. */
  ticksPerSecond: number;
}

/**
 * Where nothing else answers: x86 and most arm64 kernels. An arm64 or ppc64
 * kernel built with 16 or 64 KiB pages is why the real values are read first.
 */
export const FALLBACK_UNITS: ProcUnits = { pageSize: 4096, ticksPerSecond: 100 };

// Auxiliary vector entry types (linux/auxvec.h).
const AT_NULL = 0n;
const AT_PAGESZ = 6n;
const AT_CLKTCK = 17n;

/**
 * The page size and clock tick rate the kernel gave this process in its
 * auxiliary vector: (type, value) pairs of machine words, ended by AT_NULL.
 * Null for an entry the vector lacks.
 */
export function parseAuxv(data: Buffer, wordBytes: 4 | 8, order: 'LE' | 'BE'): { pageSize: number | null; ticksPerSecond: number | null } {
  const read = (at: number): bigint => wordBytes === 8
    ? (order === 'LE' ? data.readBigUInt64LE(at) : data.readBigUInt64BE(at))
    : BigInt(order === 'LE' ? data.readUInt32LE(at) : data.readUInt32BE(at));
  let pageSize: number | null = null;
  let ticksPerSecond: number | null = null;
  for (let at = 0; at + 2 * wordBytes <= data.length; at += 2 * wordBytes) {
    const type = read(at);
    if (type === AT_NULL) break;
    if (type === AT_PAGESZ) pageSize = Number(read(at + wordBytes));
    else if (type === AT_CLKTCK) ticksPerSecond = Number(read(at + wordBytes));
  }
  return { pageSize, ticksPerSecond };
}

function plausible(units: { pageSize: number | null; ticksPerSecond: number | null }): units is ProcUnits {
  const { pageSize, ticksPerSecond } = units;
  return pageSize !== null && pageSize >= 1024 && (pageSize & (pageSize - 1)) === 0 && ticksPerSecond !== null && ticksPerSecond > 0 && ticksPerSecond <= 100_000;
}

/** How the units are read; a test replaces them. */
export interface UnitSources {
  auxv(): Buffer;
  getconf(name: 'PAGESIZE' | 'CLK_TCK'): string;
}

const SYSTEM: UnitSources = {
  auxv: () => readFileSync('/proc/self/auxv'),
  getconf: (name) => execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }),
};

/**
 * The kernel's own units: the auxiliary vector, else `getconf`, else the
 * common constants.
 */
export function readProcUnits(sources: UnitSources = SYSTEM): ProcUnits {
  try {
    const wordBytes = process.arch.endsWith('64') || process.arch === 's390x' ? 8 : 4;
    const units = parseAuxv(sources.auxv(), wordBytes, endianness());
    if (plausible(units)) return units;
  } catch {
    // no /proc (not Linux), or it cannot be read here
  }
  try {
    const units = { pageSize: Number(sources.getconf('PAGESIZE').trim()), ticksPerSecond: Number(sources.getconf('CLK_TCK').trim()) };
    if (plausible(units)) return units;
  } catch {
    // no getconf
  }
  return FALLBACK_UNITS;
}

let cached: ProcUnits | null = null;

/** readProcUnits(), once per process: they cannot change while it runs. */
export function procUnits(): ProcUnits {
  cached ??= readProcUnits();
  return cached;
}
