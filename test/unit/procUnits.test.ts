import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ProcStats } from '../../src/daemon/worker/procStats';
import { FALLBACK_UNITS, parseAuxv, procUnits, readProcUnits, type UnitSources } from '../../src/daemon/worker/procUnits';

const linux = existsSync('/proc/self/auxv');
const getconf = (name: string) => Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());

test('the page size and clock tick rate are the ones getconf reports on this machine', { skip: !linux && 'no /proc here' }, () => {
  const expected = { pageSize: getconf('PAGESIZE'), ticksPerSecond: getconf('CLK_TCK') };
  assert.deepEqual(readProcUnits(), expected);
  assert.deepEqual(procUnits(), expected);
  // From the auxiliary vector itself, not from getconf.
  const noGetconf = () => {
    throw new Error('no getconf');
  };
  assert.deepEqual(readProcUnits({ auxv: () => readFileSync('/proc/self/auxv'), getconf: noGetconf }), expected);
});

test('the auxiliary vector is read in the machine\'s word size and byte order, up to AT_NULL', () => {
  const words = (size: 4 | 8, order: 'LE' | 'BE', values: number[]) => {
    const buf = Buffer.alloc(values.length * size);
    values.forEach((v, i) => {
      if (size === 8) (order === 'LE' ? buf.writeBigUInt64LE(BigInt(v), i * 8) : buf.writeBigUInt64BE(BigInt(v), i * 8));
      else (order === 'LE' ? buf.writeUInt32LE(v, i * 4) : buf.writeUInt32BE(v, i * 4));
    });
    return buf;
  };
  // AT_HWCAP, AT_PAGESZ = 65536, AT_CLKTCK = 250, AT_NULL, then junk that must be ignored.
  const vector = [16, 0xbfebfbff, 6, 65536, 17, 250, 0, 0, 6, 1];
  assert.deepEqual(parseAuxv(words(4, 'BE', vector), 4, 'BE'), { pageSize: 65536, ticksPerSecond: 250 });
  assert.deepEqual(parseAuxv(words(8, 'LE', vector), 8, 'LE'), { pageSize: 65536, ticksPerSecond: 250 });
  assert.deepEqual(parseAuxv(words(8, 'LE', [0, 0]), 8, 'LE'), { pageSize: null, ticksPerSecond: null });
});

test('without the auxiliary vector getconf answers, and without getconf the common constants', () => {
  const noAuxv = () => {
    throw new Error('ENOENT');
  };
  const sixteenK: UnitSources = { auxv: noAuxv, getconf: (name) => (name === 'PAGESIZE' ? '16384\n' : '100\n') };
  assert.deepEqual(readProcUnits(sixteenK), { pageSize: 16384, ticksPerSecond: 100 });
  // A vector without the entries (or with nonsense in them) is not believed either.
  assert.deepEqual(readProcUnits({ ...sixteenK, auxv: () => Buffer.alloc(16) }), { pageSize: 16384, ticksPerSecond: 100 });
  assert.deepEqual(readProcUnits({ auxv: noAuxv, getconf: noAuxv }), FALLBACK_UNITS);
  assert.deepEqual(readProcUnits({ auxv: noAuxv, getconf: () => 'undefined\n' }), FALLBACK_UNITS);
});

test('a process\'s memory is its resident pages in bytes, as VmRSS counts them', { skip: !linux && 'no /proc here' }, async () => {
  const stats = new ProcStats();
  await stats.sample([process.pid]);
  const vmRss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
  const memory = stats.get(process.pid)?.memory ?? 0;
  assert.equal(memory % procUnits().pageSize, 0);
  // Read a moment apart from a process that allocates: close, not equal.
  assert.ok(Math.abs(memory - vmRss) < vmRss * 0.1, `${memory} vs VmRSS ${vmRss}`);
});
