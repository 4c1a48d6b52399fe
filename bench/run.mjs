#!/usr/bin/env node
// herd benchmark harness: herd vs PM2 vs Node's cluster module, side by side.
//
//   node bench/run.mjs [scenario...]     (npm run bench)
//
// Scenarios: reload, reload-broken, kill9, throughput, memory, crashloop, daemon.
// Prints a markdown report on stdout (progress on stderr) and writes
// bench/results/latest.json and bench/results/latest.md.
// Timings are reported, never asserted: the machine is shared. Only
// functional checks (exit codes, refused connections, ...) set the exit code.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import {
  APPS, BENCH_DIR, HERD_CLI, ROOT, Herd, Pm2, avgMemory, check, childrenOf, cmdlineOf, ensureWrk, fmt, freePort,
  destroyAll, freshConnectionLoad, httpGet, isRunning, keepAliveLoad, log, mb, median, memoryOf, now, parentOf, run, sleep,
  spawnServer, sumMemory, tmpDir, rmrf, waitFor, waitHttp, warm, wrk,
} from './lib.mjs';

const require = createRequire(import.meta.url);
const app = (f) => path.join(APPS, f);

// ---------------------------------------------------------------- scenarios

/** Load, then `reloads` sequential reloads, under 50 keep-alive connections. */
async function reloadUnderLoad(label, port, reloadOnce, reloads = 10) {
  const load = keepAliveLoad(port, { connections: 50 });
  const durations = [];
  const failures = [];
  let stats;
  try {
    await sleep(1000);
    for (let i = 0; i < reloads; i++) {
      const r = await reloadOnce();
      durations.push(Math.round(r.ms));
      if (r.code !== 0) failures.push({ i, code: r.code, output: (r.stdout + r.stderr).trim().slice(-800) });
      log(`${label}: reload ${i + 1}/${reloads} exit ${r.code} in ${Math.round(r.ms)} ms`);
    }
    await sleep(1000);
  } finally {
    stats = await load.stop();
  }
  return { ...stats, reloads, reloadsOk: reloads - failures.length, failures, reloadMs: durations };
}

async function scenarioReload() {
  const out = {};
  const herd = new Herd('reload');
  try {
    const port = await freePort();
    await herd.start(app('slow.js'), 'api', { env: { PORT: String(port) } });
    await waitHttp(port);
    const before = (await herd.app('api')).workers.map((w) => w.pid);
    out.herd = await reloadUnderLoad('herd', port, () => herd.cli(['reload', 'api'], { timeoutMs: 60_000 }));
    const after = (await herd.app('api')).workers.map((w) => w.pid);
    out.herd.pidsReplaced = after.every((p) => !before.includes(p));
  } finally {
    await herd.destroy();
  }
  const pm2 = new Pm2('reload');
  try {
    const port = await freePort();
    await pm2.start(app('slow.js'), 'api', { env: { PORT: String(port) } });
    await waitHttp(port);
    const before = await pm2.workerPids('api');
    out.pm2 = await reloadUnderLoad('pm2', port, () => pm2.cli(['reload', 'api'], { timeoutMs: 60_000 }));
    const after = await pm2.workerPids('api');
    out.pm2.pidsReplaced = after.every((p) => !before.includes(p));
  } finally {
    await pm2.destroy();
  }
  out.checks = {
    'herd: every reload exited 0': out.herd.reloadsOk === out.herd.reloads,
    'herd: 0 errors, 0 non-2xx': out.herd.errors === 0 && out.herd.non2xx === 0,
  };
  return out;
}

async function scenarioReloadBroken() {
  const out = {};
  const herd = new Herd('broken');
  const dir = tmpDir('version');
  const versionFile = path.join(dir, 'VERSION');
  try {
    fs.writeFileSync(versionFile, 'v1\n');
    const port = await freePort();
    await herd.start(app('versioned.js'), 'api', { env: { PORT: String(port), VERSION_FILE: versionFile } });
    await waitHttp(port);
    const before = (await herd.app('api')).workers.map((w) => w.pid).sort();

    // 1. broken version: the reload must fail and keep the old workers
    fs.writeFileSync(versionFile, 'throw\n');
    let load = keepAliveLoad(port);
    let broken, brokenLoad;
    try {
      await sleep(1000);
      broken = await herd.cli(['reload', 'api'], { timeoutMs: 90_000 });
      log(`herd reload (broken) exit ${broken.code} in ${Math.round(broken.ms)} ms`);
      await sleep(1000);
    } finally {
      brokenLoad = await load.stop();
    }
    const appAfter = await herd.app('api');
    const after = appAfter.workers.map((w) => w.pid).sort();
    const output = broken.stdout + broken.stderr;
    out.broken = {
      exitCode: broken.code,
      ms: Math.round(broken.ms),
      errorShown: output.includes('broken version requested'),
      output: output.trim().split('\n').slice(-12).join('\n'),
      requests: brokenLoad.requests,
      errors: brokenLoad.errors,
      timeouts: brokenLoad.timeouts,
      non2xx: brokenLoad.non2xx,
      errorCodes: brokenLoad.errorCodes,
      pidsBefore: before,
      pidsAfter: after,
      pidsUnchanged: JSON.stringify(before) === JSON.stringify(after),
      statusAfter: appAfter.status,
      workersAfter: appAfter.workers.map((w) => `${w.id}:${w.pid}:${w.status}`),
      served: (await httpGet(port)).body,
    };

    // 2. fixed version: the reload must succeed
    fs.writeFileSync(versionFile, 'v2\n');
    load = keepAliveLoad(port);
    let fixed, fixedLoad;
    try {
      await sleep(1000);
      fixed = await herd.cli(['reload', 'api'], { timeoutMs: 90_000 });
      log(`herd reload (fixed) exit ${fixed.code} in ${Math.round(fixed.ms)} ms`);
      await sleep(1000);
    } finally {
      fixedLoad = await load.stop();
    }
    const fixedApp = await herd.app('api');
    out.fixed = {
      exitCode: fixed.code,
      ms: Math.round(fixed.ms),
      output: fixed.code === 0 ? undefined : (fixed.stdout + fixed.stderr).trim().slice(-800),
      requests: fixedLoad.requests,
      errors: fixedLoad.errors,
      timeouts: fixedLoad.timeouts,
      non2xx: fixedLoad.non2xx,
      errorCodes: fixedLoad.errorCodes,
      statusAfter: fixedApp.status,
      workersAfter: fixedApp.workers.map((w) => `${w.id}:${w.pid}:${w.status}`),
      served: (await httpGet(port)).body,
    };
  } finally {
    await herd.destroy();
    rmrf(dir);
  }
  out.checks = {
    'broken reload exits 1': out.broken.exitCode === 1,
    'broken reload shows the error': out.broken.errorShown,
    'broken reload keeps the old worker pids': out.broken.pidsUnchanged,
    'broken reload: 0 errors, 0 non-2xx': out.broken.errors === 0 && out.broken.non2xx === 0,
    'fixed reload exits 0': out.fixed.exitCode === 0,
    'fixed reload serves v2': out.fixed.served === 'v2',
    'fixed reload: 0 errors, 0 non-2xx': out.fixed.errors === 0 && out.fixed.non2xx === 0,
  };
  return out;
}

