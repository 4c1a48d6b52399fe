#!/usr/bin/env node
// Autoscaling, issue 16's must-shows 1 and 3 (docs/autoscaling.md).
//
//   node bench/autoscale.mjs [--light 10] [--heavy 40] [--idle 40] [--idle-rate 5] [--rate 100] [--work-ms 10] [--p99-target 100]
//     A CPU-bound API (test/fixtures/cpu.js: GET /work does WORK_MS of
//     synchronous work) with instances { min: 1, max: 4 }, autoscale on
//     event-loop utilisation (target 0.7, coolDown 15s), under a step of
//     open-loop load: --light s at 30 req/s (one worker copes), --heavy s
//     at --rate req/s (more than one worker can serve), then --idle s at
//     --idle-rate req/s (5: a trickle, so the scale-down drains under traffic).
//     Each second: workers, client p99, requests and failed requests; the
//     autoscaler's steps with their reasons. Prints a table and an ASCII
//     chart, writes bench/results/autoscale.json.
//
//   node bench/autoscale.mjs --cost [--seconds 30] [--rounds 2]
//     Daemon CPU (utime + stime of /proc/<daemon pid>/stat) over --seconds
//     with 4 idle apps autoscaling (instances { min: 1, max: 2 }) against the
//     same 4 apps with a fixed count, alternated, as a ratio. Writes
//     bench/results/autoscale-cost.json.
//
// Needs a build (npm run build).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { check, Herd, freePort, log, ROOT, sleep, tmpDir, rmrf, waitHttp } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const RESULTS = path.join(ROOT, 'bench', 'results');
const CPU_APP = path.join(ROOT, 'test', 'fixtures', 'cpu.js');
const HELLO_APP = path.join(ROOT, 'test', 'fixtures', 'hello.js');

/** Percentile of a sorted array. */
const pct = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);

function writeConfig(dir, apps) {
  const file = path.join(dir, 'herd.config.js');
  fs.writeFileSync(file, `module.exports = ${JSON.stringify({ apps }, null, 2)};\n`);
  return file;
}

/**
 * Open-loop load at `rate` req/s for `seconds`: request i is due at
 * start + i/rate whatever happened before, and its latency counts from then
 * (what a user would see while the pool is too small). Not autocannon: its
 * rate limit sends each second's quota in a burst (src/bench/openLoop.ts).
 */
function drive(port, { rate, seconds, connections = 64 }, onResponse, onError) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const start = performance.now();
  const total = Math.floor(rate * seconds);
  let sent = 0;
  let open = 0;
  return new Promise((resolve) => {
    const finish = () => {
      if (sent === total && open === 0) {
        agent.destroy();
        resolve();
      }
    };
    const send = (intended) => {
      open++;
      const req = http.get({ host: '127.0.0.1', port, path: '/work', agent, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          open--;
          onResponse(res.statusCode, performance.now() - intended);
          finish();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        open--;
        onError(err);
        finish();
      });
    };
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) send(start + (sent++ * 1000) / rate);
      if (sent === total) {
        clearInterval(timer);
        finish();
      }
    }, 2);
  });
}

