import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stopOutcome } from '../../src/daemon/supervision/stopOutcome';
import type { ExitInfo } from '../../src/daemon/worker/workerProcess';

const exit = (over: Partial<ExitInfo> = {}): ExitInfo => ({ code: 0, signal: null, intended: true, reason: 'exited with code 0', uptimeMs: 1000, ...over });

test('a drain is claimed only when the agent reported it', () => {
  const drained = { drainReport: { finished: 3, closedIdle: 2 }, forcedExit: null };
  assert.equal(stopOutcome(drained, exit(), 5000), 'drained (3 requests finished, 2 idle connections closed) and exited with code 0');
  assert.equal(stopOutcome({ drainReport: null, forcedExit: null }, exit(), 5000), 'exited with code 0 before it reported a drain');
  assert.equal(stopOutcome({ drainReport: null, forcedExit: null }, exit({ code: null, signal: 'SIGKILL', reason: 'killed by SIGKILL' }), 5000),
    'did not drain within killTimeout 5s; killed by SIGKILL');
});

test('a worker the agent had to end at the deadline says what the app kept open', () => {
  const forced = { drainReport: { finished: 0, closedIdle: 0 }, forcedExit: ['Timeout', 'TCPSocketWrap', 'TCPSocketWrap'] };
  assert.match(stopOutcome(forced, exit(), 5000), /kept running after its shutdown \(still open: Timeout, TCPSocketWrap x2\); ended at the drain deadline/);
});

test('WebSockets closed on the way are counted', () => {
  const ws = { drainReport: { finished: 1, closedIdle: 0, websockets: { closedByApp: 100, closedByHerd: 0 } }, forcedExit: null };
  assert.match(stopOutcome(ws, exit(), 5000), /WebSockets closed by the app 100, by herd 0/);
});

test('an exit the daemon did not ask for is shown as it is', () => {
  assert.equal(stopOutcome({ drainReport: null, forcedExit: null }, exit({ intended: false, code: 1, reason: 'exited with code 1' }), 5000), 'exited with code 1');
});
