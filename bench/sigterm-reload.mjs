#!/usr/bin/env node
// 2-worker rolling reload of an app that closes its server on SIGTERM, next to
// the same app without signal handlers, in one run. Before the agent released
// its IPC channel after raising the app's signal, every SIGTERM-handling
// worker waited out killTimeout (a reload took about 2 x 5s).
//   node bench/sigterm-reload.mjs [--reloads N]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, HERD_CLI, log, ROOT, rmrf, tmpDir } from './lib.mjs';

const reloads = Number(process.argv[process.argv.indexOf('--reloads') + 1] || 5) || 5;
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const apps = [
  { label: 'no signal handler', script: path.join(FIXTURES, 'hello.js') },
  { label: "SIGTERM: server.close()", script: path.join(FIXTURES, 'real-sigterm-close.js') },
];

function herd(home, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HERD_CLI, ...args], { env: { ...process.env, HERD_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`herd ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const homes = [];
try {
  for (const app of apps) {
    const home = tmpDir('sigterm');
    homes.push(home);
    app.home = home;
    const config = path.join(home, 'herd.config.json');
    const port = await freePort();
    fs.writeFileSync(config, JSON.stringify({ apps: [{ name: 'api', script: app.script, instances: 2, killTimeout: '5s', env: { PORT: String(port) } }] }));
    await herd(home, ['start', config]);
    app.times = [];
  }
  // Interleaved, so both see the same machine load.
  for (let i = 0; i < reloads; i++) {
    for (const app of apps) {
      const t0 = performance.now();
      await herd(app.home, ['reload', 'api']);
      app.times.push(performance.now() - t0);
    }
  }
  const [plain, sigterm] = apps.map((a) => median(a.times));
  for (const app of apps) console.log(`${app.label.padEnd(26)} median ${median(app.times).toFixed(0)} ms  (${app.times.map((t) => t.toFixed(0)).join(', ')})`);
  console.log(`ratio SIGTERM app / plain app: ${(sigterm / plain).toFixed(2)} (${reloads} reloads of 2 workers each)`);
} finally {
  for (const home of homes) {
    await herd(home, ['kill']).catch((err) => log(err.message));
    rmrf(home);
  }
}
