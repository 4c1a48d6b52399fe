#!/usr/bin/env node
// The throughput cost of sticky sessions. Hello world (bench/apps/hello.js),
// 2 workers: herd by default (the workers accept from the shared listening
// socket), herd with `sticky: true` (the daemon accepts and hands each
// connection to a worker by client address), and PM2 cluster mode `-i 2`
// (its primary accepts and hands connections round-robin) as the anchor.
// autocannon with keep-alive and with `Connection: close`, from many client
// addresses and from one; configurations alternated within each round.
// During the sticky runs the daemon's CPU and the round trip of its control
// socket (`list`, every 100 ms) are measured too.
//   node bench/sticky.mjs [--rounds 3] [--duration 10] [--connections 50] [--out bench/STICKY.md]
// Needs a build (npm run build). Prints a table and writes it to --out, raw figures to bench/results/sticky.json.
import { createRequire } from 'node:module';
import { writeFileSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import { APPS, BENCH_DIR, Herd, Pm2, check, destroyAll, freePort, log, median, waitHttp, warm } from './lib.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const net = require('node:net');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const rounds = Number(opt('rounds', 3));
const duration = Number(opt('duration', 10));
const connections = Number(opt('connections', 50));
const out = opt('out', path.join(BENCH_DIR, 'STICKY.md'));
const HELLO = path.join(APPS, 'hello.js');

// Sticky routing depends on the client's address, and every client of a load
// generator on this host is 127.0.0.1. All of 127.0.0.0/8 is the loopback
// interface on Linux, so "many clients" bind each new connection to the next
// of 64 source addresses. autocannon has no option for that and connects with
// net.connect(port, host); wrapping net.connect in this harness process (not
// in anything measured) is the only way short of writing another load
// generator. Binding costs the client a little, the same for every server.
const SOURCES = Array.from({ length: 64 }, (_, i) => `127.0.1.${i + 1}`);
const realConnect = net.connect;
let sources = null;
let nextSource = 0;
net.connect = function connect(...args) {
  if (sources && args.length === 2 && /^\d+$/.test(String(args[0]))) {
    return realConnect.call(net, { port: Number(args[0]), host: args[1], localAddress: sources[nextSource++ % sources.length] });
  }
  return realConnect.apply(net, args);
};

/** utime + stime of a process in seconds (clock ticks are 1/100 s on Linux). */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function drive(port, { close, many }) {
  sources = many ? SOURCES : null;
  const headers = close ? { connection: 'close' } : undefined;
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: 1, headers }); // warm-up
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration, headers, timeout: 10 });
  sources = null;
  return { rps: result.requests.average, total: result.requests.total, errors: result.errors, non2xx: result.non2xx };
}

