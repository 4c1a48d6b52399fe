import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../src/agent/agent';
import { loadTarget } from '../../src/config/load';
import { requestProblem } from '../../src/daemon/control/requestShape';
import { AGENT_CMD, isEnvelope, type AgentToDaemon, type DaemonToAgent } from '../../src/protocol/agent';
import { encode, LineDecoder } from '../../src/protocol/framing';

test('framing splits lines across chunks and never merges two messages', () => {
  const d = new LineDecoder();
  const wire = encode({ a: 'x\ny' }) + encode({ b: 2 });
  const mid = Math.floor(wire.length / 2);
  const lines = [...d.push(wire.slice(0, mid)), ...d.push(wire.slice(mid))];
  assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), [{ a: 'x\ny' }, { b: 2 }]);
});

test('framing refuses an unbounded line', () => {
  const d = new LineDecoder(10);
  assert.throws(() => d.push('x'.repeat(11)), /longer than/);
});

test('requests are checked for shape before any handler sees them', () => {
  assert.equal(requestProblem({ type: 'list' }), null);
  assert.match(requestProblem(null) ?? '', /missing/);
  assert.match(requestProblem({ type: 'nope' }) ?? '', /unknown request type/);
  assert.match(requestProblem({ type: 'stop' }) ?? '', /stop\.target/);
  assert.match(requestProblem({ type: 'start', apps: [{}] }) ?? '', /start\.apps\[0\]\.name/);
  assert.match(requestProblem({ type: 'reload', target: 'x', specs: 'no' }) ?? '', /reload\.specs/);
  assert.equal(requestProblem({ type: 'start', apps: [], settings: { health: null, prometheus: null } }), null);
  assert.equal(requestProblem({ type: 'start', apps: [], settings: { health: { port: 9000, host: '127.0.0.1', shutdownDelay: 0 }, prometheus: null } }), null);
  assert.match(requestProblem({ type: 'start', apps: [], settings: { health: { port: 'x' } } }) ?? '', /start\.settings\.health/);
});

test('start: the fields the daemon acts on by itself are checked for shape', async () => {
  const { specs } = await loadTarget(path.join(__dirname, '..', 'fixtures', 'hello.js'), { cwd: '/', env: {}, envName: null, overrides: {}, interpreter: process.execPath, cpus: 2 });
  const problem = (extra: Record<string, unknown>) => requestProblem({ type: 'start', apps: [{ ...specs[0], ...extra }] });
  assert.equal(problem({}), null);
  assert.equal(problem({ cronRestart: '0 3 * * *', watch: { paths: ['/srv'], ignore: [], delay: 100 }, logFiles: { out: '/l/o.log', err: null, combined: null } }), null);
  assert.match(problem({ instanceVar: 'A B' }) ?? '', /start\.apps\[0\]\.instanceVar/);
  assert.match(problem({ cronRestart: 5 }) ?? '', /cronRestart/);
  assert.match(problem({ watch: { paths: '/srv' } }) ?? '', /watch\.paths must be an array of strings/);
  assert.match(problem({ logFiles: null }) ?? '', /logFiles must be an object/);
});

test('one envelope guard on both sides of a worker channel: herd\'s marker, nothing else', () => {
  assert.equal(isEnvelope<AgentToDaemon>({ type: 'ready', cmd: AGENT_CMD }), true);
  assert.equal(isEnvelope<DaemonToAgent>({ type: 'ping', seq: 1, cmd: AGENT_CMD }), true);
  for (const other of [null, undefined, 'ready', 42, { type: 'ready' }, { cmd: 'NODE_CLUSTER', act: 'queryServer' }]) {
    assert.equal(isEnvelope(other), false, JSON.stringify(other));
  }
});

test('the agent passes over a message type it has no handler for, instead of throwing in the app', () => {
  const sent: AgentToDaemon[] = [];
  let deliver: (m: DaemonToAgent) => void = () => {};
  new Agent({ send: (m) => sent.push(m), onMessage: (h) => (deliver = h), hasSignalHandlers: () => false, raise: () => {}, exit: () => {} }, 'app', 0);
  assert.doesNotThrow(() => deliver({ type: 'fromANewerDaemon' } as unknown as DaemonToAgent));
  deliver({ type: 'ping', seq: 7 });
  assert.deepEqual(sent.map((m) => m.type), ['pong']);
});
