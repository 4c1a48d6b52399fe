import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseArgs } from '../../src/cli/args';
import { profileArgs, profileBaseName, topTable } from '../../src/cli/profile';
import { HerdError } from '../../src/errors';
import { loadTarget } from '../../src/config/load';
import { flameTree, profileMs, profileProblem, topFunctions, type CpuProfile } from '../../src/profile/cpuProfile';
import { KEPT_PER_APP, ProfileStore } from '../../src/daemon/state/profileStore';
import { requestProblem } from '../../src/daemon/control/requestShape';
import { StallProfiler } from '../../src/daemon/supervision/profiling';

/**
 * A handmade profile, 10 samples 1 ms apart:
 *   (root) 1
 *     (program) 2
 *     main 3 (app.js:1)
 *       handler 4 (app.js:10)
 *         spin 5 (app.js:20)         <- 5 samples
 *       handler 6 (app.js:10)        <- the same function again, other node: 1 sample of its own
 *         spin 7 (app.js:20)         <- 2 samples
 *     (idle) 8                       <- 1 sample
 *     fib 9 (lib.js:1) -> fib 10     <- recursion: 1 sample in the inner one
 */
const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, scriptId: url ? '1' : '0', url, lineNumber, columnNumber: 0 });
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 8, 9] },
    { id: 2, callFrame: frame('(program)') },
    { id: 3, callFrame: frame('main', 'file:///app/app.js', 0), children: [4, 6] },
    { id: 4, callFrame: frame('handler', 'file:///app/app.js', 9), children: [5] },
    { id: 5, callFrame: frame('spin', 'file:///app/app.js', 19) },
    { id: 6, callFrame: frame('handler', 'file:///app/app.js', 9), children: [7] },
    { id: 7, callFrame: frame('spin', 'file:///app/app.js', 19) },
    { id: 8, callFrame: frame('(idle)') },
    { id: 9, callFrame: frame('fib', 'file:///app/lib.js', 0), children: [10] },
    { id: 10, callFrame: frame('fib', 'file:///app/lib.js', 0) },
  ],
  startTime: 0,
  endTime: 10_000,
  samples: [5, 5, 5, 5, 5, 7, 7, 6, 8, 10],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

describe('CPU profile computations', () => {
  test('top functions by self time, with total time counted once under recursion', () => {
    assert.equal(profileMs(PROFILE), 10);
    const top = topFunctions(PROFILE);
    assert.deepEqual(top.map((f) => [f.functionName, f.location, Math.round(f.selfMs), Math.round(f.selfPct), Math.round(f.totalPct)]), [
      ['spin', '/app/app.js:20', 7, 70, 70],
      ['handler', '/app/app.js:10', 1, 10, 80],
      ['(idle)', '(idle)', 1, 10, 10],
      ['fib', '/app/lib.js:1', 1, 10, 10],
    ]);
    assert.equal(topFunctions(PROFILE, 1).length, 1);
  });

  test('the flame tree merges the same function under one parent, widest first, and drops frames without time', () => {
    const root = flameTree(PROFILE);
    assert.equal(root.name, '(root)');
    assert.equal(root.total, 10);
    assert.deepEqual(root.children.map((c) => [c.name, c.total]), [['main', 8], ['(idle)', 1], ['fib', 1]]);
    const main = root.children[0];
    assert.equal(main?.children.length, 1, 'the two handler nodes are one frame');
    const handler = main?.children[0];
    assert.deepEqual([handler?.name, handler?.location, handler?.self, handler?.total], ['handler', '/app/app.js:10', 1, 8]);
    assert.deepEqual(handler?.children.map((c) => [c.name, c.total, c.self]), [['spin', 7, 7]]);
    assert.deepEqual(root.children[2]?.children.map((c) => [c.name, c.total]), [['fib', 1]]);
  });

  test('without samples the hit counts share the duration', () => {
    const hits: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 3] },
        { id: 2, callFrame: frame('a', 'file:///a.js'), hitCount: 3 },
        { id: 3, callFrame: frame('b', 'file:///b.js'), hitCount: 1 },
      ],
      startTime: 0, endTime: 4000,
    };
    assert.deepEqual(topFunctions(hits).map((f) => [f.functionName, f.selfMs]), [['a', 3], ['b', 1]]);
  });

  test('a profile that is not one is named before anything reads it', () => {
    assert.equal(profileProblem(PROFILE), null);
    assert.equal(profileProblem(null), 'not an object');
    assert.equal(profileProblem({ nodes: [] }), 'no nodes');
    assert.equal(profileProblem({ nodes: [{ id: 1 }], startTime: 0, endTime: 1 }), 'a node without id or callFrame');
  });

  test('the top table lines up', () => {
    const text = topTable(topFunctions(PROFILE, 2));
    assert.match(text, /self ms\s+self\s+total\s+function\s+file:line/);
    assert.match(text, /7\.0\s+70\.0%\s+70\.0%\s+spin\s+\/app\/app\.js:20/);
  });
});

