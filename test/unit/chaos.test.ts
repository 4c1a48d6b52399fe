import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkFlags, parseArgs } from '../../src/cli/args';
import { COMMANDS } from '../../src/cli/commands';
import { readChaosOptions, readChaosSignal, readPercent, type ChaosOptions } from '../../src/chaos/options';
import { availabilityOf, buildReport, formatPercent, percentile, reportText, type KillRecord, type PhaseFigures, type RunRecord } from '../../src/chaos/report';
import { ChaosSchedule, mulberry32 } from '../../src/chaos/schedule';
import { probeUrl } from '../../src/chaos/target';
import { HerdError } from '../../src/errors';

function options(line: string): ChaosOptions {
  const args = parseArgs(line.split(' ').filter(Boolean));
  checkFlags(args, COMMANDS.chaos as NonNullable<typeof COMMANDS.chaos>);
  return readChaosOptions(args);
}

function usageError(line: string, pattern: RegExp): void {
  assert.throws(() => options(line), (err: unknown) => err instanceof HerdError && err.code === 'HERD_ERR_USAGE' && pattern.test(err.message), line);
}

test('chaos options: defaults, durations, kinds, signals, seed, probe settings', () => {
  const d = options('chaos api');
  assert.equal(d.app, 'api');
  assert.deepEqual([d.everyMs, d.forMs, d.kill, d.signal, d.probe, d.connections, d.baselineMs, d.timeoutMs, d.expect, d.url], [2000, 60_000, 'worker', 'SIGKILL', true, 50, 5000, 10_000, null, null]);
  assert.ok(Number.isInteger(d.seed) && d.seed >= 0 && d.seed <= 0xffffffff);
  assert.equal(d.seedGiven, false);

  const o = options('chaos api --every 300ms --for 10m --kill both --seed 42 -c 8 --baseline 0 --expect 99.9% --timeout 2s');
  assert.deepEqual([o.everyMs, o.forMs, o.kill, o.seed, o.seedGiven, o.connections, o.baselineMs, o.expect, o.timeoutMs], [300, 600_000, 'both', 42, true, 8, 0, 99.9, 2000]);
  assert.equal(options('chaos api --signal STOP').signal, 'SIGSTOP');
  assert.equal(options('chaos api --signal sigkill').signal, 'SIGKILL');
  assert.equal(options('chaos api --url http://127.0.0.1:8080/health').url, 'http://127.0.0.1:8080/health');
  const quiet = options('chaos api --no-probe --kill daemon');
  assert.equal(quiet.probe, false);
  assert.equal(quiet.baselineMs, 0, 'no baseline without probe traffic');
  assert.equal(readChaosSignal('9'), 'SIGKILL');
  assert.equal(readChaosSignal('TERM'), null);
  assert.equal(readPercent('99.99%'), 99.99);
  assert.equal(readPercent('100'), 100);
  assert.equal(readPercent('101%'), null);
  assert.equal(readPercent('most'), null);
});

test('chaos options: every bad argument is a usage error naming it', () => {
  usageError('chaos', /missing app name/);
  usageError('chaos api web', /unexpected argument "web"/);
  usageError('chaos all', /one app/);
  usageError('chaos api --every soon', /--every takes a duration.*"soon"/);
  usageError('chaos api --every 10ms', /--every must be at least 100 ms/);
  usageError('chaos api --for 0', /--for must be at least/);
  usageError('chaos api --baseline x', /--baseline takes a duration/);
  usageError('chaos api --kill shim', /--kill takes worker, daemon or both; got "shim"/);
  usageError('chaos api --signal TERM', /--signal takes KILL or STOP; got "TERM"/);
  usageError('chaos api --signal STOP --kill both', /--signal STOP freezes workers only/);
  usageError('chaos api --seed -1', /--seed takes a whole number/);
  usageError('chaos api --seed 4294967296', /--seed takes a whole number/);
  usageError('chaos api -c 0', /--connections \(-c\) takes a number from 1/);
  usageError('chaos api --url ftp://x', /--url takes an http/);
  usageError('chaos api --url nowhere', /--url takes an http/);
  usageError('chaos api --expect 200%', /--expect takes an availability in percent.*"200%"/);
  usageError('chaos api --no-probe --expect 99%', /--expect needs the probe traffic/);
  usageError('chaos api --no-probe --url http://127.0.0.1:1/', /--url needs the probe traffic/);
  assert.throws(() => options('chaos api --watch'), /chaos does not take --watch/);
});

