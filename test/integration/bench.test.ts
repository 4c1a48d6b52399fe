import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { BenchResult } from '../../src/bench/result';
import { FIXTURES, freePort, herdHome, runCli } from '../helpers';

test('herd bench of a real app: --json with per-second worker figures, a failing --expect exits 1, a passing one 0, a bad one 2', async (t) => {
  const { home, herd } = herdHome(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-bench-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const started = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) });
  assert.equal(started.code, 0, started.stderr);

  // A bad expression is refused before any load is sent.
  const bad = await herd(['bench', 'api', '-d', '2s', '--expect', 'p99<200ms,p98<1s']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--expect "p98<1s": unknown metric "p98"/);

  // Closed loop (autocannon), thresholds that hold.
  const report = path.join(dir, 'run.html');
  const ok = await herd(['bench', 'api', '-c', '4', '-d', '2s', '--json', '--expect', 'p99<30s,errors<50%,requests>0', '--report', report]);
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  const r = JSON.parse(ok.stdout) as BenchResult;
  assert.equal(r.mode, 'closed');
  assert.equal(r.url, `http://127.0.0.1:${port}/`);
  assert.ok(r.requests > 0);
  assert.equal(r.status['200'], r.requests);
  assert.equal(typeof r.valid, 'boolean');
  assert.ok(r.generator.cpuPercent > 0);
  assert.deepEqual(r.workers.map((w) => w.id), [0, 1]);
  for (const w of r.workers) {
    assert.ok(w.seconds.length >= 1, `worker ${w.id} has per-second figures`);
    for (const s of w.seconds) {
      assert.ok(s.rss > 0 && s.heapUsed > 0 && s.pid !== null, JSON.stringify(s));
      for (const k of ['cpu', 'elu', 'loopDelayP99', 'gcPauseMs', 'gcCount'] as const) assert.equal(typeof s[k], 'number');
    }
  }
  assert.deepEqual(r.thresholds.map((x) => [x.expression, x.pass]), [['p99<30s', true], ['errors<50%', true], ['requests>0', true]]);
  assert.equal(r.report, report);
  assert.match(readFileSync(report, 'utf8'), /<svg /);

  // Open loop, a threshold nobody meets: exit 1, each threshold listed; the report goes to the cwd by default.
  const fail = await runCli(['bench', 'api', '--rate', '50', '-c', '2', '-d', '1s', '--expect', 'p50<0.001ms,errors<50%'], { HERD_HOME: home }, dir);
  assert.equal(fail.code, 1, fail.stderr + fail.stdout);
  assert.match(fail.stdout, /open loop at 50\/s/);
  assert.match(fail.stdout, /^ {2}FAIL {2}p50<0\.001ms {2}\(/m);
  assert.match(fail.stdout, /^ {2}pass {2}errors<50% {2}\(\d+\.\d+%\)/m);
  const written = /^report: (.+)$/m.exec(fail.stdout)?.[1] ?? '';
  assert.equal(path.dirname(written), dir);
  assert.match(path.basename(written), /^herd-bench-api-\d{8}-\d{6}\.html$/);
  assert.ok(existsSync(written), written);
});