/** Polls the daemon's control socket while `run` runs: round-trip ms of each `list`. */
async function whilePolling(client, run) {
  const rtts = [];
  let going = true;
  const poller = (async () => {
    while (going) {
      const t0 = performance.now();
      await client.request({ type: 'list' });
      rtts.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { result: await run(), rtts };
  } finally {
    going = false;
    await poller;
  }
}

async function main() {
  const herd = new Herd('sticky');
  const pm2 = new Pm2('sticky');
  const ports = { default: await freePort(), sticky: await freePort(), pm2: await freePort() };
  const config = path.join(herd.home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({
    apps: [
      { name: 'default', script: HELLO, instances: 2, env: { PORT: ports.default } },
      { name: 'sticky', script: HELLO, instances: 2, sticky: true, env: { PORT: ports.sticky } },
    ],
  }));
  check(await herd.cli(['start', config]), 'herd start');
  await pm2.start(HELLO, 'hello', { instances: 2, env: { PORT: String(ports.pm2) } });
  for (const p of Object.values(ports)) {
    await waitHttp(p);
    await warm(p);
  }
  const client = await herd.connectClient();
  if (!client) throw new Error('needs dist/client (npm run build)');
  const daemonPid = herd.daemonPid();
  const pm2Pid = pm2.godPid();
  const configs = [
    { name: 'herd default', port: ports.default, many: true, daemon: daemonPid },
    { name: 'herd sticky', port: ports.sticky, many: true, daemon: daemonPid, poll: true },
    { name: 'pm2 -i 2', port: ports.pm2, many: true, daemon: pm2Pid },
    { name: 'herd default, one address', port: ports.default, many: false, daemon: daemonPid },
    { name: 'herd sticky, one address', port: ports.sticky, many: false, daemon: daemonPid, poll: true },
  ];
  const runs = [];
  for (let round = 1; round <= rounds; round++) {
    for (const close of [false, true]) {
      // Rotate the order each round so no configuration always runs first.
      const order = configs.map((_, i) => configs[(i + round - 1) % configs.length]);
      for (const c of order) {
        const before = cpuSeconds(c.daemon);
        const t0 = performance.now();
        const { result, rtts } = c.poll
          ? await whilePolling(client, () => drive(c.port, { close, many: c.many }))
          : { result: await drive(c.port, { close, many: c.many }), rtts: [] };
        const seconds = (performance.now() - t0) / 1000;
        const daemonCpu = ((cpuSeconds(c.daemon) - before) / seconds) * 100;
        const run = { round, config: c.name, traffic: close ? 'Connection: close' : 'keep-alive', ...result, daemonCpu, rtts };
        runs.push(run);
        log(`round ${round} ${run.traffic} ${c.name}: ${result.rps.toFixed(0)} req/s, errors ${result.errors}, non-2xx ${result.non2xx}, ` +
          `daemon ${daemonCpu.toFixed(0)}% cpu${rtts.length ? `, control p50 ${median(rtts).toFixed(1)} ms max ${Math.max(...rtts).toFixed(1)} ms` : ''}`);
      }
    }
  }
  const stickyDetail = await client.request({ type: 'describe', name: 'sticky' });
  return { runs, sticky: stickyDetail.sticky, load: loadavg() };
}

function report({ runs, sticky, load }, startLoad) {
  const f0 = (n) => Math.round(n).toLocaleString('en-US');
  const pick = (config, traffic) => runs.filter((r) => r.config === config && r.traffic === traffic);
  const summary = (config, traffic) => {
    const xs = pick(config, traffic).map((r) => r.rps);
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs };
  };
  const lines = [];
  lines.push('| traffic | configuration | req/s median | min–max | per round | daemon CPU | control socket p50 / max ms | errors |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const traffic of ['keep-alive', 'Connection: close']) {
    for (const config of [...new Set(runs.map((r) => r.config))]) {
      const s = summary(config, traffic);
      const rs = pick(config, traffic);
      const rtts = rs.flatMap((r) => r.rtts);
      const cpu = median(rs.map((r) => r.daemonCpu));
      const errors = rs.reduce((n, r) => n + r.errors + r.non2xx, 0);
      lines.push(`| ${traffic} | ${config} | ${f0(s.median)} | ${f0(s.min)}–${f0(s.max)} | ${s.runs.map(f0).join(', ')} | ${cpu.toFixed(0)}% | ` +
        `${rtts.length ? `${median(rtts).toFixed(1)} / ${Math.max(...rtts).toFixed(1)}` : '-'} | ${errors} |`);
    }
  }
  const ratioLines = [];
  ratioLines.push('| traffic | sticky / default (many addresses) | sticky / default (one address) | sticky / PM2 | default / PM2 |');
  ratioLines.push('|---|---|---|---|---|');
  const perRound = (a, b, traffic) => {
    const xs = pick(a, traffic);
    const ys = pick(b, traffic);
    return xs.map((x, i) => x.rps / ys[i].rps);
  };
  const show = (rs) => `${median(rs).toFixed(2)} (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`;
  for (const traffic of ['keep-alive', 'Connection: close']) {
    ratioLines.push(`| ${traffic} | ${show(perRound('herd sticky', 'herd default', traffic))} | ` +
      `${show(perRound('herd sticky, one address', 'herd default, one address', traffic))} | ` +
      `${show(perRound('herd sticky', 'pm2 -i 2', traffic))} | ${show(perRound('herd default', 'pm2 -i 2', traffic))} |`);
  }
  const c = cpus();
  return `# Sticky sessions: throughput cost

Generated by \`node bench/sticky.mjs\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${c.length} × ${c[0]?.model ?? 'cpu'}, Node ${process.version},
shared machine (load average ${startLoad.map((x) => x.toFixed(1)).join(' ')} at the start, ${load.map((x) => x.toFixed(1)).join(' ')} at the end; autocannon on the same host).

Hello world, 2 workers; autocannon ${connections} connections, ${duration} s per run after a 1 s warm-up, ${rounds} rounds, the
configurations alternated within each round. "Many addresses": every new connection comes from the next
of 64 loopback source addresses; "one address": all from 127.0.0.1 (as behind a proxy: sticky then puts
every connection on one worker). Daemon CPU is herd's daemon (PM2's God daemon for PM2) during the run, in %
of one core. The control socket figure is the round trip of a \`list\` request every 100 ms during the run.

${lines.join('\n')}

Ratios of req/s, median of the per-round ratios (min–max):

${ratioLines.join('\n')}

The sticky app's router at the end: ${sticky ? `${sticky.accepted.toLocaleString('en-US')} connections accepted, ${sticky.handedOff.toLocaleString('en-US')} taken by workers ` +
    `(${sticky.perSlot.map((p) => `[${p.slot}] ${p.connections.toLocaleString('en-US')}`).join(', ')}), ${sticky.rerouted} re-routed, ${sticky.dropped.total} dropped` : 'no figures'}.
`;
}

const startLoad = loadavg();
process.on('SIGINT', () => void destroyAll().then(() => process.exit(130)));
try {
  const data = await main();
  writeFileSync(path.join(BENCH_DIR, 'results', 'sticky.json'), JSON.stringify(data, null, 2));
  const text = report(data, startLoad);
  writeFileSync(out, text);
  process.stdout.write(text);
} finally {
  await destroyAll();
}
