#!/usr/bin/env node
// What a hostile or broken local client costs the daemon, and what a log
// flood does to its memory:
//   1. daemon RSS during a 50 MB burst of log lines from a worker: peak, and
//      a minute later (measured first, from an idle daemon);
//   2. CPU the daemon spends on one 64 MB line without a newline;
//   3. 2,000 connections that send half a line and wait: how many are still
//      open after the half-sent timeout.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { APPS, BENCH_DIR, destroyAll, fmt, freePort, Herd, httpGet, log, mb, memoryOf, sleep, waitFor, waitHttp } from './lib.mjs';

process.on('SIGINT', () => void destroyAll().then(() => process.exit(130)));
const AFTER_S = Number(process.env.BURST_AFTER_S || 60);

function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
}

function openConnections(pid) {
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {}
  }
  return n;
}

async function longLine(socketPath, pid) {
  const before = cpuMs(pid);
  const s = net.connect(socketPath);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  const chunk = 'x'.repeat(1024 * 1024);
  const closed = new Promise((r) => s.once('close', r));
  let sent = 0;
  for (; sent < 64 && !s.destroyed; sent++) {
    if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), closed]);
  }
  await Promise.race([closed, sleep(15_000)]);
  s.destroy();
  await sleep(500);
  return { cpuMs: cpuMs(pid) - before, sentMb: sent };
}

async function halfSent(socketPath, pid) {
  const base = openConnections(pid);
  const sockets = [];
  for (let i = 0; i < 2000; i++) {
    const s = net.connect(socketPath);
    s.on('error', () => {});
    s.write('{"v":4,"id":1,"request":{"ty');
    sockets.push(s);
    if (i % 200 === 199) await sleep(10);
  }
  await sleep(1000);
  const open = openConnections(pid) - base;
  const started = Date.now();
  await waitFor(() => openConnections(pid) - base <= 0, { timeoutMs: 60_000, what: 'half-sent connections to be closed' }).catch(() => {});
  const closedAfterMs = Date.now() - started + 1000;
  const left = openConnections(pid) - base;
  for (const s of sockets) s.destroy();
  return { opened: 2000, openAfter1s: open, allClosedAfterMs: closedAfterMs, leftOpen: left };
}

async function burst(herd, port, pid) {
  const before = memoryOf(pid).rss;
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, memoryOf(pid).rss);
      await sleep(50);
    }
  })();
  // 50 MB: 500,000 lines of ~100 characters, in requests of 50,000 lines.
  for (let i = 0; i < 10; i++) await httpGet(port, { pathName: '/flood?n=50000', timeoutMs: 60_000 });
  await sleep(2000);
  sampling = false;
  await sampler;
  const afterBurst = memoryOf(pid).rss;
  log(`waiting ${AFTER_S}s after the burst`);
  await sleep(AFTER_S * 1000);
  const later = memoryOf(pid).rss;
  const dropped = (await herd.describe('flood')).logLinesDropped;
  return { before, peak, afterBurst, later, dropped };
}

async function main() {
  const herd = new Herd('control');
  const port = await freePort();
  const logApp = path.join(BENCH_DIR, '..', 'test', 'fixtures', 'log-server.js');
  await herd.start(logApp, 'flood', { instances: 1, env: { PORT: String(port) } });
  await waitHttp(port);
  const pid = herd.daemonPid();
  const socketPath = path.join(herd.home, 'herd.sock');
  try {
    // The burst first, from an idle daemon: the other probes leave garbage behind.
    const b = await burst(herd, port, pid);
    const line = await longLine(socketPath, pid);
    log(`64 MB line: ${fmt(line.cpuMs, 0)} ms of daemon CPU (${line.sentMb} MB sent before the daemon closed)`);
    const half = await halfSent(socketPath, pid);
    log(`half-sent: ${JSON.stringify(half)}`);
    const result = { date: new Date().toISOString(), node: process.version, longLine: line, halfSent: half, burst: b };
    fs.writeFileSync(path.join(BENCH_DIR, 'results', 'control-socket.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log('| probe | result |');
    console.log('|---|---|');
    console.log(`| one 64 MB line without a newline | ${fmt(line.cpuMs, 0)} ms of daemon CPU; connection closed after ${line.sentMb} MB were sent |`);
    console.log(`| 2,000 connections sending half a line | ${half.openAfter1s} open after 1 s; all closed ${fmt(half.allClosedAfterMs / 1000, 1)} s after that check; ${half.leftOpen} left |`);
    console.log(`| 50 MB log burst from one worker | daemon RSS ${fmt(mb(b.before))} MB before, peak ${fmt(mb(b.peak))} MB, ${fmt(mb(b.afterBurst))} MB just after, ${fmt(mb(b.later))} MB ${AFTER_S} s later; ${b.dropped} lines dropped |`);
  } finally {
    await herd.destroy();
  }
}

main().catch(async (err) => {
  console.error(err);
  await destroyAll();
  process.exit(1);
});
