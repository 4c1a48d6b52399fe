#!/usr/bin/env node
// The fleet's figures (issue 14), measured with the real parts: three herd
// hosts, each in a network namespace (root only), one redis-server, HAProxy
// in front with the config `herd lb haproxy` prints, autocannon's 50
// keep-alive connections through HAProxy.
//
//   node bench/fleet.mjs [scenario...]
//
// Scenarios: reload, broken, killed, jobs, redis, refused, cost (default: all).
// Prints a markdown report on stdout (progress on stderr) and writes
// bench/results/fleet.json. Timings are reported, never asserted.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// The fleet harness of the tests is TypeScript: run again with tsx's loader when it is not loaded.
if (!process.env.HERD_BENCH_TSX) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, HERD_BENCH_TSX: '1' },
  });
  process.exit(r.status ?? 1);
}

const { BENCH_DIR, fmt, keepAliveLoad, log, median, sleep, waitFor } = await import('./lib.mjs');
const { createFleetNet, netnsProblem } = await import('../test/fleet/netns.ts');
const { startRedis, redisProblem, REDIS_CLI } = await import('../test/fleet/redisServer.ts');
const { member, fleetStatus, helloApp, SECRET, APP_PORT } = await import('../test/fleet/members.ts');
const { CLI, FIXTURES, NODE } = await import('../test/helpers.ts');

const ALL = ['reload', 'broken', 'killed', 'jobs', 'redis', 'refused', 'cost'];
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
for (const s of chosen) if (!ALL.includes(s)) throw new Error(`unknown scenario ${s}; known: ${ALL.join(', ')}`);
const problem = netnsProblem() || redisProblem() || (spawnSync('haproxy', ['-v']).status === 0 ? false : 'no haproxy (apt-get install haproxy)');
if (problem) {
  console.error(`bench/fleet: cannot run: ${problem}`);
  process.exit(1);
}

/** The cleanups of what the bench started, run at the end even on failure (what the tests' t.after is). */
const hooks = [];
const t = { after: (fn) => hooks.push(fn) };
async function cleanup() {
  for (const fn of hooks.reverse()) await Promise.resolve().then(fn).catch((err) => log(`cleanup: ${err.message}`));
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const results = {};
const GOOD = fs.readFileSync(path.join(FIXTURES, 'hello.js'), 'utf8');
const BROKEN = "throw new Error('v2 cannot read its config');\n";

function deploy(m, script, name = 'api') {
  const dir = path.join(m.home, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), `{"name":"${name}","version":"1.0.0"}\n`);
  fs.writeFileSync(path.join(dir, 'server.js'), script);
  return dir;
}

async function pids(m, app = 'api') {
  const r = await m.herd(['list', '--json']);
  if (r.code !== 0) throw new Error(`${m.host.name}: herd list: ${r.stderr}`);
  const a = JSON.parse(r.stdout).find((x) => x.name === app);
  return (a?.workers ?? []).filter((w) => w.status === 'online').map((w) => w.pid).sort();
}

