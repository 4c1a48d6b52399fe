import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, eventually, FIXTURES, freePort, get, kill, NODE, runCli } from '../helpers';

/**
 * `herd run` as a container's PID 1: a PID namespace of its own
 * (`unshare --pid --fork --mount-proc`, which needs root), as Docker or
 * Kubernetes start an entrypoint without --init; and with tini as PID 1,
 * as `docker run --init` does.
 */
const TINI = '/usr/bin/tini';
const noNamespace = process.getuid?.() !== 0
  ? 'needs root for a PID namespace (unshare --pid)'
  : spawnSync('unshare', ['--version']).error !== undefined ? 'no unshare here (util-linux)' : false;
const noTini = noNamespace || (!existsSync(TINI) && !process.env.CI && `no ${TINI} here (apt-get install tini); CI installs it`);

interface Proc { pid: number; ppid: number; state: string; nsPid: number }

/** Every process on the machine, with its pid inside its own PID namespace. */
function processes(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const nsLine = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1] ?? entry;
      const nsPid = Number(nsLine.trim().split(/\s+/).pop());
      all.set(Number(entry), { pid: Number(entry), ppid: Number(ppid), state: state as string, nsPid });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** `root` and every process below it. */
function tree(root: number): Proc[] {
  const all = [...processes().values()];
  const out: Proc[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const p of all) {
      if (p.ppid === pid) {
        out.push(p);
        queue.push(p.pid);
      }
    }
  }
  return out;
}

/** The process that unshare forked into the new namespace: its PID 1. */
function namespaceInit(unsharePid: number): number | undefined {
  return tree(unsharePid).find((p) => p.ppid === unsharePid)?.pid;
}

/** The `herd run` supervisor under `init` (itself, or its child when tini is PID 1). */
function herdIn(init: number): number | undefined {
  const isHerd = (pid: number) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv[1] === CLI && argv[2] === 'run';
    } catch {
      return false;
    }
  };
  if (isHerd(init)) return init;
  return tree(init).find((p) => isHerd(p.pid))?.pid;
}

interface Started {
  child: ChildProcess;
  home: string;
  herdPid: number;
  init: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `herd run <config>` in a PID namespace of its own, under tini when `withTini`. */
async function runInNamespace(t: TestContext, config: object, withTini: boolean): Promise<Started> {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-pid1-'));
  const file = path.join(home, 'herd.config.json');
  writeFileSync(file, JSON.stringify(config));
  const command = [...(withTini ? [TINI, '--'] : []), NODE, CLI, 'run', file];
  const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', ...command], {
    env: { ...process.env, HERD_HOME: home, HERD_ZOMBIE_CHECK_MS: '1000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    // Ending the namespace's PID 1 ends everything in it.
    const init = namespaceInit(child.pid as number);
    if (init !== undefined) kill(init);
    kill(child.pid as number);
    await exited;
    rmSync(home, { recursive: true, force: true });
    if (process.env.HERD_TEST_DEBUG) console.error(stderr);
  });
  const init = await eventually(() => namespaceInit(child.pid as number), 10_000, 'the namespace\'s PID 1');
  const herdPid = await eventually(() => herdIn(init), 10_000, 'herd run in the namespace');
  await eventually(() => (/herd: running .* \(pid \d+\); SIGTERM/.test(stderr) ? true : undefined), 20_000, 'herd run to start its apps');
  return { child, home, herdPid, init, stderr: () => stderr, exited };
}

/** The pid of `pid` in its own namespace (its last NSpid). */
function nsPidOf(pid: number): number | undefined {
  return processes().get(pid)?.nsPid;
}

