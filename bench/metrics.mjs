#!/usr/bin/env node
// Cost of herd's metrics, measured on this machine:
//  1. overhead: hello world on 2 workers with metrics on vs `metrics: false`,
//     wrk runs alternating between the two (target: on >= 0.95x off);
//  2. the daemon's CPU while 16 idle workers report once a second
//     (target: under 2% of one core).
// Usage: npm run build && node bench/metrics.mjs [--rounds 3] [--seconds 10] [--idle-seconds 20]
// Needs wrk (Debian: apt-get install -y wrk).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const HELLO = path.join(ROOT, 'test', 'fixtures', 'hello.js');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const ROUNDS = arg('rounds', 3);
const SECONDS = arg('seconds', 10);
const IDLE_SECONDS = arg('idle-seconds', 20);
const CONNECTIONS = 50;
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

const home = mkdtempSync(path.join(os.tmpdir(), 'herd-bench-'));
const env = { ...process.env, HERD_HOME: home };
const herd = (...args) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });
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

function wrk(port, seconds) {
  const out = execFileSync('wrk', ['-t', '2', '-c', String(CONNECTIONS), '-d', `${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const errors = /Non-2xx|Socket errors/.test(out) ? out.split('\n').filter((l) => /Non-2xx|Socket errors/.test(l)).join('; ') : '';
  return { rps, errors };
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function overhead() {
  const [on, off] = [await freePort(), await freePort()];
  const config = path.join(home, 'bench.config.json');
  writeFileSync(config, JSON.stringify({ apps: [
    { name: 'on', script: HELLO, instances: 2, env: { PORT: String(on) } },
    { name: 'off', script: HELLO, instances: 2, env: { PORT: String(off) }, metrics: false },
  ] }));
  herd('start', config);
  // Warm both up (JIT) before measuring.
  wrk(on, 2);
  wrk(off, 2);
  const pids = (name) => JSON.parse(herd('list', '--json')).find((a) => a.name === name).workers.map((w) => w.pid);
  const workerTicks = (name) => pids(name).reduce((n, pid) => n + cpuTicks(pid), 0);
  const runs = { on: [], off: [] };
  // Workers' CPU time per request: the intrinsic cost, much less sensitive
  // than req/s to other load on a shared machine.
  const cpuPerRequest = { on: [], off: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so drift in machine load hits both alike.
    const order = round % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    for (const which of order) {
      const t0 = workerTicks(which);
      const r = wrk(which === 'on' ? on : off, SECONDS);
      const us = ((workerTicks(which) - t0) * (1e6 / TICKS)) / (r.rps * SECONDS);
      runs[which].push(r.rps);
      cpuPerRequest[which].push(us);
      console.log(`round ${round + 1} metrics ${which.padEnd(3)}: ${r.rps.toFixed(0)} req/s, worker CPU ${us.toFixed(2)} us/request${r.errors ? ` (${r.errors})` : ''}`);
    }
  }
  const total = (xs) => xs.reduce((a, b) => a + b, 0);
  const ratio = total(runs.on) / total(runs.off);
  // Per-round ratios too: on a shared machine one noisy run skews the sum.
  const pairs = runs.on.map((x, i) => x / runs.off[i]).sort((a, b) => a - b);
  const median = pairs[Math.floor(pairs.length / 2)];
  const cpuOn = total(cpuPerRequest.on) / ROUNDS;
  const cpuOff = total(cpuPerRequest.off) / ROUNDS;
  console.log(`worker CPU per request: on ${cpuOn.toFixed(2)} us, off ${cpuOff.toFixed(2)} us: off/on = ${(cpuOff / cpuOn).toFixed(3)}`);
  console.log(`per-round ratios: ${pairs.map((r) => r.toFixed(3)).join(' ')}; median ${median.toFixed(3)}`);
  const m = JSON.parse(herd('metrics', 'on', '--json'));
  console.log(`metrics on / off: ${ratio.toFixed(3)} (sum of ${ROUNDS} rounds of ${SECONDS}s, wrk -t2 -c${CONNECTIONS} keep-alive); herd counted ${m.http.requests} requests`);
  herd('delete', 'all');
  return { ratio, median, on: runs.on, off: runs.off, cpuUsPerRequest: { on: cpuOn, off: cpuOff } };
}

async function idleDaemon() {
  const port = await freePort();
  env.PORT = String(port);
  herd('start', HELLO, '--name', 'idle', '-i', '16');
  void port;
  const pid = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  await sleep(5000); // let start-up settle; every worker is reporting
  const t0 = Date.now();
  const c0 = cpuTicks(pid);
  await sleep(IDLE_SECONDS * 1000);
  const c1 = cpuTicks(pid);
  const seconds = (Date.now() - t0) / 1000;
  const percent = ((c1 - c0) / TICKS / seconds) * 100;
  const workers = JSON.parse(herd('list', '--json'))[0].workers.filter((w) => w.status === 'online').length;
  console.log(`daemon CPU with ${workers} idle workers reporting: ${percent.toFixed(2)}% of one core over ${seconds.toFixed(0)}s`);
  herd('delete', 'all');
  return { percent, workers, seconds };
}

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (err) {
  if (err.code === 'ENOENT') {
    console.error('wrk not found: apt-get install -y wrk');
    process.exit(1);
  }
}
try {
  const load = os.loadavg()[0].toFixed(2);
  console.log(`${new Date().toISOString()}  node ${process.version}  ${os.cpus().length} x ${os.cpus()[0]?.model}  load ${load}`);
  const o = await overhead();
  const d = await idleDaemon();
  console.log(JSON.stringify({ overhead: o, idleDaemon: d }));
} finally {
  spawnSync(process.execPath, [CLI, 'kill'], { env });
  rmSync(home, { recursive: true, force: true });
}
