import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { FileLogSink, StdoutLogSink } from '../../src/logs/logSink';
import { parseListenFailure } from '../../src/daemon/sockets/portConflict';
import { addressesConflict, formatAddress, listeningSockets, parseProcNetTcp, parseStat, treeOf, type ProcessEntry } from '../../src/daemon/worker/procNet';
import { RotatingFile } from '../../src/logs/rotatingFile';
import { treeListening } from '../../src/daemon/worker/listenWatch';
import { DEFAULTS } from '../../src/config/types';
import { eventually } from '../helpers';

describe('procNet', () => {
  test('parses listening sockets of /proc/net/tcp and tcp6, skipping other states', () => {
    const v4 = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:AE92 0100007F:8503 01 00000000:00000000 00:00000000 00000000     0        0 37537 1 0000000000000000 20 0 0 11 -1',
      '   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    assert.deepEqual(parseProcNetTcp(v4), [
      { inode: 4242, address: '127.0.0.1', port: 3000, uid: 1000 },
      { inode: 77, address: '0.0.0.0', port: 8080, uid: 0 },
    ]);
    const v6 = [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000000000000000000000000000:0C1C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 38779 1 0000000000000000 100 0 0 10 0',
      '   1: 00000000000000000000000001000000:0C1D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 38780 1 0000000000000000 100 0 0 10 0',
      '   2: 0000000000000000FFFF00000100007F:0C1E 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 38781 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    assert.deepEqual(parseProcNetTcp(v6).map(formatAddress), ['[::]:3100', '[::1]:3101', '[::ffff:127.0.0.1]:3102']);
  });

  test('finds this process listening, by inode, through its tree', async (t) => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    assert.ok((await listeningSockets()).some((s) => s.port === port && s.address === '127.0.0.1'));
    assert.ok((await treeListening(process.pid)).includes(`127.0.0.1:${port}`));
  });

  test('an address conflicts on the same port when equal or either is a wildcard', () => {
    assert.ok(addressesConflict({ address: null, port: 80 }, { address: '127.0.0.1', port: 80 }));
    assert.ok(addressesConflict({ address: '127.0.0.1', port: 80 }, { address: '::', port: 80 }));
    assert.ok(addressesConflict({ address: '127.0.0.1', port: 80 }, { address: '::ffff:127.0.0.1', port: 80 }));
    assert.ok(!addressesConflict({ address: '127.0.0.1', port: 80 }, { address: '127.0.0.2', port: 80 }));
    assert.ok(!addressesConflict({ address: null, port: 80 }, { address: '0.0.0.0', port: 81 }));
  });

  test('stat lines with odd command names; the tree takes descendants and the process group', () => {
    const e = parseStat('123 (a (weird) name) S 1 123 123 0 -1 4194560 0 0 0 0 7 5 0 0 20 0 1 0 1 0 0');
    assert.deepEqual(e, { pid: 123, ppid: 1, pgrp: 123, state: 'S', cpuTicks: 12 });
    const p = (pid: number, ppid: number, pgrp: number): ProcessEntry => ({ pid, ppid, pgrp, state: 'S', cpuTicks: 0 });
    // npm 10 -> sh 11 -> node 12; 13 was sh's child whose parent exited (reparented to 1), still in the group.
    const table = [p(1, 0, 1), p(10, 1, 10), p(11, 10, 10), p(12, 11, 10), p(13, 1, 10), p(20, 1, 20)];
    assert.deepEqual(treeOf(10, table).map((x) => x.pid).sort((a, b) => a - b), [10, 11, 12, 13]);
  });
});

describe('parseListenFailure', () => {
  test("Node's listen and cluster bind errors, Go's and Python's", () => {
    assert.deepEqual(parseListenFailure('Error: listen EADDRINUSE: address already in use :::3100'), { code: 'EADDRINUSE', address: '::', port: 3100 });
    assert.deepEqual(parseListenFailure('Error: listen EADDRINUSE: address already in use 127.0.0.1:3000'), { code: 'EADDRINUSE', address: '127.0.0.1', port: 3000 });
    assert.deepEqual(parseListenFailure('Error: bind EADDRINUSE null:3100'), { code: 'EADDRINUSE', address: null, port: 3100 });
    assert.deepEqual(parseListenFailure('Error: listen EACCES: permission denied 0.0.0.0:80'), { code: 'EACCES', address: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListenFailure('listen tcp :8080: bind: address already in use'), { code: 'EADDRINUSE', address: null, port: 8080 });
    assert.deepEqual(parseListenFailure('OSError: [Errno 98] Address already in use'), { code: 'EADDRINUSE', address: null, port: null });
    assert.equal(parseListenFailure("    code: 'EADDRINUSE',"), null);
    assert.equal(parseListenFailure('GET /users 200'), null);
  });
});

describe('log sinks never lose a line without counting it', () => {
  test('StdoutLogSink: a closed pipe is no crash, later lines are counted per app', async () => {
    let fail = false;
    const out = new Writable({
      write(_chunk, _enc, cb) {
        cb(fail ? Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }) : null);
      },
    }) as Writable & { isTTY?: boolean };
    const sink = new StdoutLogSink(out);
    sink.write({ time: 0, app: 'a', worker: 0, stream: 'out', msg: 'one' });
    fail = true;
    sink.write({ time: 0, app: 'a', worker: 0, stream: 'out', msg: 'lost in the pipe' });
    await new Promise((resolve) => setImmediate(resolve));
    sink.write({ time: 0, app: 'a', worker: 0, stream: 'out', msg: 'after' });
    sink.write({ time: 0, app: 'b', worker: 0, stream: 'err', msg: 'after' });
    assert.equal(sink.dropped('a'), 2);
    assert.equal(sink.dropped('b'), 1);
  });

  test('RotatingFile: a file that cannot be opened drops and counts its lines, reporting once', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herd-unit-open-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const dropped: number[] = [];
    const problems: string[] = [];
    const file = new RotatingFile(dir, 'x'.repeat(300), 'out', { maxSize: 1 << 20, retain: 1, daily: false, gzip: false }, undefined, {
      dropped: (n) => dropped.push(n),
      problem: (m) => problems.push(m),
    });
    assert.equal(file.write('a\n'), true);
    assert.equal(file.write('b\n'), true);
    await file.whenIdle();
    // Queued lines were dropped and counted; new ones are refused (counted by the caller) until a retry.
    assert.equal(dropped.reduce((n, x) => n + x, 0), 2);
    assert.equal(file.write('c\n'), false);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /cannot open .*x{300}-out\.log: ENAMETOOLONG/);
    await file.close();
  });

  test('FileLogSink counts them for describe and writes one line to the daemon log', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herd-unit-sink-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const notes: string[] = [];
    const sink = new FileLogSink(dir, (m) => notes.push(m));
    const app = 'y'.repeat(300);
    sink.configure(app, DEFAULTS.logs);
    for (let i = 0; i < 5; i++) sink.write({ time: 0, app, worker: 0, stream: 'out', msg: `line ${i}` });
    // The open fails asynchronously; the queued lines are then counted.
    await eventually(() => (sink.dropped(app) === 5 ? true : undefined), 5000, 'queued lines counted');
    sink.write({ time: 0, app, worker: 0, stream: 'out', msg: 'line 5' });
    assert.equal(sink.dropped(app), 6);
    assert.equal(notes.length, 1);
    assert.match(notes[0] ?? '', /ENAMETOOLONG/);
    await sink.close();
  });
});
