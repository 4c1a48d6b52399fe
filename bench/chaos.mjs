#!/usr/bin/env node
// Chaos: kill -9 a random online worker every 2 s under load, and compare
// with the same load unkilled in the same run. Reports the worst replacement
// time, whether both workers were ever down at once, success rate,
// throughput against the baseline, and requests lost per kill.
//   CHAOS_SECONDS (default 180)    length of each chaos run
//   CHAOS_BASELINE_S (default 60)  length of each unkilled baseline
//   CHAOS_LOADS=keepalive,fresh    which loads to run
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  APPS, BENCH_DIR, destroyAll, fmt, freePort, freshConnectionLoad, Herd, keepAliveLoad, log, median, sleep, waitHttp,
} from './lib.mjs';

const CHAOS_S = Number(process.env.CHAOS_SECONDS || 180);
const BASELINE_S = Number(process.env.CHAOS_BASELINE_S || 60);
const LOADS = (process.env.CHAOS_LOADS || 'keepalive,fresh').split(',');
const KILL_EVERY_MS = 2000;
const SAMPLE_MS = 100;
const CONNECTIONS = 20;

process.on('SIGINT', () => void destroyAll().then(() => process.exit(130)));

function startLoad(kind, port) {
  if (kind === 'keepalive') {
    const l = keepAliveLoad(port, { connections: CONNECTIONS });
    return { stop: async () => { const r = await l.stop(); return { requests: r.requests, errors: r.errors + r.non2xx, codes: r.errorCodes }; } };
  }
  const l = freshConnectionLoad(port, { concurrency: CONNECTIONS });
  return { stop: async () => { const r = await l.stop(); return { requests: r.requests, errors: r.errors + r.non2xx, codes: r.errorCodes }; } };
}

async function scenario(herd, port, kind) {
  log(`${kind}: baseline ${BASELINE_S}s`);
  let t0 = Date.now();
  let load = startLoad(kind, port);
  await sleep(BASELINE_S * 1000);
  const base = await load.stop();
  const baseSeconds = (Date.now() - t0) / 1000;

  log(`${kind}: chaos ${CHAOS_S}s, kill -9 every ${KILL_EVERY_MS}ms`);
  const kills = [];
  let samples = 0;
  let noneOnline = 0;
  let bothDown = 0;
  let running = true;
  t0 = Date.now();
  load = startLoad(kind, port);
  const sampler = (async () => {
    while (running) {
      const workers = (await herd.appState('api')).workers;
      const online = workers.filter((w) => w.status === 'online' && w.pid !== null);
      samples++;
      if (online.length === 0) noneOnline++;
      if (workers.filter((w) => w.pid === null || w.status !== 'online').length >= 2 && online.length === 0) bothDown++;
      for (const k of kills) {
        if (k.replacedMs !== null) continue;
        const w = online.find((x) => x.id === k.slot && x.pid !== k.pid);
        if (w) k.replacedMs = Date.now() - k.at;
      }
      await sleep(SAMPLE_MS);
    }
  })();
  while (Date.now() - t0 < CHAOS_S * 1000) {
    await sleep(KILL_EVERY_MS);
    const online = (await herd.appState('api')).workers.filter((w) => w.status === 'online' && w.pid !== null);
    const victim = online[Math.floor(Math.random() * online.length)];
    if (!victim) continue;
    try {
      process.kill(victim.pid, 'SIGKILL');
      kills.push({ slot: victim.id, pid: victim.pid, at: Date.now(), replacedMs: null });
    } catch {}
  }
  // Let the last replacement come up before the load stops.
  await sleep(1500);
  const chaos = await load.stop();
  running = false;
  await sampler;
  const chaosSeconds = (Date.now() - t0) / 1000;
  const times = kills.map((k) => k.replacedMs).filter((x) => x !== null);
  return {
    kind,
    baseline: { ...base, seconds: baseSeconds, rps: base.requests / baseSeconds },
    chaos: { ...chaos, seconds: chaosSeconds, rps: chaos.requests / chaosSeconds },
    kills: kills.length,
    notReplaced: kills.length - times.length,
    replacementMs: { p50: times.length ? median(times) : null, max: times.length ? Math.max(...times) : null },
    samples,
    noneOnlineSamples: noneOnline,
    bothDownSamples: bothDown,
  };
}

async function main() {
  const results = [];
  for (const kind of LOADS) {
    const herd = new Herd(`chaos-${kind}`);
    const port = await freePort();
    await herd.start(path.join(APPS, 'hello.js'), 'api', { instances: 2, env: { PORT: String(port) } });
    await waitHttp(port);
    await herd.connectClient();
    try {
      results.push(await scenario(herd, port, kind));
    } finally {
      await herd.destroy();
    }
  }
  const out = path.join(BENCH_DIR, 'results', 'chaos.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, chaosSeconds: CHAOS_S, baselineSeconds: BASELINE_S, results }, null, 2)}\n`);
  console.log('| load | kills | replacement p50 / max | samples with no worker online | success (chaos) | success (baseline) | req/s chaos / baseline | failed per kill |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const ok = (x) => `${fmt(100 * (1 - x.errors / Math.max(1, x.requests)), 3)}%`;
    console.log(`| ${r.kind} ${CONNECTIONS} loops | ${r.kills} | ${fmt(r.replacementMs.p50, 0)} / ${fmt(r.replacementMs.max, 0)} ms | ${r.noneOnlineSamples} of ${r.samples} | ${ok(r.chaos)} | ${ok(r.baseline)} | ${fmt(r.chaos.rps, 0)} / ${fmt(r.baseline.rps, 0)} = ${fmt(r.chaos.rps / r.baseline.rps, 2)} | ${fmt(r.chaos.errors / Math.max(1, r.kills), 1)} (${JSON.stringify(r.chaos.codes)}) |`);
  }
}

main().catch(async (err) => {
  console.error(err);
  await destroyAll();
  process.exit(1);
});
