#!/usr/bin/env node
// Log flood throughput: 2 workers each writing LINES numbered lines to stdout
// as fast as they can (test/fixtures/flood.js), under
//   - plain node, stdout redirected to a file (the ceiling: no supervisor),
//   - herd (daemon reads the pipes, writes rotated files),
//   - PM2 (pm2 start -i 2).
// Reports the workers' own write rate (lines/s while writing: is the app
// slowed down?) and the end-to-end rate until every line is on disk.
// Usage: node bench/logs.mjs [--lines 100000] [--runs 3]   (build first: npx tsc)
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FLOOD = path.join(ROOT, 'test', 'fixtures', 'flood.js');
const HERD = path.join(ROOT, 'dist', 'cli', 'main.js');
const PM2 = path.join(ROOT, 'node_modules', '.bin', 'pm2');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const LINES = arg('lines', 100_000);
const RUNS = arg('runs', 3);
const TOTAL = 2 * LINES;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function countLines(dir, test) {
  let n = 0;
  for (const f of readdirSync(dir).filter(test)) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    n += (text.match(/ w[01] \d+$|^w[01] \d+$/gm) ?? []).length;
  }
  return n;
}
function doneTimes(text) {
  return [...text.matchAll(/flood done w\d+ \d+ lines in ([\d.]+)ms/g)].map((m) => Number(m[1]));
}
async function until(fn, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

async function plain() {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-plain-'));
  try {
    const t0 = performance.now();
    const runs = [0, 1].map((id) => new Promise((resolve) => {
      const out = openSync(path.join(dir, `w${id}.log`), 'a');
      let err = '';
      const child = spawn(process.execPath, [FLOOD], { env: { ...process.env, FLOOD_LINES: String(LINES), FLOOD_ID: String(id), FLOOD_EXIT: '1' }, stdio: ['ignore', out, 'pipe'] });
      closeSync(out);
      child.stderr.on('data', (c) => (err += c));
      child.on('close', () => resolve(doneTimes(err)[0]));
    }));
    const times = await Promise.all(runs);
    const e2e = performance.now() - t0;
    const n = countLines(dir, (f) => f.endsWith('.log'));
    if (n !== TOTAL) throw new Error(`plain: ${n} lines`);
    return { worker: Math.max(...times), e2e };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function herd() {
  const home = mkdtempSync(path.join(tmpdir(), 'bench-herd-'));
  const env = { ...process.env, HERD_HOME: home };
  try {
    const cfg = path.join(home, 'herd.config.json');
    writeFileSync(cfg, JSON.stringify({ apps: [{ name: 'flood', script: FLOOD, instances: 2, execMode: 'fork', env: { FLOOD_LINES: String(LINES) } }] }));
    // Start the daemon first so its start-up is not measured.
    execFileSync(process.execPath, [HERD, 'list'], { env });
    execFileSync(process.execPath, [HERD, 'kill'], { env });
    const t0 = performance.now();
    execFileSync(process.execPath, [HERD, 'start', cfg], { env, stdio: 'ignore' });
    const logs = path.join(home, 'logs');
    const times = await until(() => {
      let err = '';
      try { err = readFileSync(path.join(logs, 'flood-err.log'), 'utf8'); } catch { return undefined; }
      const t = doneTimes(err);
      return t.length === 2 ? t : undefined;
    });
    await until(() => (countLines(logs, (f) => f.startsWith('flood-out')) >= TOTAL ? true : undefined));
    const e2e = performance.now() - t0;
    const detail = JSON.parse(execFileSync(process.execPath, [HERD, 'describe', 'flood', '--json'], { env, encoding: 'utf8' }));
    return { worker: Math.max(...times), e2e, dropped: detail.logLinesDropped };
  } finally {
    try { execFileSync(process.execPath, [HERD, 'kill'], { env, stdio: 'ignore' }); } catch { /* gone */ }
    rmSync(home, { recursive: true, force: true });
  }
}

async function pm2() {
  const home = mkdtempSync(path.join(tmpdir(), 'bench-pm2-'));
  const env = { ...process.env, PM2_HOME: home, FLOOD_LINES: String(LINES) };
  try {
    execFileSync(PM2, ['ping'], { env, stdio: 'ignore' });
    const t0 = performance.now();
    execFileSync(PM2, ['start', FLOOD, '-i', '2', '--name', 'flood'], { env, stdio: 'ignore' });
    const logs = path.join(home, 'logs');
    const times = await until(() => {
      const err = readdirSync(logs).filter((f) => f.includes('-error')).map((f) => readFileSync(path.join(logs, f), 'utf8')).join('');
      const t = doneTimes(err);
      return t.length >= 2 ? t : undefined;
    });
    await until(() => (countLines(logs, (f) => f.includes('-out')) >= TOTAL ? true : undefined));
    const e2e = performance.now() - t0;
    return { worker: Math.max(...times), e2e };
  } finally {
    try { execFileSync(PM2, ['kill'], { env, stdio: 'ignore' }); } catch { /* gone */ }
    rmSync(home, { recursive: true, force: true });
  }
}

const rate = (ms) => Math.round(TOTAL / (ms / 1000));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const [name, fn] of [['plain node > file', plain], ['herd', herd], ['pm2', pm2]]) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await fn());
  results[name] = { worker: median(runs.map((r) => r.worker)), e2e: median(runs.map((r) => r.e2e)), dropped: runs.map((r) => r.dropped ?? 0) };
  console.error(`${name}: ${JSON.stringify(runs.map((r) => ({ worker: Math.round(r.worker), e2e: Math.round(r.e2e) })))}`);
}
console.log(`log flood: 2 workers x ${LINES} lines, median of ${RUNS} runs; ${cpus().length} cores ${cpus()[0]?.model ?? ''}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
console.log('| runner | worker write rate (lines/s) | vs plain | end-to-end to disk (lines/s) | vs plain | lines dropped |');
console.log('|---|---|---|---|---|---|');
const base = results['plain node > file'];
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${rate(r.worker)} | ${(base.worker / r.worker).toFixed(2)} | ${rate(r.e2e)} | ${(base.e2e / r.e2e).toFixed(2)} | ${r.dropped.join('/')} |`);
}