async function main() {
  const net = await createFleetNet(t, 3);
  const redis = await startRedis(t, { bind: [net.bridgeAddress] });
  const dir = fs.mkdtempSync('/tmp/herd-bench-fleet-');
  hooks.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'haproxy.sock');
  const members = net.hosts.map((h) => member(t, net, h, redis.url, { apps: [], fleet: { lb: { haproxy: { socket } } }, extra: { health: { port: 9100 } } }));
  for (const m of members) {
    const cwd = deploy(m, GOOD);
    const second = deploy(m, GOOD, 'admin');
    const apps = [helloApp({ script: 'server.js', cwd }), helloApp({ name: 'admin', script: 'server.js', cwd: second, env: { PORT: '8081' } })];
    fs.writeFileSync(m.config, fs.readFileSync(m.config, 'utf8').replace('"apps":[]', `"apps":${JSON.stringify(apps)}`));
    const r = await m.herd(['start', m.config]);
    if (r.code !== 0) throw new Error(`${m.host.name}: herd start: ${r.stderr}`);
  }
  const [h1, h2] = members;
  await waitFor(async () => (await fleetStatus(h1)).view.hosts.filter((h) => h.online && h.apps.every((a) => a.online === a.workers)).length === 3, { timeoutMs: 30_000, what: 'three hosts up' });

  // HAProxy in the root namespace, on loopback, with the config herd generates from the registry.
  const port = 18_000 + Math.floor(Math.random() * 1000);
  const cfg = await h1.herd(['lb', 'haproxy', 'api', '--socket', socket, '--port', String(port)]);
  if (cfg.code !== 0) throw new Error(`herd lb haproxy: ${cfg.stderr}`);
  const cfgFile = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(cfgFile, cfg.stdout.replace(/bind \S+:(\d+)/, `bind 127.0.0.1:${port}`));
  const checkCfg = spawnSync('haproxy', ['-c', '-f', cfgFile], { encoding: 'utf8' });
  if (checkCfg.status !== 0) throw new Error(`haproxy -c: ${checkCfg.stdout}${checkCfg.stderr}`);
  const haproxy = spawn('haproxy', ['-W', '-db', '-f', cfgFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  hooks.push(() => new Promise((resolve) => {
    if (haproxy.exitCode !== null) return resolve();
    haproxy.once('exit', resolve);
    haproxy.kill('SIGTERM');
  }));
  await waitFor(() => fs.existsSync(socket), { timeoutMs: 10_000, what: 'the HAProxy socket' });
  const { HaproxyRuntime } = await import('../src/fleet/haproxyRuntime.ts');
  const runtime = new HaproxyRuntime(socket);
  await waitFor(async () => (await runtime.servers('api')).filter((s) => /^UP/.test(s.status)).length === 3, { timeoutMs: 20_000, what: 'three servers UP in HAProxy' });
  const through = () => keepAliveLoad(port, { connections: 50 });
  const fleetReload = async (args) => {
    const started = Date.now();
    const r = await h1.herd(['fleet', 'reload', 'api', '--json', ...args], 300_000);
    return { code: r.code, ms: Date.now() - started, report: r.stdout.trim().startsWith('{') ? JSON.parse(r.stdout) : null, stderr: r.stderr };
  };

  if (chosen.includes('reload')) {
    for (const [label, args] of [['plain', []], ['drain', ['--drain']]]) {
      const before = await Promise.all(members.map((m) => pids(m)));
      const load = through();
      await sleep(1000);
      const r = await fleetReload(args);
      await sleep(1000);
      const stats = await load.stop();
      const after = await Promise.all(members.map((m) => pids(m)));
      results[`reload-${label}`] = {
        exit: r.code, requests: stats.requests, errors: stats.errors, non2xx: stats.non2xx, errorCodes: stats.errorCodes,
        perHostMs: r.report?.hosts.map((h) => [h.host, h.ms]), totalMs: r.ms,
        pidsReplaced: after.every((p, i) => p.every((x) => !before[i].includes(x))),
      };
      log(`fleet reload (${label}): exit ${r.code}, ${stats.requests} requests, ${stats.errors} errors, ${stats.non2xx} non-2xx`);
    }
  }

  if (chosen.includes('broken')) {
    const before = await Promise.all(members.map((m) => pids(m)));
    const revisions = (await fleetStatus(h1)).view.hosts.map((h) => h.apps.find((a) => a.name === 'api')?.revision);
    for (const m of members) deploy(m, BROKEN);
    const load = through();
    await sleep(1000);
    const r = await fleetReload([]);
    await sleep(1000);
    const stats = await load.stop();
    const after = await Promise.all(members.map((m) => pids(m)));
    const revisionsAfter = (await fleetStatus(h1)).view.hosts.map((h) => h.apps.find((a) => a.name === 'api')?.revision);
    for (const m of members) deploy(m, GOOD);
    results.broken = {
      exit: r.code, stopped: r.report?.stopped, states: r.report?.hosts.map((h) => [h.host, h.state]),
      pidsKept: after.every((p, i) => JSON.stringify(p) === JSON.stringify(before[i])),
      revisionsKept: JSON.stringify(revisions) === JSON.stringify(revisionsAfter),
      requests: stats.requests, errors: stats.errors, non2xx: stats.non2xx,
    };
    log(`broken deploy: exit ${r.code}, ${r.report?.stopped}`);
  }

  if (chosen.includes('killed')) {
    const load = through();
    await sleep(1000);
    // Progress lines as they come: host2 dies once it has begun its reload (host1 done and settled).
    const child = net.exec(h1.host, NODE, [CLI, 'fleet', 'reload', 'api', '--settle', '3s'], { env: { ...process.env, HERD_HOME: h1.home } });
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => /host2: reloading/.test(child.output()), { timeoutMs: 60_000, what: 'the rollout to reach host2' });
    await net.kill(h2.host, { signal: 'SIGKILL' });
    const killedAt = Date.now();
    const code = await exited;
    const reportMs = Date.now() - killedAt;
    await sleep(2000);
    const stats = await load.stop();
    const text = child.output();
    results.killed = {
      exit: code, reportAfterKillMs: reportMs,
      rows: text.split('\n').filter((l) => /^host\d\s/.test(l)).map((l) => l.replace(/\s+/g, ' ').trim()),
      stopped: (/fleet reload api stopped: (.*)/.exec(text) ?? [])[1] ?? null,
      requests: stats.requests, errors: stats.errors, non2xx: stats.non2xx, errorCodes: stats.errorCodes,
    };
    log(`host killed mid-rollout: exit ${code}, ${stats.errors} errors`);
    const back = await h2.herd(['start', h2.config]);
    if (back.code !== 0) throw new Error(`host2 back: ${back.stderr}`);
  }

  if (chosen.includes('jobs')) {
    // A job every 2 s on all three hosts for 2 minutes; host3 dies (its whole namespace) at 40 s and herd starts there again at 60 s.
    const jobConfig = (m) => {
      const file = path.join(m.home, 'jobs.config.js');
      const cfg = fs.readFileSync(m.config, 'utf8').replace(/"apps":\[.*\]\};/s, `"apps":[${JSON.stringify({
        name: 'report', script: path.join(FIXTURES, 'job-tick.js'), cron: '*/2 * * * * *', env: { JOB_OUT: path.join(m.home, 'report.txt') },
      })}]};`);
      fs.writeFileSync(file, cfg);
      return file;
    };
    for (const m of members) {
      const r = await m.herd(['start', jobConfig(m)]);
      if (r.code !== 0) throw new Error(`${m.host.name}: job start: ${r.stderr}`);
    }
    const began = Date.now();
    await sleep(40_000);
    const h3 = members[2];
    await net.kill(h3.host, { signal: 'SIGKILL', graceMs: 0 });
    const killedAt = Date.now() - began;
    await sleep(20_000);
    const restarted = await h3.herd(['start', jobConfig(h3)]);
    if (restarted.code !== 0) throw new Error(`host3 jobs again: ${restarted.stderr}`);
    await h3.herd(['start', h3.config]);
    await sleep(Math.max(0, 120_000 - (Date.now() - began)));
    for (const m of members) await m.herd(['stop', 'report']);
    const runs = members.flatMap((m) => {
      const file = path.join(m.home, 'report.txt');
      if (!fs.existsSync(file)) return [];
      return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => {
        const [, tick, fence] = /tick=(\S+) fence=(\S+)/.exec(line) ?? [];
        return { host: m.host.name, tick: Date.parse(tick), fence: Number(fence) };
      });
    }).sort((a, b) => a.tick - b.tick);
    const byTick = new Map();
    for (const r of runs) byTick.set(r.tick, [...(byTick.get(r.tick) ?? []), r.host]);
    const ticks = [...byTick.keys()];
    let gaps = 0;
    for (let i = 1; i < ticks.length; i++) gaps += Math.round((ticks[i] - ticks[i - 1]) / 2000) - 1;
    const fencesGrow = runs.every((r, i) => i === 0 || r.fence > runs[i - 1].fence);
    results.jobs = {
      ticks: ticks.length, runs: runs.length, duplicates: [...byTick.values()].filter((h) => h.length > 1).length, gaps, fencesGrow,
      spanS: ticks.length > 1 ? (ticks[ticks.length - 1] - ticks[0]) / 1000 : 0, killedAtS: Math.round(killedAt / 1000),
      perHost: Object.fromEntries(members.map((m) => [m.host.name, runs.filter((r) => r.host === m.host.name).length])),
    };
    log(`jobs: ${ticks.length} ticks, ${runs.length} runs, ${results.jobs.duplicates} duplicated, ${gaps} missing`);
  }

  if (chosen.includes('redis')) {
    const load = through();
    await sleep(1000);
    await redis.stop();
    const stoppedAt = Date.now();
    const during = await fleetStatus(h1);
    await sleep(30_000);
    await redis.start();
    const restarted = Date.now();
    await waitFor(async () => {
      const { view } = await fleetStatus(h1);
      return view.redis.ok && view.hosts.filter((h) => h.online && h.lastSeenS < 1.5).length === 3;
    }, { timeoutMs: 30_000, intervalMs: 100, what: 'every host registered again' });
    const backMs = Date.now() - restarted;
    const stats = await load.stop();
    results.redis = { downMs: restarted - stoppedAt, statusExit: during.code, statusSays: during.view.redis.error, backMs, requests: stats.requests, errors: stats.errors, non2xx: stats.non2xx };
    log(`Redis stopped ${Math.round((restarted - stoppedAt) / 1000)} s: ${stats.errors} errors; every host back in ${backMs} ms`);
  }

  if (chosen.includes('refused')) {
    const url = new URL(redis.url);
    const cli = (...args) => net.run(net.hosts[0], REDIS_CLI, ['-h', url.hostname, '-p', url.port, ...args]);
    const pidsBefore = await pids(h2);
    await cli('XADD', 'herd:fleet:cmd:host2', '*', 'c', JSON.stringify({ id: 'forged-bench-0001', sender: 'mallory:1', host: 'host2', at: Date.now(), verb: 'stop', app: 'api' }), 's', 'ab'.repeat(32));
    const range = (await cli('--raw', 'XREVRANGE', 'herd:fleet:cmd:host2', '+', '-', 'COUNT', '2')).stdout.trim().split('\n');
    const real = range.findIndex((line) => line.includes('"sender":"host1:'));
    await cli('XADD', 'herd:fleet:cmd:host2', '*', 'c', range[real], 's', range[real + 2]);
    const wrongApp = await h1.herd(['fleet', 'stop', 'billing', '--host', 'host2']);
    const logFile = path.join(h2.home, 'daemon.log');
    await waitFor(() => (fs.readFileSync(logFile, 'utf8').match(/fleet: refused/g) ?? []).length >= 3, { timeoutMs: 10_000, what: 'three refusals' });
    results.refused = {
      lines: fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => /fleet: refused/.test(l)).map((l) => l.replace(/^\S+ /, '')),
      wrongAppExit: wrongApp.code, unchanged: JSON.stringify(await pids(h2)) === JSON.stringify(pidsBefore),
      secretInLogs: members.some((m) => fs.readFileSync(path.join(m.home, 'daemon.log'), 'utf8').includes(SECRET)),
    };
  }

  if (chosen.includes('cost')) {
    const daemonPid = (m) => Number(fs.readFileSync(path.join(m.home, 'daemon.pid'), 'utf8'));
    const cpuTicks = (pid) => {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    const sample = async (seconds) => {
      const ps = members.map(daemonPid);
      const a = ps.map(cpuTicks);
      await sleep(seconds * 1000);
      return ps.map((p, i) => ((cpuTicks(p) - a[i]) / hz / seconds) * 100);
    };
    const withFleet = await sample(30);
    const times = [];
    for (let i = 0; i < 10; i++) {
      const s = Date.now();
      await fleetStatus(h1);
      times.push(Date.now() - s);
    }
    // The same hosts without the fleet: each daemon started again from a config without the `fleet` key.
    for (const m of members) {
      await m.herd(['kill']);
      const text = fs.readFileSync(m.config, 'utf8').replace(/"fleet":\{[^}]*\{[^}]*\}[^}]*\},/, '');
      fs.writeFileSync(`${m.config}.nofleet.js`, text);
      const r = await m.herd(['start', `${m.config}.nofleet.js`]);
      if (r.code !== 0) throw new Error(`${m.host.name}: start without fleet: ${r.stderr}`);
    }
    await sleep(3000);
    const without = await sample(30);
    results.cost = {
      cpuWithFleet: withFleet.map((x) => Number(x.toFixed(3))), cpuWithout: without.map((x) => Number(x.toFixed(3))),
      extraPercentOfCore: Number((median(withFleet) - median(without)).toFixed(3)),
      statusMs: { median: median(times), max: Math.max(...times), runs: times },
    };
    log(`daemon CPU with fleet ${withFleet.map((x) => fmt(x, 2)).join('/')} % vs without ${without.map((x) => fmt(x, 2)).join('/')} %; status ${median(times)} ms`);
  }
}

let failed = null;
try {
  await main();
} catch (err) {
  failed = err;
  log(`failed: ${err.stack ?? err}`);
} finally {
  await cleanup();
}
fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
fs.writeFileSync(path.join(BENCH_DIR, 'results', 'fleet.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
process.exit(failed ? 1 : 0);
