#!/usr/bin/env node
// `herd heap` under load: snapshot size, the worker's pause, and what the
// clients saw while it was taken. The leaking fixture (test/fixtures/
// session-leak.js) with 2 workers and a ballast of small objects
// (--ballast MB), autocannon with keep-alive connections for --duration
// seconds; in the middle of one window a snapshot of worker 1, the other
// window has none (the anchor, same run). Then `herd heap --diff` of the
// leak under a load of new connections.
//   node bench/heap.mjs [--ballast 0,100] [--connections 50] [--duration 10] [--diff 5s]
// Needs a build (npm run build).
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const APP = join(ROOT, 'test', 'fixtures', 'session-leak.js');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const ballasts = String(opt('ballast', '0,100')).split(',').map(Number);
const connections = Number(opt('connections', 50));
const duration = Number(opt('duration', 10));
const diffFor = opt('diff', '5s');

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function herd(home, args, env = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, HERD_HOME: home, ...env }, encoding: 'utf8', cwd: home });
  if (r.status !== 0) throw new Error(`herd ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function herdAsync(home, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, HERD_HOME: home }, cwd: home });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`herd ${args.join(' ')}: ${err}${out}`))));
  });
}

function cannon(port, seconds, keepAlive = true) {
  return autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds, pipelining: 1, ...(keepAlive ? {} : { headers: { connection: 'close' } }) });
}

const row = (r) => ({ requests: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max });

const results = [];
for (const ballast of ballasts) {
  const home = mkdtempSync(join(tmpdir(), 'herd-bench-heap-'));
  try {
    const port = await freePort();
    herd(home, ['start', APP, '--name', 'leak', '-i', '2'], { PORT: String(port), HEAP_BALLAST_MB: String(ballast) });
    await cannon(port, 2); // warm up
    const anchor = row(await cannon(port, duration));
    const loaded = cannon(port, duration);
    await new Promise((r) => setTimeout(r, (duration * 1000) / 3));
    const snap = JSON.parse(await herdAsync(home, ['heap', 'leak', '--worker', '1', '--json']));
    const during = row(await loaded);
    results.push({ ballast, size: statSync(snap.file).size, pauseMs: snap.pauseMs, rotation: snap.rotation, anchor, during });
    console.error(JSON.stringify(results[results.length - 1]));
    if (ballast === ballasts[0]) {
      const fresh = cannon(port, Math.ceil(Number.parseInt(diffFor, 10) * 1.5) + 8, false);
      const diff = await herdAsync(home, ['heap', 'leak', '--worker', '0', '--diff', diffFor]);
      const freshRow = row(await fresh);
      console.log(`\n$ herd heap leak --worker 0 --diff ${diffFor}   (new connections meanwhile: ${freshRow.requests} requests, ${freshRow.errors} errors, ${freshRow.non2xx} non-2xx)\n${diff}`);
    }
  } finally {
    spawnSync(process.execPath, [CLI, 'kill'], { env: { ...process.env, HERD_HOME: home } });
    rmSync(home, { recursive: true, force: true });
  }
}

console.log(`\nnode ${process.version}, ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${connections} keep-alive connections, ${duration} s windows`);
console.log('| ballast | snapshot | pause | requests (anchor / with snapshot) | errors + non-2xx | p99 ms (anchor / with) | max ms (anchor / with) | keep-alive turned over |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const mbs = (b) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  console.log(`| ${r.ballast} MB | ${mbs(r.size)} | ${r.pauseMs} ms | ${r.anchor.requests} / ${r.during.requests} | ${r.anchor.errors + r.anchor.non2xx} / ${r.during.errors + r.during.non2xx} | ` +
    `${r.anchor.p99} / ${r.during.p99} (${(r.during.p99 / Math.max(1, r.anchor.p99)).toFixed(1)}x) | ${r.anchor.max} / ${r.during.max} | ` +
    `${r.rotation ? `${r.rotation.closedIdle} closed, ${r.rotation.answeredWithClose} Connection: close, ${r.rotation.open} waited` : 'no'} |`);
}
