#!/usr/bin/env node
// The cost of `herd profile`: throughput of the cpu-route app
// (test/fixtures/cpu.js, /work, WORK_MS=20, 2 workers) while both workers
// are profiled, as a ratio to the same app unprofiled, in alternating
// windows of one run (autocannon, keep-alive). With --screenshot it saves
// the flame-graph page of one profile to docs/flamegraph.png (Chromium).
//   node bench/profile.mjs [--rounds 3] [--window 5] [--screenshot]
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i === -1 ? def : process.argv[i + 1]; };
const rounds = Number(arg('rounds', 3));
const windowS = Number(arg('window', 5));
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-bench-profile-'));
const env = { ...process.env, HERD_HOME: home };
const herd = (...args) => execFileSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });
const port = 20000 + Math.floor(Math.random() * 20000);
fs.writeFileSync(path.join(home, 'herd.config.json'), JSON.stringify({ apps: [{ name: 'cpu', script: path.join(ROOT, 'test', 'fixtures', 'cpu.js'), instances: 2, env: { PORT: String(port), WORK_MS: '20' } }] }));
const run = (seconds) => new Promise((resolve, reject) => autocannon({ url: `http://127.0.0.1:${port}/work`, connections: 16, duration: seconds }, (err, r) => (err ? reject(err) : resolve(r))));
const profileAll = (seconds, out) => new Promise((resolve) => {
  const child = spawn(process.execPath, [CLI, 'profile', 'cpu', '--worker', 'all', '--duration', `${seconds}s`, '--out', out, '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.on('close', () => resolve(JSON.parse(text)));
});
try {
  herd('start', path.join(home, 'herd.config.json'));
  await run(3); // warm-up: JIT, connections
  const plain = [];
  const profiled = [];
  let last = null;
  for (let i = 0; i < rounds; i++) {
    plain.push((await run(windowS)).requests.average);
    const out = fs.mkdtempSync(path.join(home, 'out-'));
    // The profile starts with the window (the inspector opens in ~0.1 s) and covers it.
    const [r, p] = await Promise.all([run(windowS), profileAll(windowS + 1, out)]);
    profiled.push(r.requests.average);
    last = p;
  }
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const ratio = sum(profiled) / sum(plain);
  console.log(JSON.stringify({ node: process.version, rounds, windowS, plainRps: plain.map(Math.round), profiledRps: profiled.map(Math.round), ratio: Number(ratio.toFixed(3)) }));
  const w0 = last.workers[0];
  console.log(`top of worker 0: ${w0.top.slice(0, 4).map((f) => `${f.functionName} ${f.location} ${f.selfPct.toFixed(1)}%`).join('; ')}`);
  if (process.argv.includes('--screenshot')) {
    const { chromium } = require('playwright-core');
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 760 } });
    await page.goto(`file://${w0.html}`);
    await page.waitForSelector('.flame-frame');
    await page.screenshot({ path: path.join(ROOT, 'docs', 'flamegraph.png') });
    await browser.close();
    console.log('docs/flamegraph.png written');
  }
} finally {
  try { herd('kill'); } catch {}
  fs.rmSync(home, { recursive: true, force: true });
}
