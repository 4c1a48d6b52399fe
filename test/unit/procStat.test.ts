import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { eventually } from '../helpers';
import { procStat, processAlive } from '../../src/util/procStat';

const linux = existsSync('/proc/self/stat');

test('this process: running, with the start time /proc gives; another start time is another process', { skip: !linux && 'no /proc here' }, () => {
  const own = procStat(process.pid);
  assert.ok(own);
  assert.notEqual(own.state, 'Z');
  const text = readFileSync('/proc/self/stat', 'utf8');
  assert.equal(own.startTime, text.slice(text.lastIndexOf(')') + 2).split(' ')[19]);
  assert.ok(own.rssPages > 0);
  assert.equal(processAlive(process.pid, own.startTime), true);
  assert.equal(processAlive(process.pid, String(Number(own.startTime) + 1)), false);
});

test('a pid with no process is dead', { skip: !linux && 'no /proc here' }, () => {
  // Above the kernel's pid_max: never a process.
  assert.equal(procStat(2 ** 23), null);
  assert.equal(processAlive(2 ** 23, '1'), false);
});

test('a zombie (exited, never reaped) is dead though /proc still lists it', { skip: !linux && 'no /proc here' }, async (t) => {
  // sh starts a short sleep, then becomes a long one without waiting: the short one stays a zombie of it.
  const parent = spawn('sh', ['-c', 'sleep 0.1 & exec sleep 30'], { stdio: 'ignore' });
  t.after(() => parent.kill('SIGKILL'));
  const zombie = await eventually(() => {
    const children = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children.map((pid) => ({ pid, stat: procStat(pid) })).find((c) => c.stat?.state === 'Z');
  }, 10_000, 'the zombie child');
  assert.ok(zombie.stat);
  assert.equal(processAlive(zombie.pid, zombie.stat.startTime), false);
  assert.equal(processAlive(parent.pid as number, (procStat(parent.pid as number) as { startTime: string }).startTime), true);
});
