#!/usr/bin/env node
// Does herd's request latency match what clients see? The cpu.js fixture
// (GET /work: WORK_MS=20 ms of synchronous work) on 2 workers, driven by
// autocannon at light load (well under capacity) and at about 2x capacity
// (50 keep-alive connections), each phase on a fresh app so that herd's
// since-start figures cover exactly the requests autocannon made.
// Targets: herd's p50/p99 within 25% of autocannon's at light load, within
// 50% at 2x capacity.
// Usage: npm run build && node bench/latency.mjs [--seconds 10] [--root <checkout with dist/>] [--label after]
// --root runs another build (e.g. an older commit) in the same conditions.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OWN_ROOT = path.resolve(HERE, '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const ROOT = path.resolve(arg('root', OWN_ROOT));
const LABEL = arg('label', ROOT === OWN_ROOT ? 'after' : path.basename(ROOT));
const SECONDS = Number(arg('seconds', 10));
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const FIXTURE = path.join(OWN_ROOT, 'test', 'fixtures', 'cpu.js');
const autocannon = createRequire(import.meta.url)(path.join(OWN_ROOT, 'node_modules', 'autocannon'));
const PHASES = [
  { name: 'light', connections: 2, target: 0.25 },
  { name: '2x', connections: 50, target: 0.5 },
];

const home = mkdtempSync(path.join(os.tmpdir(), 'herd-bench-latency-'));
const herd = (args, env = {}) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, HERD_HOME: home, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`herd ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
};
const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cannon(port, connections, seconds) {
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/work`, connections, duration: seconds }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function phase(p) {
  const port = await freePort();
  const name = `lat-${p.name}`;
  herd(['start', FIXTURE, '--name', name, '-i', '2'], { PORT: String(port), WORK_MS: '20' });
  for (let i = 0; i < 100; i++) {
    const app = JSON.parse(herd(['list', '--json'])).find((a) => a.name === name);
    if (app?.workers.filter((w) => w.status === 'online').length === 2) break;
    await sleep(100);
  }
  // The kernel's queues in the middle of the run (asynchronously: autocannon shares this loop).
  const mid = sleep((SECONDS * 1000) / 2).then(() => new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'metrics', name, '--json'], { env: { ...process.env, HERD_HOME: home } }, (err, out) => {
      try { resolve(err ? null : JSON.parse(out).http.queue ?? null); } catch { resolve(null); }
    });
  }));
  const r = await cannon(port, p.connections, SECONDS);
  const queue = await mid;
  // Every worker reports once a second: wait for the last interval to arrive.
  await sleep(2500);
  const m = JSON.parse(herd(['metrics', name, '--json']));
  herd(['delete', name]);
  const client = { p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.errors + r.non2xx };
  const mine = { p50: m.http.latency.p50, p99: m.http.latency.p99, requests: m.http.requests, service: m.http.serviceTime ?? null };
  const off = (a, b) => (b > 0 ? Math.abs(a - b) / b : 0);
  return {
    phase: p.name, connections: p.connections, seconds: SECONDS, client, herd: mine, queue,
    offP50: off(mine.p50, client.p50), offP99: off(mine.p99, client.p99), target: p.target,
    met: off(mine.p50, client.p50) <= p.target && off(mine.p99, client.p99) <= p.target,
  };
}

const rows = [];
try {
  console.log(`${new Date().toISOString()}  ${LABEL} (${ROOT})  node ${process.version}  ${os.cpus().length} x ${os.cpus()[0]?.model}  load ${os.loadavg()[0].toFixed(2)}`);
  for (const p of PHASES) rows.push(await phase(p));
} finally {
  spawnSync(process.execPath, [CLI, 'kill'], { env: { ...process.env, HERD_HOME: home } });
  rmSync(home, { recursive: true, force: true });
}

const f = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
console.log(`\n| build | load | client p50 | herd p50 | client p99 | herd p99 | herd service p99 | off p50 / p99 | target | met |`);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${LABEL} | ${r.phase} (${r.connections} conn) | ${f(r.client.p50)} ms | ${f(r.herd.p50)} ms | ${f(r.client.p99)} ms | ${f(r.herd.p99)} ms | ${r.herd.service ? `${f(r.herd.service.p99)} ms` : '-'} | ${(r.offP50 * 100).toFixed(0)}% / ${(r.offP99 * 100).toFixed(0)}% | ${r.target * 100}% | ${r.met ? 'yes' : 'no'} |`);
}
for (const r of rows) console.log(`${r.phase}: autocannon ${r.client.requests} requests (${r.client.errors} errors), herd counted ${r.herd.requests}${r.queue ? `; queue mid-run: accept ${r.queue.accept}, unread ${r.queue.unread}` : ''}`);
const dir = path.join(OWN_ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, 'latency.json');
let all = {};
try { all = JSON.parse(readFileSync(file, 'utf8')); } catch {}
all[LABEL] = { at: new Date().toISOString(), node: process.version, root: ROOT === OWN_ROOT ? '.' : ROOT, rows };
writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written: ${path.relative(process.cwd(), file)} (${LABEL})`);