const KILL9_WAIT_MS = 45_000;

async function scenarioKill9() {
  const out = { tries: [] };
  const herd = new Herd('kill9');
  try {
    const port = await freePort();
    await herd.start(app('hello.js'), 'api', { env: { PORT: String(port) } });
    await waitHttp(port);
    // The control socket's `list` (what `herd list --json` prints) answers in ~1 ms; spawning the CLI
    // costs ~100+ ms of Node start-up per poll on 2 busy cores. BENCH_POLL=cli polls with the CLI.
    const viaClient = process.env.BENCH_POLL !== 'cli' && (await herd.connectClient());
    out.pollMethod = viaClient ? 'the control socket (`list` request of dist/client, the data of `herd list --json`) every 20 ms' : '`herd list --json` every 20 ms';
    const load = freshConnectionLoad(port, { concurrency: 16 });
    let stats;
    try {
      await sleep(1000);
      for (let t = 0; t < 5; t++) {
        const id = t % 2;
        const workers = await herd.workers('api');
        const victim = workers.find((w) => w.id === id);
        if (!victim || victim.status !== 'online') throw new Error(`worker ${id} is not online before try ${t + 1}: ${JSON.stringify(workers)}`);
        const seen = [];
        const see = (x) => seen[seen.length - 1] !== x && seen.push(x);
        const t0 = now();
        process.kill(victim.pid, 'SIGKILL');
        let replacement = null;
        let error = null;
        try {
          replacement = await waitFor(
            async () => {
              const a = await herd.appState('api');
              const w = a.workers.find((x) => x.id === id);
              see(`${w ? w.status : 'absent'}${w && w.pid === victim.pid ? '(old pid)' : ''}/app ${a.status}`);
              return w && w.pid !== victim.pid && w.status === 'online' ? w : null;
            },
            { timeoutMs: KILL9_WAIT_MS, intervalMs: 20, what: `worker ${id} to be replaced after kill -9 ${victim.pid}` },
          );
        } catch (err) {
          const a = await herd.describe('api').catch(() => null);
          error = `${err.message}; app status ${a?.status}, reason: ${a?.reason}`;
        }
        const ms = now() - t0;
        out.tries.push({ worker: id, oldPid: victim.pid, newPid: replacement?.pid ?? null, ms: Math.round(ms), statesSeen: seen, error });
        log(`kill9: try ${t + 1}: worker ${id} pid ${victim.pid} -> ${replacement?.pid} ${error ? `NOT replaced: ${error}` : 'online'} after ${Math.round(ms)} ms`);
        if (error) break;
        await sleep(1000);
      }
    } finally {
      stats = await load.stop();
    }
    const a = await herd.app('api');
    out.appStatus = a.status;
    out.worstMs = Math.max(...out.tries.map((t) => t.ms));
    const plain = out.tries.filter((t) => !t.statesSeen.some((x) => x.includes('app errored')));
    out.crashLoopTries = out.tries.length - plain.length;
    out.worstMsOutsideCrashLoop = plain.length ? Math.max(...plain.map((t) => t.ms)) : null;
    out.load = stats;
    out.econnrefused = stats.errorCodes.ECONNREFUSED || 0;
  } finally {
    await herd.destroy();
  }
  out.checks = {
    '5 replacements': out.tries.filter((t) => !t.error).length === 5,
    '0 ECONNREFUSED': out.econnrefused === 0,
    'app online after the kills': out.appStatus === 'online',
  };
  return out;
}

async function scenarioThroughput() {
  const w = ensureWrk();
  const out = { wrk: w.path, wrkInstalledNow: w.installed, runs: [] };
  const herd = new Herd('tput');
  const pm2 = new Pm2('tput');
  const servers = [];
  try {
    const ports = { herd: await freePort(), pm2: await freePort(), 'node-cluster': await freePort(), 'node-single': await freePort() };
    await herd.start(app('hello.js'), 'hello', { env: { PORT: String(ports.herd) } });
    await pm2.start(app('hello.js'), 'hello', { env: { PORT: String(ports.pm2) } });
    servers.push(spawnServer([app('node-cluster.js')], { env: { PORT: String(ports['node-cluster']), WORKERS: '2' } }));
    servers.push(spawnServer([app('hello.js')], { env: { PORT: String(ports['node-single']) } }));
    for (const p of Object.values(ports)) await waitHttp(p);
    const configs = Object.keys(ports);
    for (const mode of ['close', 'keepalive']) {
      for (let round = 0; round < 2; round++) {
        for (const cfg of configs) {
          await wrk(w.path, ports[cfg], { seconds: 2, close: mode === 'close' }); // warm-up
          const r = await wrk(w.path, ports[cfg], { seconds: 10, close: mode === 'close', sampleSpread: mode === 'keepalive' });
          out.runs.push({ mode, round, config: cfg, ...r });
          log(`throughput: ${mode} ${cfg} round ${round + 1}: ${Math.round(r.rps)} req/s`);
        }
      }
    }
    out.median = {};
    for (const mode of ['close', 'keepalive']) {
      out.median[mode] = {};
      for (const cfg of configs) out.median[mode][cfg] = median(out.runs.filter((r) => r.mode === mode && r.config === cfg).map((r) => r.rps));
    }
    out.ratios = {
      'herd/pm2 (Connection: close)': out.median.close.herd / out.median.close.pm2,
      'herd/node-cluster (keep-alive)': out.median.keepalive.herd / out.median.keepalive['node-cluster'],
      'herd/node-single (Connection: close)': out.median.close.herd / out.median.close['node-single'],
      'herd/pm2 (keep-alive)': out.median.keepalive.herd / out.median.keepalive.pm2,
    };
    out.targets = {
      'herd/pm2 (Connection: close) >= 1.5': out.ratios['herd/pm2 (Connection: close)'] >= 1.5,
      'herd/node-cluster (keep-alive) >= 0.95': out.ratios['herd/node-cluster (keep-alive)'] >= 0.95,
    };
  } finally {
    for (const s of servers) await s.stop();
    await herd.destroy();
    await pm2.destroy();
  }
  return out;
}