test('herd run as PID 1: SIGTERM under load turns /ready 503 for shutdownDelay while serving, drains in-flight requests, exits 0; 0 failed requests, no zombie left', { skip: noNamespace }, async (t) => {
  const port = await freePort();
  const healthPort = await freePort();
  const shutdownDelayMs = 2000;
  const killTimeoutMs = 10_000;
  const started = await runInNamespace(t, {
    health: { port: healthPort, shutdownDelay: shutdownDelayMs },
    apps: [{
      name: 'api', script: path.join(FIXTURES, 'latency.js'), instances: 2, killTimeout: killTimeoutMs,
      // The /slow request below is in flight when the drain starts.
      env: { PORT: String(port), SLOW_MS: String(shutdownDelayMs + 2000) },
    }],
  }, false);
  assert.equal(nsPidOf(started.herdPid), 1, 'herd is PID 1 of its namespace');
  assert.match(started.stderr(), /running as PID 1: herd reaps its own workers, but not processes that your apps' children leave behind/);
  await eventually(async () => ((await get(healthPort, '/ready')).status === 200 ? true : undefined), 20_000, '/ready 200');

  // A load balancer in front: keep-alive clients that stop sending new
  // requests once its probe sees /ready answer 503.
  const stats = { ok: 0, failed: 0, non2xx: 0, errors: [] as string[] };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  t.after(() => agent.destroy());
  let routing = true;
  let sawNotReadyAt = 0;
  const one = () => new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) stats.ok++;
        else stats.non2xx++;
        resolve();
      });
    });
    req.on('error', (err) => {
      stats.failed++;
      if (stats.errors.length < 10) stats.errors.push(err.message);
      resolve();
    });
  });
  const clients = Array.from({ length: 16 }, async () => {
    while (routing) await one();
  });
  const probe = (async () => {
    while (routing) {
      const r = await get(healthPort, '/ready').catch(() => ({ status: 0 }));
      if (r.status === 503) {
        sawNotReadyAt = Date.now();
        routing = false;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();

  // Workers replaced under load: the old ones exit, and herd, as PID 1, reaps them.
  await eventually(() => (stats.ok > 200 ? true : undefined), 20_000, 'load to flow');
  const before = tree(started.herdPid).filter((p) => p.ppid === started.herdPid).map((p) => p.pid);
  const reload = await runCli(['reload', 'api'], { HERD_HOME: started.home });
  assert.equal(reload.code, 0, reload.stderr);
  await eventually(() => {
    const now = tree(started.herdPid);
    const zombies = now.filter((p) => p.state === 'Z');
    return zombies.length === 0 && before.every((pid) => !now.some((p) => p.pid === pid)) ? true : undefined;
  }, 15_000, 'the old workers reaped, no zombie');

  const slow = get(port, '/slow');
  await eventually(() => (stats.ok > 400 ? true : undefined), 20_000, 'more load');
  const sigtermAt = Date.now();
  kill(started.herdPid, 'SIGTERM');
  await probe;
  // A request the balancer still sends in the delay (it has not noticed yet) is served.
  const straggler = await get(port, '/');
  assert.equal(straggler.status, 200);
  await Promise.all(clients);
  assert.equal((await slow).status, 200, 'the request in flight when the drain started is answered');
  const code = await started.exited;
  const tookMs = Date.now() - sigtermAt;
  assert.equal(code, 0, started.stderr());
  assert.equal(stats.failed, 0, stats.errors.join('\n'));
  assert.equal(stats.non2xx, 0);
  assert.ok(stats.ok > 400, `${stats.ok} requests served`);
  assert.ok(sawNotReadyAt - sigtermAt < shutdownDelayMs, '/ready turned 503 before the drain started');
  // Bounds, not timings: the delay is waited out, and the drain ends well before killTimeout.
  assert.ok(tookMs >= shutdownDelayMs, `exited ${tookMs} ms after SIGTERM, before shutdownDelay ended`);
  assert.ok(tookMs < shutdownDelayMs + killTimeoutMs, `exited ${tookMs} ms after SIGTERM`);
  assert.match(started.stderr(), /SIGTERM: draining every app/);
});

test('herd run as PID 1 without an init: a job an app leaves behind stays a zombie (herd says so); SIGTERM still exits 0', { skip: noNamespace }, async (t) => {
  const port = await freePort();
  const started = await runInNamespace(t, {
    apps: [{ name: 'jobs', script: path.join(FIXTURES, 'background-job.js'), env: { PORT: String(port) } }],
  }, false);
  const job = Number((await get(port, '/background-job')).body.trim());
  assert.ok(job > 1, `job pid ${job}`);
  // The job was re-parented to herd, exited, and nobody reaps it.
  const zombie = await eventually(() => tree(started.init).find((p) => p.nsPid === job && p.state === 'Z'), 10_000, 'the job to end');
  assert.equal(zombie.ppid, started.herdPid, 'the orphan belongs to PID 1, herd');
  await eventually(() => (new RegExp(`1 zombie process \\(pid ${job}\\), left by your apps' children, wait for an init to reap them`).test(started.stderr()) ? true : undefined), 30_000, 'herd to report the zombie');
  assert.equal(processes().get(zombie.pid)?.state, 'Z', 'still there: herd cannot reap it');
  kill(started.herdPid, 'SIGTERM');
  assert.equal(await started.exited, 0);
});

test('herd run under tini as PID 1 (docker run --init): the job left behind is reaped; SIGTERM to tini drains herd, exit 0', { skip: noTini }, async (t) => {
  const port = await freePort();
  const started = await runInNamespace(t, {
    apps: [{ name: 'jobs', script: path.join(FIXTURES, 'background-job.js'), env: { PORT: String(port) } }],
  }, true);
  assert.notEqual(started.herdPid, started.init, 'tini is PID 1, herd its child');
  assert.doesNotMatch(started.stderr(), /running as PID 1/);
  const job = Number((await get(port, '/background-job')).body.trim());
  assert.ok(job > 1, `job pid ${job}`);
  // Ended and reaped: no process of that pid is left in the namespace, not even a zombie.
  await eventually(() => (tree(started.init).some((p) => p.nsPid === job) ? undefined : true), 10_000, 'the job to end and be reaped');
  assert.equal(tree(started.init).filter((p) => p.state === 'Z').length, 0);
  kill(started.init, 'SIGTERM');
  assert.equal(await started.exited, 0, started.stderr());
  assert.match(started.stderr(), /SIGTERM: draining every app/);
});