describe('herd profile arguments', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'herd-profile-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const argsOf = (line: string) => profileArgs(parseArgs(['profile', ...line.split(' ').filter(Boolean)]), dir);
  const usageOf = (line: string) => {
    try {
      argsOf(line);
    } catch (err) {
      assert.ok(err instanceof HerdError && err.code === 'HERD_ERR_USAGE', String(err));
      return err.message;
    }
    assert.fail(`no error for ${line}`);
  };

  test('defaults, durations, workers and --out (a value here, a switch for logs)', () => {
    assert.deepEqual(argsOf('api'), { name: 'api', worker: null, durationMs: 10_000, outDir: dir });
    assert.deepEqual(argsOf('api --worker all --duration 1.5 --out .'), { name: 'api', worker: 'all', durationMs: 1500, outDir: dir });
    assert.equal(argsOf('api --worker 3 --duration 500ms').worker, 3);
    assert.equal(argsOf('api --duration=2m').durationMs, 120_000);
    assert.equal(parseArgs(['logs', 'api', '--out']).flags.out, true);
  });

  test('bad input names the argument', () => {
    assert.match(usageOf('') as string, /missing app name/);
    assert.match(usageOf('api --duration soon') as string, /--duration takes a duration/);
    assert.match(usageOf('api --duration 10m') as string, /--duration must be from 100ms to 5m/);
    assert.match(usageOf('api --duration 50ms') as string, /--duration must be from/);
    assert.match(usageOf('api --worker first') as string, /--worker takes a worker id/);
    assert.match(usageOf(`api --out ${path.join(dir, 'missing')}`) as string, /--out: .* is not a directory/);
  });

  test('file names carry the app, the worker and the time', () => {
    assert.match(profileBaseName('my api', 2, Date.UTC(2026, 11, 2, 12, 0, 0)), /^my_api-w2-2026120\d-\d{6}$/);
  });

  test('the daemon checks the request too', () => {
    assert.equal(requestProblem({ type: 'profile', name: 'api', worker: null, durationMs: 1000 }), null);
    assert.match(requestProblem({ type: 'profile', name: 'api', worker: 'x', durationMs: 1000 }) as string, /profile.worker/);
    assert.match(requestProblem({ type: 'profile', name: 'api', worker: 'all', durationMs: 10 * 60_000 }) as string, /profile.durationMs/);
  });
});

