import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { FIXTURES, freePort, herdHome, list } from '../helpers';

interface Report {
  app: string;
  seed: number;
  kills: { at: number; kind: string; pid: number; worker: number | null; recoveredMs: number | null; failed: number | null }[];
  killsByKind: { worker: number; daemon: number };
  requests: number;
  availability: number | null;
  errors: Record<string, number>;
  recovery: { p50: number | null; worst: number | null; unrecovered: number };
  before: { requests: number; p99: number | null } | null;
  during: { requests: number; p99: number | null };
  errored: unknown[];
  problems: string[];
  ok: boolean;
}

test('herd chaos: a short run kills workers and the daemon, every kill recovers, the JSON report adds up; --expect fails a run below it; bad arguments exit 2 with nothing killed', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  const started = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'web', '-i', '2'], { PORT: String(port) });
  assert.equal(started.code, 0, started.stderr);
  const pids = async () => (await list(herd)).flatMap((a) => a.workers.map((w) => w.pid));

  // Bad arguments first: each is named, exits 2, and no worker is touched.
  const before = await pids();
  for (const [args, pattern] of [
    [['chaos', 'nope'], /no app named "nope"/],
    [['chaos', 'web', '--kill', 'shim'], /--kill takes worker, daemon or both/],
    [['chaos', 'web', '--every', 'often'], /--every takes a duration/],
    [['chaos', 'web', '--signal', 'STOP', '--kill', 'daemon'], /--signal STOP freezes workers only/],
  ] as const) {
    const r = await herd([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
  assert.deepEqual(await pids(), before, 'nothing was killed by a bad argument');

  const r = await herd(['chaos', 'web', '--kill', 'both', '--every', '400ms', '--for', '3s', '--baseline', '500ms', '-c', '10', '--seed', '7', '--expect', '1%', '--json']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.app, 'web');
  assert.equal(report.seed, 7);
  assert.ok(report.kills.length >= 3, `kills happened: ${JSON.stringify(report.kills)}`);
  assert.equal(report.killsByKind.worker + report.killsByKind.daemon, report.kills.length);
  for (const k of report.kills) {
    assert.ok(k.kind === 'worker' || k.kind === 'daemon');
    assert.ok(k.recoveredMs !== null && k.recoveredMs >= 0, `kill of ${k.kind} pid ${k.pid} recovered: ${JSON.stringify(k)}`);
  }
  assert.equal(report.recovery.unrecovered, 0);
  assert.ok(report.recovery.worst !== null && report.recovery.p50 !== null && report.recovery.p50 <= report.recovery.worst);
  assert.ok(report.before !== null && report.before.requests > 0, 'a baseline was measured');
  assert.ok(report.requests > 0 && report.requests === report.during.requests);
  assert.ok(report.availability !== null && report.availability > 1);
  const failedSum = report.kills.reduce((s, k) => s + (k.failed ?? 0), 0);
  const errorSum = Object.values(report.errors).reduce((s, n) => s + n, 0);
  assert.equal(failedSum, errorSum, 'every failure is counted against the kill it followed');
  assert.deepEqual(report.errored, []);
  assert.equal(report.ok, true);
  const after = await list(herd);
  assert.ok(after[0]?.status === 'online' && after[0].workers.every((w) => w.status === 'online'), JSON.stringify(after));

  // A probe whose every request fails (nothing listens on --url) falls below --expect: exit 1, the report says why.
  const closed = await freePort();
  const low = await herd(['chaos', 'web', '--every', '200ms', '--for', '200ms', '--baseline', '0', '-c', '2', '--url', `http://127.0.0.1:${closed}/`, '--expect', '50%', '--json']);
  assert.equal(low.code, 1, low.stderr);
  const lowReport = JSON.parse(low.stdout) as Report;
  assert.equal(lowReport.availability, 0);
  assert.ok((lowReport.errors.ECONNREFUSED ?? 0) > 0, JSON.stringify(lowReport.errors));
  assert.match(lowReport.problems.join('\n'), /availability 0\.000% is below the expected 50%/);
});