async function stepRun() {
  const light = Number(opt('light', 10));
  const heavy = Number(opt('heavy', 40));
  const idle = Number(opt('idle', 40));
  const rate = Number(opt('rate', 100));
  const workMs = Number(opt('work-ms', 10));
  const p99Target = Number(opt('p99-target', 100));
  const idleRate = Number(opt('idle-rate', 5));
  const dir = tmpDir('herd-autoscale-app');
  const port = await freePort();
  const herd = new Herd('autoscale');
  try {
    const config = writeConfig(dir, [{
      name: 'cpu', script: CPU_APP, env: { PORT: String(port), WORK_MS: String(workMs) },
      instances: { min: 1, max: 4 }, autoscale: { metric: 'eventLoop.utilization', target: 0.7, coolDown: '15s' },
    }]);
    check(await herd.cli(['start', config]), 'herd start');
    await waitHttp(port);
    const client = await herd.connectClient();
    const seconds = [];
    const t0 = Date.now();
    const second = () => Math.floor((Date.now() - t0) / 1000);
    const at = (s) => (seconds[s] ??= { t: s, phase: '', workers: null, requests: 0, failed: 0, latencies: [] });
    let phase = 'light';
    const errorCodes = {};
    const onResponse = (status, ms) => {
      const s = at(second());
      s.requests++;
      if (status >= 400) {
        s.failed++;
        (s.errors ??= {})[`HTTP ${status}`] = (s.errors[`HTTP ${status}`] ?? 0) + 1;
        errorCodes[`HTTP ${status}`] = (errorCodes[`HTTP ${status}`] ?? 0) + 1;
      }
      s.latencies.push(ms);
    };
    const onError = (err) => {
      const s = at(second());
      s.failed++;
      const code = err.code || err.message;
      (s.errors ??= {})[code] = (s.errors[code] ?? 0) + 1;
      errorCodes[code] = (errorCodes[code] ?? 0) + 1;
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const d = await client.request({ type: 'describe', name: 'cpu' });
        const s = at(second());
        s.phase = phase;
        s.workers = d.workers.filter((w) => w.status !== 'draining').length;
        s.online = d.workers.filter((w) => w.status === 'online').length;
        await sleep(1000 - ((Date.now() - t0) % 1000));
      }
    })();
    log(`light: ${light}s at 30 req/s`);
    await drive(port, { rate: 30, seconds: light }, onResponse, onError);
    phase = 'heavy';
    const stepAt = Date.now() - t0;
    log(`heavy: ${heavy}s at ${rate} req/s`);
    await drive(port, { rate, seconds: heavy }, onResponse, onError);
    phase = 'after';
    const endAt = Date.now() - t0;
    // A trickle after the load, so the scale-down drains a worker under traffic too.
    log(`after: ${idle}s at ${idleRate} req/s`);
    if (idleRate > 0) await drive(port, { rate: idleRate, seconds: idle }, onResponse, onError);
    else await sleep(idle * 1000);
    sampling = false;
    await sampler;
    const detail = await client.request({ type: 'describe', name: 'cpu' });
    const decisions = (detail.autoscale?.decisions ?? []).map((x) => ({ ...x, atMs: x.time - t0 }));
    const rows = seconds.filter(Boolean).map((s) => {
      const sorted = s.latencies.sort((a, b) => a - b);
      return { t: s.t, phase: s.phase, workers: s.workers, online: s.online ?? null, requests: s.requests, failed: s.failed, errors: s.errors ?? null, p50: pct(sorted, 50), p99: pct(sorted, 99) };
    });
    const firstUp = decisions.find((x) => x.to > x.from && x.atMs >= stepAt);
    const firstDown = decisions.find((x) => x.to < x.from && x.atMs >= endAt);
    const heavyRows = rows.filter((r) => r.phase === 'heavy');
    const upSecond = firstUp ? Math.ceil(firstUp.atMs / 1000) : Infinity;
    const scaledRows = heavyRows.filter((r) => r.t >= upSecond + 2 && r.p99 !== null);
    const overTarget = scaledRows.filter((r) => r.p99 >= p99Target).length;
    const p99s = scaledRows.map((r) => r.p99).sort((a, b) => a - b);
    const settledP99 = heavyRows.slice(-10).map((r) => r.p99).filter((x) => x !== null);
    // The first heavy second from which every heavy second's p99 stays under the target.
    let back = null;
    for (let i = heavyRows.length - 1; i >= 0 && (heavyRows[i].p99 ?? Infinity) < p99Target; i--) back = heavyRows[i];
    const result = {
      when: new Date().toISOString(), node: process.version, cores: (await import('node:os')).availableParallelism(),
      options: { light, heavy, idle, idleRate, rate, workMs, target: 0.7, coolDownMs: 15_000, p99Target },
      stepAtMs: stepAt, loadEndAtMs: endAt,
      scaleUpAfterStepMs: firstUp ? firstUp.atMs - stepAt : null,
      scaleDownAfterLoadEndMs: firstDown ? firstDown.atMs - endAt : null,
      failedTotal: rows.reduce((n, r) => n + r.failed, 0),
      errorCodes,
      requestsTotal: rows.reduce((n, r) => n + r.requests, 0),
      p99UnderTargetFromS: back ? back.t : null,
      p99UnderTargetAfterStepMs: back ? back.t * 1000 - stepAt : null,
      heavySecondsAfterScaleUp: scaledRows.length,
      heavySecondsOverP99Target: overTarget,
      heavyP99MedianAfterScaleUp: pct(p99s, 50),
      p99LastTenHeavySecondsMax: settledP99.length ? Math.max(...settledP99) : null,
      held: detail.autoscale?.held ?? null,
      decisions, rows,
    };
    fs.mkdirSync(RESULTS, { recursive: true });
    fs.writeFileSync(path.join(RESULTS, 'autoscale.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log('| s | phase | workers | req | failed | p50 ms | p99 ms |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.t} | ${r.phase} | ${r.workers ?? '-'} | ${r.requests} | ${r.failed} | ${r.p50 ?? '-'} | ${r.p99 ?? '-'} |`);
    console.log('\nscale steps:');
    for (const x of decisions) console.log(`  t=${(x.atMs / 1000).toFixed(1)}s ${x.from} → ${x.to}: ${x.reason}`);
    console.log(`\nload step at t=${(stepAt / 1000).toFixed(1)}s; first scale-up ${firstUp ? `${(result.scaleUpAfterStepMs / 1000).toFixed(1)}s after it` : 'none'}; ` +
      `load ended at t=${(endAt / 1000).toFixed(1)}s; first scale-down ${firstDown ? `${(result.scaleDownAfterLoadEndMs / 1000).toFixed(1)}s after it` : 'none'}; ` +
      `client p99 under ${p99Target} ms for the rest of the step from t=${back ? back.t : '-'}s; ` +
      `from 2 s after the scale-up, ${overTarget} of ${scaledRows.length} heavy seconds had p99 >= ${p99Target} ms (median p99 ${p99s.length ? pct(p99s, 50).toFixed(0) : '-'} ms); ` +
      `${result.failedTotal} failed of ${result.requestsTotal} requests ${JSON.stringify(errorCodes)}; held: ${result.held ?? '-'}`);
    console.log(`\n${chart(rows)}`);
  } finally {
    await herd.destroy();
    rmrf(dir);
  }
}

/** Workers (a step line, W) and client p99 (*, log scale) per second, as text for BENCHMARKS.md. */
export function chart(rows) {
  const height = 12;
  const maxP99 = Math.max(10, ...rows.map((r) => r.p99 ?? 0));
  const logMax = Math.log10(maxP99);
  const line = (r, level) => {
    const p = r.p99 === null ? null : Math.round((Math.log10(Math.max(1, r.p99)) / logMax) * height);
    const w = r.workers === null ? null : Math.round((r.workers / 4) * height);
    if (p === level && w === level) return '#';
    if (p === level) return '*';
    if (w === level) return 'W';
    return ' ';
  };
  const out = [];
  for (let level = height; level >= 1; level--) {
    const label = `${String(Math.round(10 ** ((level / height) * logMax))).padStart(5)}ms ${level % 3 === 0 ? String((level / height) * 4).padStart(3) : '   '}w |`;
    out.push(label + rows.map((r) => line(r, level)).join(''));
  }
  out.push(`${' '.repeat(12)}+${rows.map((r) => (r.phase === 'heavy' ? '=' : r.phase === 'light' ? '-' : '.')).join('')}`);
  out.push(`${' '.repeat(13)}seconds (- light 30/s, = heavy, . after: a trickle); W workers (right scale 0-4), * client p99 (log, left), # both`);
  return out.join('\n');
}

function daemonCpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}

async function costRun() {
  const seconds = Number(opt('seconds', 30));
  const rounds = Number(opt('rounds', 2));
  const runs = [];
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? ['auto', 'fixed'] : ['fixed', 'auto']) {
      const dir = tmpDir('herd-autoscale-cost');
      const herd = new Herd(`autoscale-cost-${mode}`);
      try {
        const ports = await Promise.all([0, 1, 2, 3].map(() => freePort()));
        const apps = ports.map((port, i) => ({
          name: `app${i}`, script: HELLO_APP, env: { PORT: String(port) },
          ...(mode === 'auto' ? { instances: { min: 1, max: 2 }, autoscale: { coolDown: '10s' } } : { instances: 1 }),
        }));
        check(await herd.cli(['start', writeConfig(dir, apps)]), `herd start (${mode})`);
        for (const port of ports) await waitHttp(port);
        await sleep(3000); // the start's own work done
        const pid = herd.daemonPid();
        const before = daemonCpuTicks(pid);
        const t = Date.now();
        await sleep(seconds * 1000);
        const ticks = daemonCpuTicks(pid) - before;
        const ms = ticks * 10; // USER_HZ is 100 on Linux
        const wall = Date.now() - t;
        runs.push({ round, mode, cpuMs: ms, wallMs: wall, percent: (100 * ms) / wall });
        log(`${mode}: daemon CPU ${ms} ms over ${(wall / 1000).toFixed(1)} s (${((100 * ms) / wall).toFixed(2)}%)`);
      } finally {
        await herd.destroy();
        rmrf(dir);
      }
    }
  }
  const sum = (mode) => runs.filter((r) => r.mode === mode).reduce((n, r) => n + r.cpuMs, 0);
  const ratio = sum('fixed') > 0 ? sum('auto') / sum('fixed') : null;
  const result = { when: new Date().toISOString(), node: process.version, seconds, rounds, runs, autoCpuMs: sum('auto'), fixedCpuMs: sum('fixed'), ratio };
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'autoscale-cost.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`daemon CPU with 4 apps autoscaling: ${sum('auto')} ms; fixed: ${sum('fixed')} ms; ratio ${ratio === null ? 'n/a' : ratio.toFixed(2)} (${rounds} rounds of ${seconds} s each)`);
}

if (argv.includes('--cost')) await costRun();
else await stepRun();
