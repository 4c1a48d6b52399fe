import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { inspectorFlagsProblem } from '../../src/daemon/worker/hostedWorker';
import { InspectorSession } from '../../src/daemon/worker/inspectorSession';
import { inspectableChild } from '../helpers';

const NO_CLIENT = 'WebSocket' in globalThis ? null : /has no WebSocket client/;

test('inspector session: commands are answered by id, errors are the inspector\'s, a dropped connection fails what waits', async (t) => {
  const child = spawn(process.execPath, ['--inspect-port=0', '-e', 'console.log("up"); setInterval(() => {}, 1000);'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const proc = inspectableChild(child);
  if (NO_CLIENT) {
    await assert.rejects(InspectorSession.open(proc, 5000), NO_CLIENT);
    return;
  }
  const session = await InspectorSession.open(proc, 5000);
  t.after(() => session.close());
  const answer = await session.send<{ result: { value: number } }>('Runtime.evaluate', { expression: '6 * 7' });
  assert.equal(answer.result.value, 42);
  await assert.rejects(session.send('No.suchMethod'), /the inspector refused: /);
  const pending = session.send('Runtime.evaluate', { expression: 'while (true) {}' }, 30_000);
  child.kill('SIGKILL');
  await assert.rejects(pending, /the inspector connection closed/);
  await assert.rejects(session.send('Runtime.evaluate', { expression: '1' }), /Runtime\.evaluate: the inspector connection closed/);
});

test('inspector session: an inspector that never opens is a clear error', async () => {
  if (NO_CLIENT) return;
  await assert.rejects(InspectorSession.open({ openInspector: () => Promise.resolve(null) }, 200), /the inspector did not open within 200ms/);
});

test('SIGUSR1 only for a process started with herd\'s inspector flags: one without them would open a public inspector', async (t) => {
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const flagged = spawn(process.execPath, ['--inspect-port=0', '--inspect-publish-uid=stderr', '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => {
    bare.kill('SIGKILL');
    flagged.kill('SIGKILL');
  });
  assert.match(inspectorFlagsProblem(bare.pid as number) ?? '', /was started without --inspect-port=0 --inspect-publish-uid=stderr \(by an older herd\)/);
  assert.equal(inspectorFlagsProblem(flagged.pid as number), null);
  assert.match(inspectorFlagsProblem(2 ** 22 + 7) ?? '', /cannot be read/);
});
