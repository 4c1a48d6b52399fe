// Helpers for bench/run.mjs: spawning with timeouts, waiting, free ports,
// /proc readings, HTTP load, and thin wrappers around the herd and PM2 CLIs.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH_DIR, '..');
export const APPS = path.join(BENCH_DIR, 'apps');
export const HERD_CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
export const PM2_BIN = path.join(ROOT, 'node_modules', '.bin', 'pm2');
const require = createRequire(import.meta.url);

/** Everything started by this run that still has to be stopped (for SIGINT). */
const active = new Set();
export async function destroyAll() {
  for (const x of [...active]) {
    try {
      await (x.destroy ? x.destroy() : x.stop());
    } catch (err) {
      console.error(`cleanup failed: ${err.message}`);
    }
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();
export const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** A TCP port nobody listens on right now (listen on 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `herd-bench-${prefix}-`));
}

export function rmrf(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    log(`could not remove ${dir}: ${err.message}`);
  }
}

/**
 * Run a command to completion, capturing output. Never rejects on a non-zero
 * exit; rejects only when it cannot be spawned. Killed (SIGKILL) after timeoutMs.
 */
export function run(cmd, args, { env, cwd = ROOT, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? null : code, signal, timedOut, stdout, stderr, ms: now() - t0, cmd: `${cmd} ${args.join(' ')}` });
    });
  });
}

/** Throw with the command's output when it did not exit 0. */
export function check(result, what = result.cmd) {
  if (result.code === 0) return result;
  const why = result.timedOut ? 'timed out' : `exited ${result.code ?? result.signal}`;
  throw new Error(`${what} ${why}\n--- stdout\n${result.stdout.trim()}\n--- stderr\n${result.stderr.trim()}`);
}

/** Poll fn() (sync or async) until it returns a truthy value; throw after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr.message})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** Reject if p does not settle within ms. */
export function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))),
  ]);
}

/** One HTTP GET; resolves { status, body } or rejects with the socket error. */
export function httpGet(port, { agent = false, timeoutMs = 5000, pathName = '/' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('request timeout'), { code: 'ETIMEOUT' })));
    req.on('error', reject);
  });
}

/** Wait until the port answers 200. */
export function waitHttp(port, timeoutMs = 15_000) {
  return waitFor(async () => (await httpGet(port, { timeoutMs: 1000 })).status === 200, { timeoutMs, intervalMs: 100, what: `HTTP 200 on port ${port}` });
}

/** n sequential GETs with a keep-alive agent (to warm heaps). */
export async function warm(port, n = 300) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < n / 4; i++) await httpGet(port, { agent });
      }),
    );
  } finally {
    agent.destroy();
  }
}

/**
 * Keep-alive load with autocannon (50 connections by default) until stop();
 * with `rate`, at most that many requests per second in all.
 * stop() resolves autocannon's result plus error counts by code.
 */
export function keepAliveLoad(port, { connections = 50, rate } = {}) {
  const autocannon = require('autocannon');
  const errorCodes = {};
  let result;
  let failure;
  let done;
  const finished = new Promise((r) => (done = r));
  const instance = autocannon(
    { url: `http://127.0.0.1:${port}/`, connections, duration: 3600, timeout: 10, ...(rate ? { overallRate: rate } : {}) },
    (err, res) => {
      failure = err;
      result = res;
      done();
    },
  );
  instance.on('reqError', (err) => {
    const code = err.code || err.message;
    errorCodes[code] = (errorCodes[code] || 0) + 1;
  });
  return {
    async stop() {
      instance.stop();
      await withTimeout(finished, 15_000, 'autocannon to stop');
      if (failure) throw failure;
      return {
        requests: result.requests.total,
        errors: result.errors, // autocannon's `errors` already includes `timeouts`
        timeouts: result.timeouts,
        non2xx: result.non2xx,
        errorCodes,
        rps: result.requests.average,
        seconds: result.duration,
      };
    },
  };
}

/**
 * Load of fresh connections (no keep-alive: one TCP connection per request),
 * `concurrency` request loops, until stop(). Counts errors by code.
 */
