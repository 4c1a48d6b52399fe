import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { summarizeSnapshot } from '../../src/heap/snapshotSummary';
import type { HeapDiff } from '../../src/heap/heapDiff';
import type { HeapSnapshotResult } from '../../src/protocol/heap';
import { FIXTURES, freePort, herdHome, list, load, runCli } from '../helpers';

test('herd heap: a snapshot of a live worker under keep-alive load fails no request; --diff names the leaking constructor; bad input writes nothing', async (t) => {
  const { home, herd } = herdHome(t);
  const cwd = mkdtempSync(path.join(tmpdir(), 'herd-heap-cwd-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  const inCwd = (args: string[]) => runCli(args, { HERD_HOME: home }, cwd);
  const port = await freePort();
  const started = await runCli(['start', path.join(FIXTURES, 'session-leak.js'), '--name', 'leaky', '-i', '2'], { HERD_HOME: home, PORT: String(port) });
  assert.equal(started.code, 0, started.stderr);
  const [app] = await list(herd);
  assert.deepEqual(app?.workers.map((w) => w.status), ['online', 'online']);

  // Bad input: usage errors exit 2, an unknown app 1; nothing is written in either case.
  const bad = await Promise.all([
    inCwd(['heap', 'leaky', '--diff', 'soon']),
    inCwd(['heap', 'leaky', '--worker', 'first']),
    inCwd(['heap']),
    inCwd(['heap', 'nope']),
  ]);
  assert.deepEqual(bad.map((r) => r.code), [2, 2, 2, 1], bad.map((r) => r.stderr).join(''));
  assert.match(bad[0]?.stderr ?? '', /--diff soon: a duration/);
  assert.match(bad[3]?.stderr ?? '', /no app named "nope"/);
  assert.deepEqual(readdirSync(cwd), []);

  // One snapshot while 8 keep-alive clients send requests back to back.
  const traffic = load(port, 8);
  const taken = await inCwd(['heap', 'leaky', '--worker', '1', '--json']);
  assert.equal(taken.code, 0, taken.stderr + taken.stdout);
  const result = JSON.parse(taken.stdout) as HeapSnapshotResult & { file: string; bytes: number };
  const stats = await traffic.stop();
  // The diff runs under a load of new connections, which reach the worker
  // again once it is back in rotation (keep-alive clients stay where they
  // were sent), so that records pile up between its snapshots.
  const fresh = load(port, 4, '/', false);
  const diffed = await inCwd(['heap', 'leaky', '--worker', '0', '--diff', '2s', '--json']);
  const freshStats = await fresh.stop();
  assert.equal(diffed.code, 0, diffed.stderr + diffed.stdout);

  for (const s of [stats, freshStats]) {
    assert.deepEqual({ failed: s.failed, non2xx: s.non2xx, errors: s.errors }, { failed: 0, non2xx: 0, errors: [] });
    assert.ok(s.ok > 0);
  }
  assert.equal(result.rotation?.out, true, JSON.stringify(result));
  assert.equal(result.rotation?.resumed, 1);
  assert.ok(result.pauseMs > 0);
  assert.equal(path.dirname(result.file), cwd);
  assert.match(path.basename(result.file), /^leaky-w1-\d{8}-\d{6}\.heapsnapshot$/);
  assert.equal(statSync(result.file).mode & 0o777, 0o600);
  // Only the finished file: no partial one beside it, and the --diff files are gone.
  assert.deepEqual(readdirSync(cwd), [path.basename(result.file)]);
  const summary = await summarizeSnapshot(result.file);
  assert.ok((summary.constructors.get('SessionRecord')?.count ?? 0) > 0, 'the snapshot holds the records');

  const diff = (JSON.parse(diffed.stdout) as { diff: HeapDiff }).diff;
  assert.equal(diff.grew[0]?.name, 'SessionRecord', JSON.stringify(diff.grew.slice(0, 5)));
  assert.ok((diff.grew[0]?.countDelta ?? 0) > 0);

  // Both workers serve again after their snapshots.
  const [after] = await list(herd);
  assert.deepEqual(after?.workers.map((w) => [w.status, w.restarts]), [['online', 0], ['online', 0]]);
});
