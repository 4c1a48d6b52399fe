#!/usr/bin/env node
// Chaos, measured by `herd chaos --json` itself: 2 hello workers, 50
// keep-alive probe connections, an unkilled baseline (chaos's --baseline,
// same run, same connections) and then kill -9 every 2 s. Reports success
// rate, requests lost per kill, time to recover (p50 / worst), throughput
// against the baseline, and whether any app went errored.
//   CHAOS_SECONDS (default 600)       kills of workers (--kill worker)
//   CHAOS_BOTH_SECONDS (default 180)  kills of workers and of the daemon (--kill both); 0 skips it
//   CHAOS_BASELINE_S (default 30)     the unkilled baseline before each
//   CHAOS_SEED                        --seed (else each run draws one and prints it)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APPS, BENCH_DIR, destroyAll, fmt, freePort, Herd, log, waitHttp } from './lib.mjs';

const CHAOS_S = Number(process.env.CHAOS_SECONDS || 600);
const BOTH_S = Number(process.env.CHAOS_BOTH_SECONDS ?? 180);
const BASELINE_S = Number(process.env.CHAOS_BASELINE_S || 30);
const CONNECTIONS = 50;

process.on('SIGINT', () => void destroyAll().then(() => process.exit(130)));

async function scenario(kill, seconds) {
  const herd = new Herd(`chaos-${kill}`);
  try {
    const port = await freePort();
    await herd.start(path.join(APPS, 'hello.js'), 'api', { instances: 2, env: { PORT: String(port) } });
    await waitHttp(port);
    const args = ['chaos', 'api', '--kill', kill, '--every', '2s', '--for', `${seconds}s`, '--baseline', `${BASELINE_S}s`, '-c', String(CONNECTIONS), '--json'];
    if (process.env.CHAOS_SEED) args.push('--seed', process.env.CHAOS_SEED);
    log(`herd ${args.join(' ')}`);
    const r = await herd.cli(args, { timeoutMs: (seconds + BASELINE_S + 120) * 1000 });
    if (r.code !== 0 && r.code !== 1) throw new Error(`herd chaos exited ${r.code}\n${r.stderr}\n${r.stdout}`);
    return { kill, seconds, exitCode: r.code, report: JSON.parse(r.stdout) };
  } finally {
    await herd.destroy();
  }
}

async function main() {
  const results = [await scenario('worker', CHAOS_S)];
  if (BOTH_S > 0) results.push(await scenario('both', BOTH_S));
  const out = path.join(BENCH_DIR, 'results', 'chaos.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, baselineSeconds: BASELINE_S, results }, null, 2)}\n`);
  console.log('| run | kills (worker / daemon) | recovery p50 / worst | not recovered | requests | success under chaos | success baseline | req/s chaos / baseline | lost per kill (mean / worst) | p99 baseline / chaos | errored | exit |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { kill, seconds, exitCode, report: r } of results) {
    const rps = (p) => p.requests / Math.max(p.seconds, 0.001);
    const ok = (p) => `${fmt(100 * (p.ok / Math.max(1, p.requests)), 3)}%`;
    console.log(`| --kill ${kill}, ${seconds} s, seed ${r.seed} | ${r.killsByKind.worker} / ${r.killsByKind.daemon} | ${fmt(r.recovery.p50, 0)} / ${fmt(r.recovery.worst, 0)} ms | ${r.recovery.unrecovered} | ` +
      `${r.requests} | ${ok(r.during)} | ${ok(r.before)} | ${fmt(rps(r.during), 0)} / ${fmt(rps(r.before), 0)} = ${fmt(rps(r.during) / rps(r.before), 2)} | ` +
      `${fmt(r.lostPerKill.mean, 1)} / ${r.lostPerKill.worst} (${JSON.stringify(r.errors)}) | ${fmt(r.before.p99, 1)} / ${fmt(r.during.p99, 1)} ms | ${r.errored.length === 0 ? 'none' : r.errored.map((e) => e.app).join(', ')} | ${exitCode} |`);
  }
}

main().catch(async (err) => {
  console.error(err);
  await destroyAll();
  process.exit(1);
});