async function scenarioMemory() {
  const out = {};
  const apps = ['mem-a', 'mem-b'];

  const herd = new Herd('mem');
  try {
    const ports = [];
    for (const name of apps) {
      const port = await freePort();
      ports.push(port);
      await herd.start(app('hello.js'), name, { env: { PORT: String(port) } });
    }
    for (const p of ports) await warm(p, 300);
    await sleep(3000);
    const daemon = herd.daemonPid();
    const workerPids = (await herd.list()).flatMap((a) => a.workers.map((w) => w.pid));
    const others = childrenOf(daemon).filter((p) => !workerPids.includes(p));
    out.herd = {
      daemonPid: daemon,
      daemon: memoryOf(daemon),
      nonWorkerPids: [daemon, ...others],
      nonWorker: sumMemory([daemon, ...others].map(memoryOf)),
      workers: workerPids.length,
      worker: avgMemory(workerPids.map(memoryOf)),
    };
  } finally {
    await herd.destroy();
  }

  const pm2 = new Pm2('mem');
  try {
    const ports = [];
    for (const name of apps) {
      const port = await freePort();
      ports.push(port);
      await pm2.start(app('hello.js'), name, { env: { PORT: String(port) } });
    }
    for (const p of ports) await waitHttp(p);
    for (const p of ports) await warm(p, 300);
    await sleep(3000);
    const god = pm2.godPid();
    const workerPids = (await pm2.jlist()).map((p) => p.pid);
    const others = childrenOf(god).filter((p) => !workerPids.includes(p));
    out.pm2 = {
      daemonPid: god,
      daemon: memoryOf(god),
      nonWorkerPids: [god, ...others],
      nonWorker: sumMemory([god, ...others].map(memoryOf)),
      workers: workerPids.length,
      worker: avgMemory(workerPids.map(memoryOf)),
    };
  } finally {
    await pm2.destroy();
  }

  const plain = [];
  try {
    const ports = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      ports.push(port);
      plain.push(spawnServer([app('hello.js')], { env: { PORT: String(port) } }));
    }
    for (const p of ports) await waitHttp(p);
    for (const p of ports) await warm(p, 300);
    await sleep(3000);
    out.plain = { processes: plain.length, worker: avgMemory(plain.map((s) => memoryOf(s.child.pid))) };
  } finally {
    for (const s of plain) await s.stop();
  }
  out.workerRssOverPlainMB = {
    herd: mb(out.herd.worker.rss - out.plain.worker.rss),
    pm2: mb(out.pm2.worker.rss - out.plain.worker.rss),
  };
  out.targets = { 'herd worker RSS - plain node RSS <= 4 MB': out.workerRssOverPlainMB.herd <= 4 };
  return out;
}

async function scenarioCrashloop() {
  const out = {};
  const herd = new Herd('crash');
  try {
    const r = await herd.cli(['start', app('crash-at-boot.js'), '--name', 'crashy', '-i', '2'], { timeoutMs: 90_000 });
    const output = r.stdout + r.stderr;
    const a = await herd.app('crashy');
    const d = await herd.describe('crashy');
    const stderrText = Array.isArray(d.lastStderr) ? d.lastStderr.join('\n') : String(d.lastStderr ?? '');
    out.startExitCode = r.code;
    out.startToErroredMs = Math.round(r.ms);
    out.statusAfterStart = a.status;
    out.restartsAtErrored = d.restarts;
    out.workerRestarts = a.workers.reduce((s, w) => s + (w.restarts || 0), 0);
    out.startShowsError = output.includes('always fails at boot');
    out.describeShowsStderr = stderrText.includes('always fails at boot');
    out.describeReason = d.reason;
    out.startOutput = output.trim().split('\n').slice(-10).join('\n');
  } finally {
    await herd.destroy();
  }
  out.checks = {
    'herd start exits 1': out.startExitCode === 1,
    'status errored': out.statusAfterStart === 'errored',
    'herd start prints the error': out.startShowsError,
    'herd describe shows the stderr': out.describeShowsStderr,
  };
  out.targets = { 'start -> errored < 10 s': out.startToErroredMs < 10_000 };
  return out;
}

const DAEMON_DEAD_MS = 5000;
const DAEMON_KEEP_DIR = '/tmp/bench-daemon-keep';

/** `<ISO time> [<worker id>] pid=<pid> n=<k>` lines of numbered.js in HERD_HOME/logs/<name>-out.log (and rotated files), per pid. */
function numberedLines(home, name) {
  const dir = path.join(home, 'logs');
  const perPid = new Map();
  for (const file of fs.readdirSync(dir).filter((f) => f.startsWith(`${name}-out.log`) && !f.endsWith('.gz'))) {
    for (const line of fs.readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      const m = line.match(/^(\S+) \[(\d+)\] pid=(\d+) n=(\d+)$/);
      if (!m) continue;
      const pid = Number(m[3]);
      if (!perPid.has(pid)) perPid.set(pid, { worker: Number(m[2]), lines: [] });
      perPid.get(pid).lines.push({ at: Date.parse(m[1]), n: Number(m[4]) });
    }
  }
  return perPid;
}

/** Per pid: lines, highest n, numbers missing in 1..max, numbers written more than once, lines stamped within [from, to). */
function lineGaps(perPid, pids, { from, to } = {}) {
  return pids.map((pid) => {
    const lines = perPid.get(pid)?.lines ?? [];
    const seen = new Set(lines.map((l) => l.n));
    const max = lines.reduce((a, l) => Math.max(a, l.n), 0);
    const inWindow = from == null ? null : lines.filter((l) => l.at >= from && l.at < to).length;
    return { pid, worker: perPid.get(pid)?.worker ?? null, lines: lines.length, max, missing: max - seen.size, duplicated: lines.length - seen.size, inWindow };
  });
}

/** Wait until a file stops growing (the shim has written what the stopped workers printed). */
async function settledLog(home, name) {
  const file = path.join(home, 'logs', `${name}-out.log`);
  let last = -1;
  await waitFor(
    () => {
      const size = fs.statSync(file).size;
      const same = size === last;
      last = size;
      return same;
    },
    { timeoutMs: 10_000, intervalMs: 250, what: `${file} to stop growing` },
  );
}

/** Copy a HERD_HOME (without its sockets) to DAEMON_KEEP_DIR; returns the copy's path. */
function keepHome(home, label) {
  const dest = path.join(DAEMON_KEEP_DIR, `${new Date().toISOString().replace(/[:.]/g, '-')}-${label}`);
  try {
    fs.cpSync(home, dest, { recursive: true, filter: (src) => !fs.lstatSync(src).isSocket() });
    log(`daemon: kept a copy of ${home} in ${dest}`);
    return dest;
  } catch (err) {
    log(`daemon: could not copy ${home} to ${dest}: ${err.message}`);
    return null;
  }
}