export function freshConnectionLoad(port, { concurrency = 20 } = {}) {
  let running = true;
  const stats = { requests: 0, ok: 0, non2xx: 0, errors: 0, errorCodes: {} };
  const loop = async () => {
    while (running) {
      try {
        const { status } = await httpGet(port, { agent: false, timeoutMs: 5000 });
        stats.requests++;
        if (status >= 200 && status < 300) stats.ok++;
        else stats.non2xx++;
      } catch (err) {
        stats.requests++;
        stats.errors++;
        const code = err.code || err.message;
        stats.errorCodes[code] = (stats.errorCodes[code] || 0) + 1;
        await sleep(1); // do not spin on a hard failure
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    stats,
    async stop() {
      running = false;
      await withTimeout(Promise.all(loops), 15_000, 'fresh-connection load to stop');
      return stats;
    },
  };
}

/** Rss, Pss and USS (Private_Clean + Private_Dirty) of a pid in bytes, from smaps_rollup. */
export function memoryOf(pid) {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key) => {
    const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    if (!m) throw new Error(`no ${key} in /proc/${pid}/smaps_rollup`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('Rss'), pss: kb('Pss'), uss: kb('Private_Clean') + kb('Private_Dirty') };
}

export function sumMemory(list) {
  return list.reduce((a, m) => ({ rss: a.rss + m.rss, pss: a.pss + m.pss, uss: a.uss + m.uss }), { rss: 0, pss: 0, uss: 0 });
}

export function avgMemory(list) {
  const s = sumMemory(list);
  return { rss: s.rss / list.length, pss: s.pss / list.length, uss: s.uss / list.length };
}

/** Direct children pids of pid (from /proc/<pid>/task/<pid>/children). */
export function childrenOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * Whether pid is a running process: a zombie (state Z or X, killed but not yet
 * reaped, e.g. under an init that does not reap) counts as dead, unlike isAlive.
 */
export function isRunning(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

/** Parent pid of pid (from /proc/<pid>/stat), null when it is gone. */
export function parentOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

export const mb = (bytes) => bytes / (1024 * 1024);
export const fmt = (n, digits = 1) => (n == null || Number.isNaN(n) ? 'n/a' : Number(n).toFixed(digits));
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** herd CLI bound to one HERD_HOME. */
export class Herd {
  constructor(prefix) {
    this.home = tmpDir(`herd-${prefix}`);
    this.env = { HERD_HOME: this.home };
    this.client = null;
    active.add(this);
  }
  cli(args, { env, timeoutMs = 60_000 } = {}) {
    return run(process.execPath, [HERD_CLI, ...args], { env: { ...this.env, ...env }, timeoutMs });
  }
  async start(script, name, { instances = 2, env, timeoutMs = 60_000 } = {}) {
    return check(await this.cli(['start', script, '--name', name, '-i', String(instances)], { env, timeoutMs }), `herd start ${name}`);
  }
  async list() {
    const r = check(await this.cli(['list', '--json'], { timeoutMs: 15_000 }), 'herd list --json');
    return JSON.parse(r.stdout);
  }
  async describe(name) {
    const r = check(await this.cli(['describe', name, '--json'], { timeoutMs: 15_000 }), `herd describe ${name}`);
    return JSON.parse(r.stdout);
  }
  async app(name) {
    const app = (await this.list()).find((a) => a.name === name);
    if (!app) throw new Error(`herd list has no app ${name}`);
    return app;
  }
  daemonPid() {
    return Number(fs.readFileSync(path.join(this.home, 'daemon.pid'), 'utf8').trim());
  }
  /** The programmatic client (dist/client), for fast polling; null when unavailable. */
  async connectClient() {
    try {
      const { HerdClient } = require(path.join(ROOT, 'dist', 'client', 'index.js'));
      this.client = await HerdClient.connect({ home: this.home });
      return this.client;
    } catch (err) {
      log(`herd client unavailable (${err.message}); polling with the CLI`);
      return null;
    }
  }
  /** { status, workers } of one app via the client when connected, else the CLI. */
  async appState(name) {
    if (this.client) {
      const apps = await this.client.request({ type: 'list' });
      return apps.find((a) => a.name === name) || { status: 'missing', workers: [] };
    }
    return this.app(name);
  }
  async workers(name) {
    return (await this.appState(name)).workers;
  }
  /** herd kill, then make sure the daemon and its workers are gone; remove HERD_HOME. */
  async destroy() {
    active.delete(this);
    if (this.client) {
      try {
        this.client.close();
      } catch {}
      this.client = null;
    }
    let pid = null;
    try {
      pid = this.daemonPid();
    } catch {}
    const kids = pid ? childrenOf(pid) : [];
    const r = await this.cli(['kill'], { timeoutMs: 30_000 }).catch((err) => ({ code: null, stderr: err.message }));
    if (r.code !== 0) log(`herd kill exited ${r.code}: ${(r.stderr || r.stdout || '').trim()}`);
    if (pid && (await waitFor(() => !isAlive(pid), { timeoutMs: 5_000 }).catch(() => false)) === false) {
      log(`herd daemon (pid ${pid}) still alive after herd kill; sending SIGTERM`);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
    }
    for (const p of [pid, ...kids].filter(Boolean)) {
      try {
        await waitFor(() => !isAlive(p), { timeoutMs: 10_000, what: `pid ${p} to exit` });
      } catch {
        log(`pid ${p} (${cmdlineOf(p)}) still alive after herd kill; sending SIGKILL`);
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
    }
    rmrf(this.home);
  }
}

/** PM2 CLI bound to one PM2_HOME. */
export class Pm2 {
  constructor(prefix) {
    this.home = tmpDir(`pm2-${prefix}`);
    this.env = { PM2_HOME: this.home };
    active.add(this);
  }
  cli(args, { env, timeoutMs = 60_000 } = {}) {
    return run(PM2_BIN, args, { env: { ...this.env, ...env }, timeoutMs });
  }
  async start(script, name, { instances = 2, env } = {}) {
    return check(await this.cli(['start', script, '--name', name, '-i', String(instances)], { env }), `pm2 start ${name}`);
  }
  async jlist() {
    const r = check(await this.cli(['jlist'], { timeoutMs: 30_000 }), 'pm2 jlist');
    // pm2 may print warnings before the JSON array
    const start = r.stdout.indexOf('[');
    return JSON.parse(r.stdout.slice(start));
  }
  async workerPids(name) {
    return (await this.jlist()).filter((p) => p.name === name).map((p) => p.pid);
  }
  godPid() {
    return Number(fs.readFileSync(path.join(this.home, 'pm2.pid'), 'utf8').trim());
  }
  async destroy() {
    active.delete(this);
    let pid = null;
    try {
      pid = this.godPid();
    } catch {}
    const kids = pid ? childrenOf(pid) : [];
    await this.cli(['kill'], { timeoutMs: 30_000 }).catch(() => {});
    for (const p of [pid, ...kids].filter(Boolean)) {
      if (isAlive(p)) {
        try {
          await waitFor(() => !isAlive(p), { timeoutMs: 5_000, what: `pid ${p} to exit` });
        } catch {
          try {
            process.kill(p, 'SIGKILL');
          } catch {}
        }
      }
    }
    rmrf(this.home);
  }
}

/** A plain long-running process (node hello.js, node-cluster.js) with a clean stop. */
export function spawnServer(args, { env } = {}) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const server = {
    child,
    get stderr() {
      return stderr;
    },
    async stop() {
      active.delete(server);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      try {
        await withTimeout(exited, 5000, `pid ${child.pid} to exit`);
      } catch {
        child.kill('SIGKILL');
        for (const p of childrenOf(child.pid)) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {}
        }
      }
    },
  };
  active.add(server);
  return server;
}

/** Path of wrk, installing the Debian package when missing and running as root. */
export function ensureWrk() {
  const which = () => {
    try {
      return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  let p = which();
  if (p) return { path: p, installed: false };
  if (process.getuid?.() !== 0) {
    throw new Error('wrk is not on PATH and we are not root: install it (Debian/Ubuntu: `sudo apt-get install -y wrk`) and run again');
  }
  log('wrk is not on PATH; running `apt-get install -y wrk` (we are root)');
  try {
    execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  } catch {
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  }
  p = which();
  if (!p) throw new Error('apt-get install -y wrk finished but wrk is still not on PATH');
  return { path: p, installed: true };
}

/**
 * Established TCP connections on a local port, counted per owning pid (from `ss -tnp`),
 * largest first, e.g. [38, 12]; null when ss is unavailable.
 */
export async function connectionsPerPid(port) {
  const r = await run('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`], { timeoutMs: 5000 }).catch(() => null);
  if (!r || r.code !== 0) return null;
  const counts = {};
  for (const m of r.stdout.matchAll(/pid=(\d+)/g)) counts[m[1]] = (counts[m[1]] || 0) + 1;
  return Object.values(counts).sort((a, b) => b - a);
}

/**
 * Run wrk once and parse req/s, socket errors and non-2xx. With sampleSpread,
 * also count the server's established connections per process at mid-run.
 */
export async function wrk(wrkPath, port, { threads = 2, connections = 50, seconds = 10, close = false, sampleSpread = false } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  const running = run(wrkPath, args, { timeoutMs: (seconds + 30) * 1000 });
  let spread = null;
  if (sampleSpread) {
    await sleep((seconds * 1000) / 2);
    spread = await connectionsPerPid(port);
  }
  const r = check(await running, 'wrk');
  const rps = Number((r.stdout.match(/Requests\/sec:\s+([\d.]+)/) || [])[1]);
  const se = r.stdout.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = Number((r.stdout.match(/Non-2xx or 3xx responses: (\d+)/) || [0, 0])[1]);
  if (!Number.isFinite(rps)) throw new Error(`cannot parse wrk output:\n${r.stdout}`);
  return {
    rps,
    socketErrors: se ? { connect: +se[1], read: +se[2], write: +se[3], timeout: +se[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx,
    spread,
  };
}
