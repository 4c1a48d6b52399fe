import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { LineSplitter } from '../../src/logs/lineBuffer';
import { RotatingFile } from '../../src/logs/rotatingFile';
import { formatLine, parseFileName, parseLine, rotatedFileName } from '../../src/logs/format';
import { readHistory } from '../../src/logs/history';

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-logs-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function split(maxLine: number, chunks: string[], flush = false): string[] {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), maxLine);
  for (const c of chunks) s.push(c);
  if (flush) s.flush();
  return out;
}

describe('LineSplitter', () => {
  test('holds a partial line until its newline, flushes the rest at the end', () => {
    assert.deepEqual(split(100, ['ab', 'c\nde', 'f\n', 'tail']), ['abc', 'def']);
    assert.deepEqual(split(100, ['ab', 'c\nde', 'f\n', 'tail'], true), ['abc', 'def', 'tail']);
  });

  test('cuts a long line with a marker and drops its rest, not turning it into more lines', () => {
    assert.deepEqual(split(5, ['0123456789\nok\n']), ['01234 \u2026[herd: cut 5 chars]', 'ok']);
    // A runaway line without newline: cut once, the rest up to the newline is dropped.
    assert.deepEqual(split(5, ['0123456', '789', 'abc\nnext\n']), ['01234 \u2026[herd: cut]', 'next']);
  });
});

describe('line and file format', () => {
  test('a written line parses back', () => {
    const line = { time: Date.parse('2024-05-01T10:20:30.123Z'), app: 'api', worker: 3, stream: 'err' as const, msg: ' spaced  [1] msg ' };
    const text = formatLine(line);
    assert.equal(text, '2024-05-01T10:20:30.123Z [3]  spaced  [1] msg \n');
    assert.deepEqual(parseLine(text.slice(0, -1), 'api', 'err'), line);
    assert.equal(parseLine('garbage', 'api', 'out'), null);
  });

  test('file names keep the app prefix and parse back, even for names with dashes and dots', () => {
    const rotated = rotatedFileName('my.api-out', 'out', Date.parse('2024-05-01T10:20:30.123Z'));
    assert.equal(rotated, 'my.api-out-out.20240501T102030123Z.log');
    assert.deepEqual(parseFileName(rotated), { app: 'my.api-out', stream: 'out', rotated: '20240501T102030123Z', gzip: false });
    assert.deepEqual(parseFileName(`${rotated}.gz`)?.gzip, true);
    assert.deepEqual(parseFileName('api-access.log'), { app: 'api', stream: 'access', rotated: null, gzip: false });
    assert.equal(parseFileName('api-out.log.gz.tmp'), null);
  });
});

describe('RotatingFile', () => {
  test('rotates by size with rename, keeps `retain` files, loses no line in them', async (t) => {
    const dir = tmp(t);
    const file = new RotatingFile(dir, 'api', 'out', { maxSize: 1024, retain: 3, daily: false, gzip: false });
    for (let i = 0; i < 200; i++) assert.equal(file.write(`line ${String(i).padStart(4, '0')} ${'x'.repeat(40)}\n`), true);
    await file.close();
    const names = readdirSync(dir).sort();
    assert.equal(names.length, 4, names.join(', '));
    assert.ok(names.includes('api-out.log'));
    const lines = [...names.filter((n) => n !== 'api-out.log'), 'api-out.log']
      .flatMap((n) => readFileSync(path.join(dir, n), 'utf8').split('\n').filter(Boolean));
    // The newest lines, in order, none missing in between.
    const numbers = lines.map((l) => Number(l.split(' ')[1]));
    assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => 200 - numbers.length + i));
    for (const n of names) assert.ok(readFileSync(path.join(dir, n)).length <= 1024);
  });

  test('gzips rotated files in the background', async (t) => {
    const dir = tmp(t);
    const file = new RotatingFile(dir, 'api', 'err', { maxSize: 1024, retain: 10, daily: false, gzip: true });
    for (let i = 0; i < 50; i++) file.write(`line ${i} ${'y'.repeat(60)}\n`);
    await file.close();
    const gz = readdirSync(dir).filter((n) => n.endsWith('.log.gz'));
    assert.ok(gz.length >= 2, readdirSync(dir).join(', '));
    assert.match(gunzipSync(readFileSync(path.join(dir, gz.sort()[0] as string))).toString(), /^line 0 /);
    assert.equal(readdirSync(dir).filter((n) => n.endsWith('.tmp')).length, 0);
  });

  test('drops (and reports) lines beyond its buffer instead of growing', async (t) => {
    const dir = tmp(t);
    const file = new RotatingFile(dir, 'api', 'out', { maxSize: 1 << 20, retain: 1, daily: false, gzip: false }, 100);
    const accepted = Array.from({ length: 10 }, () => file.write(`${'z'.repeat(39)}\n`)).filter(Boolean).length;
    assert.ok(accepted >= 2 && accepted < 10, `accepted ${accepted}`);
    await file.close();
  });

  test('a file that cannot be opened is retried and written once it can', async (t) => {
    const dir = tmp(t);
    const blocked = path.join(dir, 'sub');
    // A regular file where the directory should be: mkdir fails until it is removed.
    require('node:fs').writeFileSync(blocked, '');
    const file = new RotatingFile(blocked, 'api', 'out', { maxSize: 1 << 20, retain: 1, daily: false, gzip: false });
    file.write('kept\n');
    await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(file.failure, null);
    rmSync(blocked);
    await file.whenIdle();
    assert.equal(readFileSync(path.join(blocked, 'api-out.log'), 'utf8'), 'kept\n');
    assert.equal(file.failure, null);
    await file.close();
  });
});

test('readHistory merges streams and workers in time order and keeps the last N', (t) => {
  const dir = tmp(t);
  const fs = require('node:fs') as typeof import('node:fs');
  const at = (s: number) => Date.parse('2024-05-01T00:00:00.000Z') + s;
  const w = (name: string, lines: [number, number, string][]) =>
    fs.writeFileSync(path.join(dir, name), lines.map(([time, worker, msg]) => formatLine({ time: at(time), app: 'a', worker, stream: 'out', msg })).join(''));
  w('a-out.20240501T000000000Z.log', [[1, 0, 'one'], [3, 1, 'three']]);
  w('a-out.log', [[5, 0, 'five']]);
  w('a-err.log', [[2, 1, 'two'], [4, 0, 'four']]);
  w('b-out.log', [[0, 0, 'other app']]);
  const q = { app: 'a', streams: ['out', 'err'] as const, since: null, match: () => true, limit: null };
  assert.deepEqual(readHistory(dir, { ...q, streams: [...q.streams] }).map((l) => l.msg), ['one', 'two', 'three', 'four', 'five']);
  assert.deepEqual(readHistory(dir, { ...q, streams: [...q.streams], limit: 2 }).map((l) => l.msg), ['four', 'five']);
  assert.deepEqual(readHistory(dir, { ...q, streams: ['err'], limit: null }).map((l) => l.stream), ['err', 'err']);
  assert.deepEqual(readHistory(dir, { ...q, streams: ['out'], app: null }).map((l) => l.app), ['b', 'a', 'a', 'a']);
});