/** SIGKILL whatever pid of the list still runs (shims and workers a failed run may leave behind once their daemon is gone). */
function killLeftovers(pids, what) {
  const left = [...pids].filter((p) => p && p !== process.pid && isRunning(p));
  for (const p of left) {
    log(`daemon: ${what} pid ${p} (${cmdlineOf(p)}) still running after cleanup; sending SIGKILL`);
    try {
      process.kill(p, 'SIGKILL');
    } catch {}
  }
  return left;
}

const byId = (workers) => [...workers].sort((a, b) => a.id - b.id);
const pidsOf = (workers) => byId(workers).map((w) => w.pid);

/** kill -9 a pid and wait until it is no longer running (reaped or a zombie). */
async function kill9(pid, what) {
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !isRunning(pid), { timeoutMs: 5_000, intervalMs: 10, what: `${what} (pid ${pid}) to die after kill -9` });
}

/** The herd half: kill -9 of the daemon under load, adoption, reload, logs, worker deaths around adoption, herd update. */
async function daemonHerd(herd, seen) {
  const out = {};
  const note = (workers) => {
    for (const w of workers) {
      seen.add(w.pid);
      const shim = parentOf(w.pid);
      if (shim > 1) seen.add(shim);
    }
  };
  const port = await freePort();
  await herd.start(app('numbered.js'), 'api', { env: { PORT: String(port) } });
  await waitHttp(port);

  // 1. kill -9 of the daemon under 50 keep-alive connections, 5 s without a daemon, adoption by `herd list`, then a reload
  const first = await herd.app('api');
  note(first.workers);
  const before = pidsOf(first.workers);
  const shimBefore = parentOf(before[0]);
  const oldDaemon = herd.daemonPid();
  const k = { daemonPidBefore: oldDaemon, pidsBefore: before, shimPidBefore: shimBefore };
  const load = keepAliveLoad(port, { connections: 50 });
  try {
    await sleep(1000);
    k.killedAt = Date.now();
    await kill9(oldDaemon, 'the herd daemon');
    await sleep(DAEMON_DEAD_MS);
    k.shimAliveWhileDead = isRunning(shimBefore);
    k.workersAliveWhileDead = before.every(isRunning);
    k.listAt = Date.now();
    const listed = await herd.cli(['list', '--json'], { timeoutMs: 30_000 });
    k.listExitCode = listed.code;
    k.listMs = Math.round(listed.ms);
    if (listed.code !== 0) k.listOutput = (listed.stdout + listed.stderr).trim().slice(-800);
    const adopted = listed.code === 0 ? JSON.parse(listed.stdout).find((a) => a.name === 'api') : null;
    k.workersAfterAdoption = adopted ? byId(adopted.workers).map((w) => `${w.id}:${w.pid}:${w.status}`) : [];
    k.samePidsOnline = !!adopted && JSON.stringify(pidsOf(adopted.workers)) === JSON.stringify(before) && adopted.workers.every((w) => w.status === 'online');
    k.daemonPidAfter = herd.daemonPid();
    k.shimPidAfter = parentOf(before[0]);
    log(`daemon: herd list after ${DAEMON_DEAD_MS} ms without a daemon: exit ${listed.code} in ${k.listMs} ms, daemon ${oldDaemon} -> ${k.daemonPidAfter}, workers ${k.workersAfterAdoption.join(' ')}`);
    const reload = await herd.cli(['reload', 'api'], { timeoutMs: 60_000 });
    k.reloadExitCode = reload.code;
    k.reloadMs = Math.round(reload.ms);
    if (reload.code !== 0) k.reloadOutput = (reload.stdout + reload.stderr).trim().slice(-800);
    log(`daemon: herd reload after adoption: exit ${reload.code} in ${k.reloadMs} ms`);
    await sleep(1000);
  } finally {
    k.load = await load.stop();
  }
  k.servedAfter = await httpGet(port, { timeoutMs: 2000 }).then((r) => r.status, (err) => err.code || err.message);
  const reloaded = await herd.app('api');
  note(reloaded.workers);
  k.pidsAfterReload = pidsOf(reloaded.workers);
  k.pidsReplacedByReload = k.pidsAfterReload.every((p) => !before.includes(p));
  out.kill = k;

  // 2. the log after `herd stop`: every numbered line of the original workers exactly once
  check(await herd.cli(['stop', 'api'], { timeoutMs: 60_000 }), 'herd stop api');
  await settledLog(herd.home, 'api');
  const perPid = numberedLines(herd.home, 'api');
  out.logs = {
    original: lineGaps(perPid, before, { from: k.killedAt, to: k.listAt }),
    reloaded: lineGaps(perPid, k.pidsAfterReload),
    deadWindowMs: k.listAt - k.killedAt,
  };

  // 3. a worker killed while no daemon runs (replaced after adoption), then one killed under the adopting daemon
  check(await herd.cli(['start', 'api'], { timeoutMs: 60_000 }), 'herd start api (stopped)');
  await waitHttp(port);
  const useClient = process.env.BENCH_POLL !== 'cli';
  out.deaths = { tries: [], pollAfterAdoption: useClient ? 'the control socket (`list` request of dist/client) every 20 ms' : '`herd list --json` every 20 ms' };
  for (let t = 0; t < 5; t++) {
    const workers = byId((await herd.app('api')).workers);
    note(workers);
    if (workers.length !== 2 || workers.some((w) => w.status !== 'online')) throw new Error(`workers not online before try ${t + 1}: ${JSON.stringify(workers)}`);
    const [w0, w1] = workers;
    const daemonBefore = herd.daemonPid();
    await kill9(daemonBefore, 'the herd daemon');
    await kill9(w0.pid, 'worker 0');
    const seen0 = [];
    const t0 = now();
    let firstListMs = null;
    let replaced0 = null;
    let error = null;
    try {
      replaced0 = await waitFor(
        async () => {
          const r = await herd.cli(['list', '--json'], { timeoutMs: 30_000 });
          if (firstListMs === null) firstListMs = Math.round(r.ms);
          if (r.code !== 0) {
            seen0.push(`exit ${r.code}`);
            return null;
          }
          const w = JSON.parse(r.stdout).find((a) => a.name === 'api')?.workers.find((x) => x.id === 0);
          const state = `${w ? w.status : 'absent'}${w && w.pid === w0.pid ? '(old pid)' : ''}`;
          if (seen0[seen0.length - 1] !== state) seen0.push(state);
          return w && w.pid !== w0.pid && w.status === 'online' ? w : null;
        },
        { timeoutMs: KILL9_WAIT_MS, intervalMs: 50, what: `worker 0 to be replaced after kill -9 ${w0.pid} while no daemon ran` },
      );
    } catch (err) {
      error = err.message;
    }
    const try_ = { daemonPidBefore: daemonBefore, daemonPidAfter: herd.daemonPid(), worker0: { oldPid: w0.pid, newPid: replaced0?.pid ?? null, ms: Math.round(now() - t0), firstListMs, statesSeen: seen0 }, error };
    out.deaths.tries.push(try_);
    log(`daemon: try ${t + 1}: daemon and worker 0 (${w0.pid}) killed; herd list -> worker 0 ${replaced0 ? `${replaced0.pid} online` : 'NOT replaced'} after ${try_.worker0.ms} ms`);
    if (error) break;
    if (useClient) await herd.connectClient();
    const seen1 = [];
    const t1 = now();
    process.kill(w1.pid, 'SIGKILL');
    let replaced1 = null;
    try {
      replaced1 = await waitFor(
        async () => {
          const a = await herd.appState('api');
          const w = a.workers.find((x) => x.id === 1);
          const state = `${w ? w.status : 'absent'}${w && w.pid === w1.pid ? '(old pid)' : ''}/app ${a.status}`;
          if (seen1[seen1.length - 1] !== state) seen1.push(state);
          return w && w.pid !== w1.pid && w.status === 'online' ? w : null;
        },
        { timeoutMs: KILL9_WAIT_MS, intervalMs: 20, what: `worker 1 to be replaced after kill -9 ${w1.pid} under the adopting daemon` },
      );
    } catch (err) {
      try_.error = err.message;
    } finally {
      herd.client?.close();
      herd.client = null;
    }
    try_.worker1 = { oldPid: w1.pid, newPid: replaced1?.pid ?? null, ms: Math.round(now() - t1), statesSeen: seen1 };
    log(`daemon: try ${t + 1}: worker 1 (${w1.pid}) killed under the adopting daemon -> ${replaced1 ? `${replaced1.pid} online` : 'NOT replaced'} after ${try_.worker1.ms} ms`);
    if (try_.error) break;
    await sleep(1500); // past crashLoop.minUptime, so the next kill is a healthy worker's
  }
  const done = out.deaths.tries.filter((t) => !t.error);
  out.deaths.worstWorker0Ms = done.length ? Math.max(...done.map((t) => t.worker0.ms)) : null;
  out.deaths.worstWorker1Ms = done.length ? Math.max(...done.map((t) => t.worker1.ms)) : null;

  // 4. herd update under 50 keep-alive connections
  const pre = await herd.app('api');
  note(pre.workers);
  const u = { daemonPidBefore: herd.daemonPid(), pidsBefore: pidsOf(pre.workers) };
  const load2 = keepAliveLoad(port, { connections: 50 });
  try {
    await sleep(1000);
    const r = await herd.cli(['update'], { timeoutMs: 90_000 });
    u.exitCode = r.code;
    u.ms = Math.round(r.ms);
    u.output = (r.stdout + r.stderr).trim().slice(-800);
    u.daemonPidAfter = herd.daemonPid();
    log(`daemon: herd update exit ${r.code} in ${u.ms} ms, daemon ${u.daemonPidBefore} -> ${u.daemonPidAfter}`);
    // a command sent the moment `herd update` returned, while the old daemon may still be finishing
    const next = await herd.cli(['list', '--json'], { timeoutMs: 30_000 });
    u.nextCommand = { exitCode: next.code, ms: Math.round(next.ms), oldDaemonRunning: isRunning(u.daemonPidBefore), output: next.code === 0 ? undefined : (next.stdout + next.stderr).trim().slice(-400) };
    u.oldDaemonExited = await waitFor(() => !isRunning(u.daemonPidBefore), { timeoutMs: 15_000, what: `the old daemon (pid ${u.daemonPidBefore}) to exit` }).catch(() => false);
    await sleep(1000);
  } finally {
    u.load = await load2.stop();
  }
  const post = await herd.app('api');
  note(post.workers);
  u.pidsAfter = pidsOf(post.workers);
  u.pidsUnchanged = JSON.stringify(u.pidsAfter) === JSON.stringify(u.pidsBefore) && post.workers.every((w) => w.status === 'online');
  check(await herd.cli(['stop', 'api'], { timeoutMs: 60_000 }), 'herd stop api (after update)');
  await settledLog(herd.home, 'api');
  u.logs = lineGaps(numberedLines(herd.home, 'api'), u.pidsBefore);
  out.update = u;
  return out;
}

