import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addQueues, appQueue, familyOf } from '../../src/daemon/supervision/kernelQueues';
import type { QueueView } from '../../src/metrics/view';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
// Port 3000 = 0BB8, 4000 = 0FA0.
const V4 = HEADER + [
  // LISTEN on 0.0.0.0:3000 with 3 connections waiting to be accepted (backlog 511 = 1FF in tx_queue).
  '   0: 00000000:0BB8 00000000:0000 0A 000001FF:00000003 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0',
  // Two accepted connections to :3000, one with 78 unread bytes.
  '   1: 0100007F:0BB8 0100007F:D431 01 00000000:0000004E 00:00000000 00000000  1000        0 112 1 0000000000000000 20 4 30 10 -1',
  '   2: 0100007F:0BB8 0100007F:D432 01 00000000:00000000 00:00000000 00000000  1000        0 113 1 0000000000000000 20 4 30 10 -1',
  // The client side of a connection to :3000: its local port is not 3000, so it is not the app's.
  '   3: 0100007F:D431 0100007F:0BB8 01 00000000:00000010 00:00000000 00000000  1000        0 114 1 0000000000000000 20 4 30 10 -1',
  // TIME_WAIT (06) with bytes never counts; another port is left out.
  '   4: 0100007F:0BB8 0100007F:D433 06 00000000:00000005 03:00001770 00000000     0        0 0 3 0000000000000000',
  '   5: 00000000:0FA0 00000000:0000 0A 00000000:00000009 00:00000000 00000000  1000        0 115 1 0000000000000000 100 0 0 10 0',
  'garbage line',
  '',
].join('\n');
const V6 = HEADER + [
  '   0: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 121 1 0000000000000000 100 0 0 10 0',
  '   1: 0000000000000000FFFF00000100007F:0BB8 0000000000000000FFFF00000100007F:D440 01 00000000:00000100 00:00000000 00000000  1000        0 122 1 0000000000000000 20 4 30 10 -1',
].join('\n');

test('accept queue from LISTEN sockets, unread connections from established ones, per local port, tcp and tcp6 added up', () => {
  const out = new Map<number, QueueView>();
  addQueues(V4, new Set([3000]), out);
  assert.deepEqual(out.get(3000), { accept: 3, unread: 1 });
  assert.equal(out.has(4000), false, 'only the ports asked for');
  addQueues(V6, new Set([3000]), out);
  assert.deepEqual(out.get(3000), { accept: 5, unread: 2 });
});

test('an app sums its ports; an app with no port found listening shows nothing, not zero', () => {
  const all = new Map<number, QueueView>();
  addQueues(V4, new Set([3000, 4000]), all);
  assert.deepEqual(appQueue([3000, 4000], all), { accept: 12, unread: 1 });
  assert.equal(appQueue([5000], all), null);
  assert.equal(appQueue([], all), null);
  assert.equal(appQueue([3000], null), null, 'tables unreadable (not Linux)');
});

test('empty or header-only tables give nothing', () => {
  const out = new Map<number, QueueView>();
  addQueues('', new Set([3000]), out);
  addQueues(HEADER, new Set([3000]), out);
  assert.equal(out.size, 0);
});

test('a dual-stack listener\'s connections are in tcp6, an IPv4 one\'s in tcp', () => {
  assert.equal(familyOf('[::]:3000'), 'v6');
  assert.equal(familyOf('[::1]:3000'), 'v6');
  assert.equal(familyOf('0.0.0.0:3000'), 'v4');
  assert.equal(familyOf('127.0.0.1:3000'), 'v4');
});