test('the seeded schedule repeats with its seed, keeps gaps within half and one and a half of --every, and picks every target', () => {
  const a = new ChaosSchedule(7, 2000);
  const b = new ChaosSchedule(7, 2000);
  const gapsA = Array.from({ length: 200 }, () => a.nextGapMs());
  const gapsB = Array.from({ length: 200 }, () => b.nextGapMs());
  assert.deepEqual(gapsA, gapsB, 'same seed, same gaps');
  assert.notDeepEqual(gapsA, Array.from({ length: 200 }, () => new ChaosSchedule(8, 2000).nextGapMs()));
  assert.ok(gapsA.every((g) => g >= 1000 && g <= 3000), 'within [every/2, 3*every/2]');
  const mean = gapsA.reduce((s, g) => s + g, 0) / gapsA.length;
  assert.ok(mean > 1800 && mean < 2200, `mean gap ${mean} close to --every`);

  const s = new ChaosSchedule(1, 1000);
  assert.equal(s.pick([]), null);
  const counts = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const t = s.pick(['w0', 'w1', 'daemon']) as string;
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  for (const t of ['w0', 'w1', 'daemon']) assert.ok((counts.get(t) ?? 0) > 800, `${t} picked ${counts.get(t)} of 3000`);
  const r = mulberry32(123);
  const xs = Array.from({ length: 1000 }, r);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

const phase = (requests: number, failed: number, errors: Record<string, number>, p99: number): PhaseFigures =>
  ({ requests, ok: requests - failed, failed, errors, seconds: 10, p50: 1, p99, max: p99 * 2 });

function kill(at: number, recoveredMs: number | null, failed: number | null, kind: 'worker' | 'daemon' = 'worker'): KillRecord {
  return { at, time: new Date(at).toISOString(), kind, signal: 'SIGKILL', pid: 1000 + at, worker: kind === 'worker' ? 0 : null, recoveredMs, failed };
}

function run(over: Partial<RunRecord>, opts: Partial<ChaosOptions> = {}): RunRecord {
  return {
    options: { ...options('chaos api --seed 5'), ...opts },
    url: 'http://127.0.0.1:3000/', startedAt: new Date(0).toISOString(), durationMs: 10_000, interrupted: false,
    kills: [], skipped: 0, before: phase(1000, 0, {}, 2), during: phase(10_000, 0, {}, 5), errored: [],
    ...over,
  };
}

test('the report: availability, errors by kind, lost per kill, recovery p50 and worst, and what fails a run', () => {
  assert.equal(availabilityOf(999, 1000), 99.9);
  assert.equal(availabilityOf(0, 0), null);
  assert.equal(percentile([5, 1, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([], 50), null);
  assert.equal(formatPercent(99.95), '99.950%');

  const kills = [kill(5000, 300, 12), kill(7000, 500, 8, 'daemon'), kill(9000, 400, 0)];
  const r = buildReport(run({ kills, during: phase(10_000, 20, { ECONNRESET: 18, 'HTTP 503': 2 }, 9) }, { expect: 99.9 }));
  assert.equal(r.requests, 10_000);
  assert.equal(r.failed, 20);
  assert.equal(r.availability, 99.8);
  assert.deepEqual(r.errors, { ECONNRESET: 18, 'HTTP 503': 2 });
  assert.deepEqual(r.killsByKind, { worker: 2, daemon: 1 });
  assert.deepEqual(r.recovery, { p50: 400, worst: 500, unrecovered: 0 });
  assert.deepEqual(r.lostPerKill, { mean: 20 / 3, worst: 12 });
  assert.equal(r.before?.p99, 2);
  assert.equal(r.during?.p99, 9);
  assert.equal(r.ok, false, 'below --expect');
  assert.deepEqual(r.problems, ['availability 99.800% is below the expected 99.9%']);
  assert.equal(r.seed, 5);

  const good = buildReport(run({ kills: [kill(5000, 250, 3)], during: phase(10_000, 3, { ECONNRESET: 3 }, 4) }, { expect: 99.9 }));
  assert.equal(good.ok, true);
  assert.match(reportText(good), /availability 99\.970% \(expected >= 99\.9%: ok\)/);
  assert.match(reportText(good), /recovery\s+p50 250 ms, worst 250 ms; every kill recovered/);
  assert.match(reportText(good), /latency p99\s+before 2\.00 ms .*during 4\.00 ms/);

  const stuck = buildReport(run({ kills: [kill(5000, null, 0)], errored: [{ app: 'api', at: 6000, reason: 'crash loop' }] }));
  assert.equal(stuck.ok, false, 'an unrecovered kill or an errored app fails the run, --expect or not');
  assert.deepEqual(stuck.problems, ['1 kill(s) not recovered by the end of the run', 'api went errored: crash loop']);
  assert.match(reportText(stuck), /1 NOT recovered/);

  const quiet = buildReport(run({ url: null, before: null, during: null, kills: [kill(5000, 100, null)] }));
  assert.equal(quiet.requests, null);
  assert.equal(quiet.availability, null);
  assert.equal(quiet.lostPerKill, null);
  assert.equal(quiet.ok, true);
  assert.match(reportText(quiet), /no probe traffic/);
});

test('the probe URL from the app\'s listening addresses', () => {
  assert.equal(probeUrl(['[::]:3000']), 'http://127.0.0.1:3000/');
  assert.equal(probeUrl(['0.0.0.0:8080']), 'http://127.0.0.1:8080/');
  assert.equal(probeUrl(['*:81']), 'http://127.0.0.1:81/');
  assert.equal(probeUrl(['10.1.2.3:9000']), 'http://10.1.2.3:9000/');
  assert.equal(probeUrl(['[::1]:9000']), 'http://[::1]:9000/');
  assert.equal(probeUrl(['/tmp/app.sock', '127.0.0.1:4000']), 'http://127.0.0.1:4000/');
  assert.equal(probeUrl(['/tmp/app.sock']), null);
  assert.equal(probeUrl([]), null);
});