/** The PM2 half: kill -9 of PM2's God daemon under 50 keep-alive connections, 5 s, then `pm2 jlist`. */
async function daemonPm2(pm2, seen) {
  const out = {};
  const port = await freePort();
  await pm2.start(app('numbered.js'), 'api', { env: { PORT: String(port) } });
  await waitHttp(port);
  out.pidsBefore = await pm2.workerPids('api');
  for (const p of out.pidsBefore) seen.add(p);
  out.godPidBefore = pm2.godPid();
  const load = keepAliveLoad(port, { connections: 50 });
  try {
    await sleep(1000);
    await kill9(out.godPidBefore, "PM2's God daemon");
    await sleep(DAEMON_DEAD_MS);
  } finally {
    out.load = await load.stop();
  }
  out.workersAlive = out.pidsBefore.map(isRunning);
  out.servedAfter = await httpGet(port, { timeoutMs: 2000 }).then((r) => r.status, (err) => err.code || err.message);
  const r = await pm2.cli(['jlist'], { timeoutMs: 60_000 });
  out.jlistExitCode = r.code;
  out.jlistMs = Math.round(r.ms);
  try {
    // a jlist that had to spawn a God daemon first prints `[PM2] Spawning PM2 daemon ...` lines before the JSON array
    const json = r.stdout.split('\n').filter((line) => /^\[(\{|\])/.test(line.trim())).pop();
    const procs = JSON.parse(json);
    out.jlistProcesses = procs.length;
    out.jlistOnline = procs.filter((p) => p.pm2_env?.status === 'online').length;
  } catch (err) {
    out.jlistError = `${err.message}: ${(r.stdout + r.stderr).trim().slice(-400)}`;
  }
  try {
    out.godPidAfter = pm2.godPid();
  } catch {
    out.godPidAfter = null;
  }
  log(`daemon: pm2: God ${out.godPidBefore} killed; workers alive ${out.workersAlive.join(',')}; pm2 jlist exit ${r.code} in ${out.jlistMs} ms, ${out.jlistOnline} online`);
  return out;
}

async function scenarioDaemon() {
  const out = { deadMs: DAEMON_DEAD_MS };
  const herd = new Herd('daemon');
  const seen = new Set();
  let failure;
  try {
    out.herd = await daemonHerd(herd, seen);
  } catch (err) {
    failure = err;
  }
  const h = out.herd;
  out.checks = h && {
    'herd: 0 errors, 0 non-2xx across kill -9 of the daemon, adoption and reload': h.kill.load.errors === 0 && h.kill.load.non2xx === 0,
    'herd: the same worker pids online after adoption': h.kill.samePidsOnline,
    'herd: herd reload after adoption exits 0': h.kill.reloadExitCode === 0,
    'herd: 0 log lines missing, 0 duplicated (original workers)': h.logs.original.every((x) => x.missing === 0 && x.duplicated === 0 && x.lines > 0),
    'herd: a worker killed while no daemon ran is replaced after adoption (5 tries)': h.deaths.tries.length === 5 && h.deaths.tries.every((t) => !t.error),
    'herd update exits 0': h.update.exitCode === 0,
    'herd update: 0 errors, 0 non-2xx': h.update.load.errors === 0 && h.update.load.non2xx === 0,
    'herd update: worker pids unchanged': h.update.pidsUnchanged,
  };
  if (failure || Object.values(out.checks).some((v) => !v)) out.keptHome = keepHome(herd.home, 'herd');
  await herd.destroy();
  out.herdLeftovers = killLeftovers(seen, 'herd');
  if (failure) {
    if (out.keptHome) failure.stack = `${failure.stack}\n(HERD_HOME kept in ${out.keptHome})`;
    throw failure;
  }

  const pm2 = new Pm2('daemon');
  const pm2Seen = new Set();
  try {
    out.pm2 = await daemonPm2(pm2, pm2Seen);
  } finally {
    await pm2.destroy();
    out.pm2Leftovers = killLeftovers(pm2Seen, 'pm2');
  }
  return out;
}

// ---------------------------------------------------------------- report

const yes = (b) => (b ? 'yes' : '**NO**');
const list = (xs) => xs.join(', ');

function checksMd(o) {
  const lines = [];
  for (const [k, v] of Object.entries(o.checks || {})) lines.push(`- check: ${k}: ${v ? 'ok' : '**FAILED**'}`);
  for (const [k, v] of Object.entries(o.targets || {})) lines.push(`- target: ${k}: ${v ? 'met' : '**not met**'}`);
  return lines.join('\n');
}

const md = {
  reload(o) {
    const row = (n, r) =>
      `| ${n} | ${r.reloadsOk}/${r.reloads} | ${r.requests} in ${fmt(r.seconds, 0)} s | ${r.errors} | ${r.timeouts} | ${r.non2xx} | ${fmt(median(r.reloadMs), 0)} | ${Math.max(...r.reloadMs)} | ${list(r.reloadMs)} |`;
    return [
      '2 workers, 20 ms handler, 50 keep-alive connections (autocannon), 10 reloads in a row.',
      '',
      '| manager | reloads ok | requests | errors | timeouts | non-2xx | median reload ms | max | each reload (ms) |',
      '|---|---|---|---|---|---|---|---|---|',
      row('herd', o.herd),
      row('pm2', o.pm2),
      '',
      `errors = autocannon \`errors\` (includes \`timeouts\`). Error codes: herd ${JSON.stringify(o.herd.errorCodes)}, pm2 ${JSON.stringify(o.pm2.errorCodes)}. Worker pids all replaced: herd ${yes(o.herd.pidsReplaced)}, pm2 ${yes(o.pm2.pidsReplaced)}.`,
      '',
      checksMd(o),
    ].join('\n');
  },
  'reload-broken'(o) {
    const b = o.broken;
    const f = o.fixed;
    return [
      '2 workers, 50 keep-alive connections; the version file switched to `throw`, `herd reload`, then fixed and reloaded again.',
      '',
      '| step | exit code | ms | error shown | requests | errors | non-2xx | pids unchanged | status after | served after |',
      '|---|---|---|---|---|---|---|---|---|---|',
      `| broken reload | ${b.exitCode} | ${b.ms} | ${yes(b.errorShown)} | ${b.requests} | ${b.errors} | ${b.non2xx} | ${yes(b.pidsUnchanged)} | ${b.statusAfter} | ${b.served} |`,
      `| fixed reload | ${f.exitCode} | ${f.ms} | - | ${f.requests} | ${f.errors} | ${f.non2xx} | - | ${f.statusAfter} | ${f.served} |`,
      '',
      'Output of the failed `herd reload` (last lines):',
      '',
      '```',
      b.output,
      '```',
      '',
      checksMd(o),
    ].join('\n');
  },
  kill9(o) {
    return [
      `2 workers (hello), load of fresh connections (16 loops, one TCP connection per request); \`kill -9\` of one worker, 5 times (workers 0,1,0,1,0, 1 s apart); polling ${o.pollMethod} until the worker id has a new pid, online.`,
      '',
      '| try | worker | old pid | new pid | kill -> online (ms) | states seen |',
      '|---|---|---|---|---|---|',
      ...o.tries.map((t, i) => `| ${i + 1} | ${t.worker} | ${t.oldPid} | ${t.newPid ?? '-'} | ${t.ms}${t.error ? ' (not replaced)' : ''} | ${t.statesSeen.join(' → ')} |`),
      ...o.tries.filter((t) => t.error).map((t) => `\n**Not replaced:** ${t.error}`),
      '',
      `Worst: **${o.worstMs} ms**${o.crashLoopTries ? ` (${o.crashLoopTries} tr${o.crashLoopTries > 1 ? 'ies' : 'y'} went through herd's crash-loop cool-down, app \`errored\`; worst of the others: ${o.worstMsOutsideCrashLoop} ms)` : ''}. Requests ${o.load.requests}, ok ${o.load.ok}, non-2xx ${o.load.non2xx}, errors ${o.load.errors} ${JSON.stringify(o.load.errorCodes)}; **ECONNREFUSED: ${o.econnrefused}**. App status after: ${o.appStatus}.`,
      '',
      checksMd(o),
    ].join('\n');
  },
  throughput(o) {
    const cfgs = Object.keys(o.median.close);
    const runsOf = (mode, cfg) => o.runs.filter((r) => r.mode === mode && r.config === cfg).map((r) => Math.round(r.rps)).join(' / ');
    const errsOf = (mode, cfg) =>
      o.runs
        .filter((r) => r.mode === mode && r.config === cfg)
        .map((r) => r.socketErrors.connect + r.socketErrors.timeout + r.non2xx)
        .reduce((a, b) => a + b, 0);
    return [
      `hello world, \`wrk -t2 -c50 -d10s\` after a 2 s warm-up, each configuration twice, alternating.${o.wrkInstalledNow ? ' (wrk was installed by this run with `apt-get install -y wrk`.)' : ''}`,
      '',
      '| configuration | Connection: close median req/s | runs | keep-alive median req/s | runs | connect errors + timeouts + non-2xx |',
      '|---|---|---|---|---|---|',
      ...cfgs.map(
        (c) =>
          `| ${c} | ${Math.round(o.median.close[c])} | ${runsOf('close', c)} | ${Math.round(o.median.keepalive[c])} | ${runsOf('keepalive', c)} | ${errsOf('close', c) + errsOf('keepalive', c)} |`,
      ),
      '',
      'Keep-alive connections per server process at mid-run (`ss -tnp`), per run:',
      '',
      ...cfgs.map((c) => `- ${c}: ${o.runs.filter((r) => r.mode === 'keepalive' && r.config === c).map((r) => (r.spread ? r.spread.join(':') : 'n/a')).join(', ')}`),
      '',
      '| ratio | value |',
      '|---|---|',
      ...Object.entries(o.ratios).map(([k, v]) => `| ${k} | ${fmt(v, 2)} |`),
      '',
      'herd = `herd start -i 2`, pm2 = `pm2 start -i 2` (cluster mode), node-cluster = `bench/apps/node-cluster.js` (cluster module, 2 workers, round-robin), node-single = one plain `node hello.js`.',
      '',
      checksMd(o),
    ].join('\n');
  },
  memory(o) {
    const m = (x) => `${fmt(mb(x.rss))} / ${fmt(mb(x.pss))} / ${fmt(mb(x.uss))}`;
    return [
      '2 apps x 2 workers (hello), 300 requests to each app, read 3 s later from /proc/<pid>/smaps_rollup. Figures in MB: RSS / PSS / USS (Private_Clean + Private_Dirty).',
      '',
      '| | daemon | all non-worker processes | average worker |',
      '|---|---|---|---|',
      `| herd | ${m(o.herd.daemon)} | ${m(o.herd.nonWorker)} (${o.herd.nonWorkerPids.length} process) | ${m(o.herd.worker)} |`,
      `| pm2 | ${m(o.pm2.daemon)} | ${m(o.pm2.nonWorker)} (${o.pm2.nonWorkerPids.length} process) | ${m(o.pm2.worker)} |`,
      `| plain \`node hello.js\` (x2) | - | - | ${m(o.plain.worker)} |`,
      '',
      `Worker RSS over plain node: herd **${fmt(o.workerRssOverPlainMB.herd)} MB**, pm2 ${fmt(o.workerRssOverPlainMB.pm2)} MB.`,
      '',
      checksMd(o),
    ].join('\n');
  },
  crashloop(o) {
    return [
      'An app that throws at boot, `herd start -i 2`.',
      '',
      '| measure | value |',
      '|---|---|',
      `| \`herd start\` exit code | ${o.startExitCode} |`,
      `| start -> errored (start command's duration) | ${o.startToErroredMs} ms |`,
      `| status after | ${o.statusAfterStart} |`,
      `| restarts at that moment (describe / sum over workers) | ${o.restartsAtErrored} / ${o.workerRestarts} |`,
      `| \`herd start\` printed the error | ${yes(o.startShowsError)} |`,
      `| \`herd describe\` shows the stderr | ${yes(o.describeShowsStderr)} |`,
      '',
      'Output of `herd start`:',
      '',
      '```',
      o.startOutput,
      '```',
      '',
      checksMd(o),
    ].join('\n');
  },
  daemon(o) {
    const h = o.herd;
    const p = o.pm2;
    const k = h.kill;
    const codes = (c) => (Object.keys(c).length ? JSON.stringify(c) : '-');
    const gapRow = (x, original) =>
      `| ${x.pid} | ${x.worker} | ${original ? 'original' : 'after reload'} | ${x.lines} | ${x.max} | ${x.missing} | ${x.duplicated} | ${x.inWindow ?? '-'} |`;
    const d = h.deaths;
    const u = h.update;
    return [
      `numbered.js (prints \`pid=<pid> n=<k>\` every 5 ms), 2 workers (herd \`-i 2\`, pm2 \`-i 2\` cluster mode), 50 keep-alive connections (autocannon) from 1 s before a \`kill -9\` of the daemon; ${o.deadMs / 1000} s without a daemon; then herd: \`herd list --json\` (starts a daemon, which adopts), \`herd reload api\`, 1 s more; pm2: the load stops at the end of the ${o.deadMs / 1000} s, then \`pm2 jlist\`.`,
      '',
      '| | herd | pm2 |',
      '|---|---|---|',
      `| requests (load window) | ${k.load.requests} in ${fmt(k.load.seconds, 0)} s | ${p.load.requests} in ${fmt(p.load.seconds, 0)} s |`,
      `| errors (by code) | ${k.load.errors} ${codes(k.load.errorCodes)} | ${p.load.errors} ${codes(p.load.errorCodes)} |`,
      `| timeouts / non-2xx | ${k.load.timeouts} / ${k.load.non2xx} | ${p.load.timeouts} / ${p.load.non2xx} |`,
      `| original workers running after ${o.deadMs / 1000} s without a daemon | ${yes(k.workersAliveWhileDead)} (${list(k.pidsBefore)}) | ${p.workersAlive.every(Boolean) ? 'yes' : p.workersAlive.some(Boolean) ? 'some' : '**no**'} (${list(p.pidsBefore)}) |`,
      `| first command after (ms) | \`herd list --json\` exit ${k.listExitCode}, ${k.listMs} ms | \`pm2 jlist\` exit ${p.jlistExitCode}, ${p.jlistMs} ms |`,
      `| it lists | ${k.workersAfterAdoption.join(', ')} | ${p.jlistError ? `unparsable: ${p.jlistError}` : `${p.jlistProcesses} process(es), ${p.jlistOnline} online`} |`,
      `| same worker pids online | ${yes(k.samePidsOnline)} | ${p.jlistOnline > 0 ? 'n/a' : '**no** (nothing online)'} |`,
      `| daemon pid before -> after | ${k.daemonPidBefore} -> ${k.daemonPidAfter} | ${p.godPidBefore} -> ${p.godPidAfter ?? '-'} |`,
      `| one GET after (status or error) | ${k.servedAfter} | ${p.servedAfter} |`,
      '',
      `herd: shim pid ${k.shimPidBefore} -> ${k.shimPidAfter}; \`herd reload api\` after adoption: exit ${k.reloadExitCode} in ${k.reloadMs} ms, worker pids replaced: ${yes(k.pidsReplacedByReload)} (${list(k.pidsAfterReload)}).${k.listOutput ? ` herd list output: \`${k.listOutput}\`.` : ''}${k.reloadOutput ? ` reload output: \`${k.reloadOutput}\`.` : ''}`,
      '',
      `Log lines (\`HERD_HOME/logs/api-out.log\` after \`herd stop\`), per worker pid; "dead window" = lines stamped between the kill and the \`herd list\` (${h.logs.deadWindowMs} ms: at most about ${Math.round(h.logs.deadWindowMs / 5)} lines at one per 5 ms; a timer drifts on 2 cores busy with the load):`,
      '',
      '| pid | worker | | lines | highest n | missing | duplicated | in the dead window |',
      '|---|---|---|---|---|---|---|---|',
      ...h.logs.original.map((x) => gapRow(x, true)),
      ...h.logs.reloaded.map((x) => gapRow(x, false)),
      '',
      `Worker deaths around adoption, 5 tries: \`kill -9\` of the daemon, then of worker 0; the time runs from starting \`herd list --json\` (polled every 50 ms; the first one starts a daemon, which adopts) until worker 0 has a new pid, online. Then \`kill -9\` of worker 1 under that new daemon, polled with ${d.pollAfterAdoption}, until worker 1 has a new pid, online (target: within 1 s, not asserted).`,
      '',
      '| try | daemon pid | worker 0 old -> new | first herd list (ms) | herd list -> worker 0 online (ms) | states seen | worker 1 old -> new | kill -> worker 1 online (ms) | states seen |',
      '|---|---|---|---|---|---|---|---|---|',
      ...d.tries.map(
        (t, i) =>
          `| ${i + 1} | ${t.daemonPidBefore} -> ${t.daemonPidAfter} | ${t.worker0.oldPid} -> ${t.worker0.newPid ?? '-'} | ${t.worker0.firstListMs ?? '-'} | ${t.worker0.ms} | ${t.worker0.statesSeen.join(' → ')} | ${t.worker1 ? `${t.worker1.oldPid} -> ${t.worker1.newPid ?? '-'}` : '-'} | ${t.worker1?.ms ?? '-'} | ${t.worker1 ? t.worker1.statesSeen.join(' → ') : '-'} |`,
      ),
      ...d.tries.filter((t) => t.error).map((t) => `\n**Not replaced:** ${t.error}`),
      '',
      `Worst: worker 0 (died while no daemon ran) **${d.worstWorker0Ms ?? 'n/a'} ms** from \`herd list\`; worker 1 (died under the adopting daemon) **${d.worstWorker1Ms ?? 'n/a'} ms**${d.worstWorker1Ms != null ? (d.worstWorker1Ms <= 1000 ? ' (within 1 s)' : ' (**over 1 s**)') : ''}.`,
      '',
      `\`herd update\` under 50 keep-alive connections (1 s before, 1 s after):`,
      '',
      '| exit code | ms | daemon pid before -> after | worker pids unchanged | requests | errors (by code) | non-2xx | log lines missing / duplicated (per worker) | next command right after |',
      '|---|---|---|---|---|---|---|---|---|',
      `| ${u.exitCode} | ${u.ms} | ${u.daemonPidBefore} -> ${u.daemonPidAfter} | ${yes(u.pidsUnchanged)} (${list(u.pidsBefore)} -> ${list(u.pidsAfter)}) | ${u.load.requests} | ${u.load.errors} ${codes(u.load.errorCodes)} | ${u.load.non2xx} | ${u.logs.map((x) => `${x.missing} / ${x.duplicated}`).join(', ')} | \`herd list\` exit ${u.nextCommand.exitCode} in ${u.nextCommand.ms} ms${u.nextCommand.output ? `: \`${u.nextCommand.output.replace(/\n/g, ' ')}\`` : ''} |`,
      '',
      `Old daemon exited after the update: ${yes(u.oldDaemonExited)}.${u.exitCode !== 0 ? ` \`herd update\` output: \`${u.output.replace(/\n/g, ' ')}\`` : ''}${o.keptHome ? ` HERD_HOME kept in \`${o.keptHome}\`.` : ''}${o.herdLeftovers.length || o.pm2Leftovers?.length ? ` Processes left after cleanup (SIGKILLed): herd ${list(o.herdLeftovers)}; pm2 ${list(o.pm2Leftovers || [])}.` : ''}`,
      '',
      checksMd(o),
    ].join('\n');
  },
};

// ---------------------------------------------------------------- main

const SCENARIOS = {
  reload: scenarioReload,
  'reload-broken': scenarioReloadBroken,
  kill9: scenarioKill9,
  throughput: scenarioThroughput,
  memory: scenarioMemory,
  crashloop: scenarioCrashloop,
  daemon: scenarioDaemon,
};

function versionOf(cmd, args) {
  try {
    return require('node:child_process').execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
  } catch (err) {
    // `wrk -v` prints its version and exits 1
    const text = `${err.stdout || ''}`.trim();
    return text ? text.split('\n')[0] : null;
  }
}

async function main() {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((s) => !SCENARIOS[s]);
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; choose from: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
  if (!fs.existsSync(HERD_CLI)) {
    console.error(`${path.relative(ROOT, HERD_CLI)} not found: run \`npm run build\` first`);
    process.exit(2);
  }
  const names = wanted.length ? wanted : Object.keys(SCENARIOS);
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    herd: require(path.join(ROOT, 'package.json')).version,
    pm2: require('pm2/package.json').version,
    autocannon: require('autocannon/package.json').version,
    loadavgAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
  const results = { meta, scenarios: {} };
  let failed = false;
  for (const name of names) {
    log(`--- ${name}`);
    const t0 = now();
    try {
      results.scenarios[name] = await SCENARIOS[name]();
      const bad = Object.entries(results.scenarios[name].checks || {}).filter(([, v]) => !v);
      if (bad.length) failed = true;
    } catch (err) {
      failed = true;
      log(`${name} failed: ${err.stack || err.message}`);
      results.scenarios[name] = { error: String(err.stack || err.message) };
    }
    results.scenarios[name].seconds = Math.round((now() - t0) / 1000);
  }
  meta.wrk = versionOf('wrk', ['-v']) || null;

  const parts = [
    `# herd benchmarks`,
    '',
    `${meta.date} - ${meta.cpus} cores (${meta.cpuModel}), ${meta.memGB} GB, Linux ${meta.kernel}, Node ${meta.node}, herd ${meta.herd}, pm2 ${meta.pm2}, autocannon ${meta.autocannon}${meta.wrk ? `, ${meta.wrk}` : ''}. Load average at start: ${meta.loadavgAtStart.join(' ')}.`,
    '',
  ];
  for (const name of names) {
    const o = results.scenarios[name];
    parts.push(`## ${name}`, '');
    if (o.error) parts.push('**scenario failed:**', '', '```', o.error, '```');
    else parts.push(md[name](o));
    parts.push('');
  }
  const report = parts.join('\n') + '\n';
  process.stdout.write(report);

  const dir = path.join(BENCH_DIR, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const write = (file, text) => {
    const tmp = path.join(dir, `${file}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path.join(dir, file));
  };
  write('latest.json', JSON.stringify(results, null, 2) + '\n');
  write('latest.md', report);
  log(`wrote bench/results/latest.json and bench/results/latest.md${failed ? ' (some checks failed)' : ''}`);
  process.exit(failed ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: stopping every daemon and server this run started`);
    destroyAll().finally(() => process.exit(130));
  });
}

main().catch((err) => {
  console.error(err.stack || err);
  process.exit(1);
});