describe('profileOnStall', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'herd-stallprof-'));
    await writeFile(path.join(dir, 'server.js'), "require('node:http').createServer().listen(process.env.PORT);\n");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const load = async (app: Record<string, unknown>) => {
    const sub = await mkdtemp(path.join(dir, 'c'));
    const cfg = path.join(sub, 'herd.config.json');
    await writeFile(cfg, JSON.stringify({ apps: [{ name: 'api', script: '../server.js', ...app }] }));
    return loadTarget(cfg, { cwd: sub, env: { PATH: '/usr/bin', HOME: '/home/me' }, envName: null, overrides: {}, interpreter: process.execPath, cpus: 2 });
  };
  const problemsOf = async (app: Record<string, unknown>) => {
    try {
      await load(app);
    } catch (err) {
      return (err as HerdError).details.filter((d) => d.includes('profileOnStall'));
    }
    return [];
  };

  test('the config key, with defaults for duration and cooldown', async () => {
    const { specs } = await load({ profileOnStall: { delay: '200ms' } });
    assert.deepEqual(specs[0]?.profileOnStall, { delay: 200, duration: 5000, cooldown: 300_000 });
    const full = await load({ profileOnStall: { delay: 50, duration: '2s', cooldown: '1m' } });
    assert.deepEqual(full.specs[0]?.profileOnStall, { delay: 50, duration: 2000, cooldown: 60_000 });
    assert.equal((await load({})).specs[0]?.profileOnStall, null);
    const off = await load({ profileOnStall: { delay: '200ms' }, metrics: false });
    assert.ok(off.warnings.some((w) => /apps\[0\]\.profileOnStall: never fires with metrics: false/.test(w)), off.warnings.join('\n'));
    assert.ok(!full.warnings.some((w) => /never fires/.test(w)));
  });

  test('every field is checked, and named', async () => {
    const problems = await problemsOf({ profileOnStall: { duration: '10m', cooldown: 'later' } });
    assert.ok(problems.some((p) => p.startsWith('apps[0].profileOnStall.delay: is required')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('apps[0].profileOnStall.duration: must be at most 5m')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('apps[0].profileOnStall.cooldown: must be a duration')), problems.join('\n'));
    assert.ok((await problemsOf({ profileOnStall: { delay: 'slow' } })).some((p) => p.startsWith('apps[0].profileOnStall.delay: must be a duration')));
    assert.ok((await problemsOf({ profileOnStall: true })).some((p) => p.startsWith('apps[0].profileOnStall: must be an object')));
  });

  test('the store keeps the last few per app, private, and lists them from the names', async () => {
    const store = new ProfileStore(path.join(dir, 'profiles'));
    for (let i = 0; i < KEPT_PER_APP + 2; i++) {
      await store.save('api', { time: Date.UTC(2026, 0, 1, 0, 0, i), worker: i % 2, pid: 100 + i, delayMs: 500 + i, durationMs: 5000 }, '{"nodes":[]}');
    }
    const list = await store.list('api');
    assert.equal(list.length, KEPT_PER_APP);
    assert.deepEqual([list[0]?.pid, list[0]?.worker, list[0]?.delayMs, list[0]?.durationMs, list[0]?.time], [102, 0, 502, 5000, Date.UTC(2026, 0, 1, 0, 0, 2)]);
    assert.equal((await stat(list[0]?.path as string)).mode & 0o777, 0o600);
    assert.equal(await store.read('api', list[0]?.file as string), '{"nodes":[]}');
    assert.equal(await store.read('api', '../../etc/passwd'), null);
    assert.deepEqual(await store.list('other'), []);
  });

  test('a slow loop starts one profile per cool-down per app', async () => {
    const notes: string[] = [];
    let now = 1_000_000;
    let inspected = 0;
    await mkdir(path.join(dir, 'p2'), { recursive: true });
    const profiler = new StallProfiler(new ProfileStore(path.join(dir, 'p2')), (_app, worker, m) => notes.push(`[${worker}] ${m}`), () => now);
    const spec = { name: 'api', profileOnStall: { delay: 200, duration: 100, cooldown: 60_000 } };
    const worker = (slot: number) => ({ slot, pid: 10 + slot, exited: null, inspect: () => (inspected++, Promise.reject(new Error('no inspector here'))) });
    const report = (max: number) => ({ eventLoop: { p50: 1, p99: max, max, utilization: 1 } });
    const feed = (slot: number, max: number) => profiler.onMetrics(spec as never, worker(slot) as never, report(max) as never);
    feed(0, 150);
    assert.equal(inspected, 0, 'below the delay');
    feed(0, 600);
    feed(1, 700);
    assert.equal(inspected, 1, 'one per app in the cool-down, whichever worker');
    // The first capture has ended (its inspector refused): one in flight per app.
    await new Promise((resolve) => setImmediate(resolve));
    now += 60_000;
    feed(1, 250);
    assert.equal(inspected, 2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.match(notes[0] as string, /^\[0\] pid 10 event-loop delay 600ms passed profileOnStall's 200ms/);
    assert.ok(notes.some((n) => /CPU profile not kept: no inspector here/.test(n)), notes.join('\n'));
  });
});
