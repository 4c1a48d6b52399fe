import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { AppSpec } from '../../src/config/types';
import { loadTarget } from '../../src/config/load';
import { CLI, eventually, FIXTURES, freePort, get, herdHome, list, load, NODE, ROOT, runCli } from '../helpers';

// The built client: its daemon path is dist/daemon/main.js, which the test's
// node can start (the sources need tsx). Specs go straight to the daemon,
// shaped as the config loader will build them for runner 'exec'.
const { HerdClient } = require(path.join(ROOT, 'dist', 'client', 'client.js')) as typeof import('../../src/client/client');

const NPM = path.join(path.dirname(process.execPath), 'npm');
const python3 = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
})();
/** Can the `node` on PATH (the one the shell and npm fixtures run) share a port (reusePort, Node >= 22.12)? */
const pathNodeSharesPorts = (() => {
  const [major, minor] = execFileSync('node', ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim().split('.').map(Number);
  return (major ?? 0) > 22 || (major === 22 && (minor ?? 0) >= 12);
})();

function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) out[k] = v;
  // npm must not look for updates (no traffic off the machine).
  return { ...out, npm_config_update_notifier: 'false', ...extra };
}

/** A spec as `herd start <script>` builds it, then changed as a config file would. */
async function specFor(script: string, name: string, env: Record<string, string>, change: Partial<AppSpec> = {}): Promise<AppSpec> {
  const { specs } = await loadTarget(script, { cwd: ROOT, env: cleanEnv(env), envName: null, overrides: { name }, interpreter: NODE, cpus: 2 });
  const spec = specs[0];
  assert.ok(spec);
  return { ...spec, ...change };
}

async function client(t: TestContext, home: string): Promise<import('../../src/client/client').HerdClient> {
  const c = await HerdClient.connect({ home, autoStart: true });
  t.after(() => c.close());
  return c;
}

interface Detail { status: string; reason: string; listening: string[]; logLinesDropped: number; lastStderr: string[]; retryAt: number | null; workers: { pid: number | null; status: string }[] }

async function describe(herd: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>, name: string): Promise<Detail> {
  const r = await herd(['describe', name, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Detail;
}

interface Proc { pid: number; ppid: number; pgrp: number; state: string; cmd: string }

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(name), state: f[0] ?? '', ppid: Number(f[1]), pgrp: Number(f[2]), cmd });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The worker and every process below it or in its process group. */
function treeOf(root: number): Proc[] {
  const all = processes();
  const found = new Map<number, Proc>();
  const stack = all.filter((p) => p.pid === root || p.pgrp === root);
  while (stack.length > 0) {
    const p = stack.pop() as Proc;
    if (found.has(p.pid)) continue;
    found.set(p.pid, p);
    stack.push(...all.filter((c) => c.ppid === p.pid));
  }
  return [...found.values()];
}

function alive(pids: number[]): Proc[] {
  const set = new Set(pids);
  // A zombie has exited; it only waits for its parent (or init) to reap it.
  return processes().filter((p) => set.has(p.pid) && p.state !== 'Z');
}

interface ExecShape {
  what: string;
  skip: string | false;
  /** Whether the server in the tree can share its port with its replacement. */
  sharesPort: boolean;
  spec: (port: number) => Promise<AppSpec>;
  /** A process of the tree that must be there once it serves (the server, not only its launcher). */
  server: RegExp;
}

const EXEC_SHAPES: ExecShape[] = [
  {
    what: 'python3 http.server (interpreter python3)',
    skip: python3 ? false : 'python3 is not installed',
    sharesPort: true,
    spec: (port) => specFor(path.join(FIXTURES, 'd-http.py'), 'py', { PORT: String(port) }, { runner: 'exec', interpreter: python3 ?? 'python3', execMode: 'fork', instances: 1 }),
    server: /d-http\.py/,
  },
  {
    what: "bash script running node (interpreter '')",
    skip: false,
    sharesPort: pathNodeSharesPorts,
    spec: (port) => specFor(path.join(FIXTURES, 'd-start.sh'), 'sh', { PORT: String(port) }, { runner: 'exec', interpreter: '', execMode: 'fork', instances: 1 }),
    server: /node d-server\.js/,
  },
  {
    what: 'npm start (script: npm, args: start)',
    skip: existsSync(NPM) ? false : `no npm beside ${process.execPath}`,
    sharesPort: pathNodeSharesPorts,
    spec: async (port) => {
      const spec = await specFor(NPM, 'npmapp', { PORT: String(port) }, { runner: 'exec', interpreter: '', execMode: 'fork', instances: 1, args: ['start'] });
      return { ...spec, cwd: path.join(FIXTURES, 'd-npm-app') };
    },
    server: /node server\.js/,
  },
];

for (const shape of EXEC_SHAPES) {
  test(`runner exec, ${shape.what}: ready once it listens, reload under load, stop ends the whole tree`, { skip: shape.skip }, async (t) => {
    const { home, herd } = herdHome(t);
    const port = await freePort();
    const spec = await shape.spec(port);
    const c = await client(t, home);
    const started = await c.request({ type: 'start', apps: [spec] });
    assert.deepEqual(started.started, [spec.name]);
    // Ready means listening: the very first request succeeds.
    const first = await get(port);
    assert.equal(first.status, 200);
    const [app] = await list(herd);
    assert.equal(app?.status, 'online');
    const pid = app.workers[0]?.pid;
    assert.ok(pid);
    const tree = treeOf(pid);
    assert.ok(tree.some((p) => shape.server.test(p.cmd)), `the server runs in the worker's tree: ${tree.map((p) => p.cmd).join(' | ')}`);
    assert.ok(tree.some((p) => String(p.pid) === first.body.trim()), 'the server that answered is in the tree');
    // No agent in an exec worker.
    assert.ok(!tree.some((p) => p.cmd.includes('agent/main')), tree.map((p) => p.cmd).join(' | '));
    const d = await describe(herd, spec.name);
    assert.ok(d.listening.some((l) => l.endsWith(`:${port}`)), `describe shows the address found: ${d.listening.join()}`);

    const traffic = load(port, 4);
    await eventually(async () => ((await get(port)).status === 200 ? true : undefined), 5000, 'traffic');
    const reload = await herd(['reload', spec.name]);
    const stats = await traffic.stop();
    assert.equal(reload.code, 0, reload.stderr + reload.stdout);
    const [after] = await list(herd);
    const newPid = after?.workers[0]?.pid;
    assert.ok(newPid && newPid !== pid, 'a new worker serves');
    assert.equal(after?.status, 'online');
    assert.ok(stats.ok > 0);
    assert.equal(alive(tree.map((p) => p.pid)).length, 0, 'the old tree is gone after the reload');
    if (shape.sharesPort) {
      assert.equal(stats.failed + stats.non2xx, 0, `lost requests during the reload: ${stats.errors.join()}`);
    } else {
      // The server cannot share its port with a replacement (Node < 22.12 has no
      // reusePort): the reload says so and replaces the worker stop-first.
      assert.match(reload.stdout, /cannot share port \d+.*stop-first/s, reload.stdout);
      t.diagnostic(`reload stop-first: ${stats.failed} of ${stats.ok + stats.failed} requests refused meanwhile`);
    }
    assert.equal((await get(port)).body.trim() !== first.body.trim(), true);

    const newTree = treeOf(newPid);
    assert.ok(newTree.length >= 1);
    const stop = await herd(['stop', spec.name]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.deepEqual(alive(newTree.map((p) => p.pid)), [], 'no process of the tree survives herd stop');
  });
}

test('runner exec: a tree that ignores SIGINT is killed as a group after killTimeout', async (t) => {
  const { home, herd } = herdHome(t);
  const script = path.join(FIXTURES, 'd-stubborn.sh');
  const spec = await specFor(script, 'stubborn', {}, { runner: 'exec', interpreter: '', execMode: 'fork', instances: 1, killTimeout: 1000 });
  const c = await client(t, home);
  await c.request({ type: 'start', apps: [spec] });
  const [app] = await list(herd);
  const pid = app?.workers[0]?.pid;
  assert.ok(pid);
  const tree = await eventually(() => {
    const found = treeOf(pid);
    return found.length >= 3 ? found : undefined;
  }, 10_000, 'bash and its two children');
  const began = Date.now();
  assert.equal((await herd(['stop', 'stubborn'])).code, 0);
  assert.ok(Date.now() - began >= 900, 'it had its killTimeout to exit');
  assert.deepEqual(alive(tree.map((p) => p.pid)), [], 'no process of the tree survives');
});

// ---- port in use ---------------------------------------------------------

function holdPort(t: TestContext, port: number, host = '127.0.0.1'): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => s.destroy());
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
  });
}

test('port held by another process: start exits 1 naming the port and the holder; errored, no blind retries', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  await holdPort(t, port);
  const began = Date.now();
  const r = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) });
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`port ${port}`));
  assert.match(r.stderr, new RegExp(`pid ${process.pid}\\b`));
  assert.ok(Date.now() - began < 10_000);
  const d = await describe(herd, 'api');
  assert.equal(d.status, 'errored');
  assert.match(d.reason, new RegExp(`port ${port}.*pid ${process.pid}`));
  assert.deepEqual(d.listening, [], 'nothing is listening for the app');
  const [app] = await list(herd);
  const restarts = app?.workers.reduce((n, w) => n + w.restarts, 0) ?? 0;
  assert.ok(restarts <= 1, `no crash loop: ${restarts} restarts`);
});

test('two herd apps on one port: the second says the port is held by herd app <first>', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'first'], { PORT: String(port) })).code, 0);
  const r = await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'second'], { PORT: String(port) });
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`port ${port}.*held by herd app first`));
  const d = await describe(herd, 'second');
  assert.equal(d.status, 'errored');
  assert.match(d.reason, /held by herd app first/);
  assert.deepEqual(d.listening, []);
  // The first app is untouched.
  assert.equal((await get(port)).status, 200);
  assert.ok((await describe(herd, 'first')).listening.some((l) => l.endsWith(`:${port}`)));
});

// The app binds its port itself (fork mode): Node's `listen EADDRINUSE` in its
// stderr is what tells. Run by node without the agent, so that readiness is
// listening here whatever fork mode's agent does.
test('fork mode: EADDRINUSE in the crash is diagnosed; after the cool-down it retries only once the port is free; restart retries at once', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const holder = await holdPort(t, port);
  const spec = await specFor(path.join(FIXTURES, 'hello.js'), 'forked', { PORT: String(port) }, {
    execMode: 'fork',
    runner: 'exec',
    interpreter: NODE,
    instances: 1,
    crashLoop: { maxCrashes: 5, minUptime: 1000, window: 60_000, coolDown: 1500 },
  });
  const c = await client(t, home);
  await assert.rejects(c.request({ type: 'start', apps: [spec] }), (err: Error) => {
    assert.match(err.message, new RegExp(`port ${port}.*pid ${process.pid}`));
    return true;
  });
  const first = await describe(herd, 'forked');
  assert.equal(first.status, 'errored');
  assert.ok(first.retryAt !== null);
  // Past the cool-down the port is still held: still errored, the retry moved on, no worker was started.
  const later = await eventually(async () => {
    const d = await describe(herd, 'forked');
    return d.retryAt !== null && d.retryAt > (first.retryAt ?? 0) ? d : undefined;
  }, 10_000, 'a second cool-down');
  assert.equal(later.status, 'errored');
  assert.match(later.reason, new RegExp(`port ${port}.*still`));
  const [app] = await list(herd);
  assert.equal(app?.workers[0]?.restarts, 0, 'no worker started while the port was held');
  // herd restart tries at once, and says why it fails.
  const r = await herd(['restart', 'forked']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`port ${port}`));
  // Once the port is free, the next cool-down starts it.
  await new Promise<void>((resolve) => holder.close(() => resolve()));
  await eventually(async () => ((await describe(herd, 'forked')).status === 'online' ? true : undefined), 15_000, 'online once the port is free');
  assert.equal((await get(port)).status, 200);
});

test('python3 app on a port in use: its error names no port, the app\'s PORT is checked', { skip: python3 ? false : 'python3 is not installed' }, async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  // Not SO_REUSEPORT, as most servers: the python app cannot bind beside it.
  await holdPort(t, port, '0.0.0.0');
  const spec = await specFor(path.join(FIXTURES, 'd-http.py'), 'py', { PORT: String(port) }, { runner: 'exec', interpreter: python3 ?? 'python3', execMode: 'fork', instances: 1 });
  const c = await client(t, home);
  await assert.rejects(c.request({ type: 'start', apps: [spec] }), (err: Error) => {
    assert.match(err.message, new RegExp(`port ${port} is in use: held by pid ${process.pid}\\b`));
    return true;
  });
  assert.equal((await describe(herd, 'py')).status, 'errored');
});

// ---- herd run with a closed stdout --------------------------------------

test('herd run survives a stdout and stderr that went away; lines are counted as dropped; SIGTERM exits 0 and cleans up', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const child = spawn(NODE, [CLI, 'run', path.join(FIXTURES, 'hello.js'), '--name', 'fg'], {
    env: { ...process.env, HERD_HOME: home, PORT: String(port), ANNOUNCE: '1', LOG_REQUESTS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Like `| head -c 40`: read a few bytes, then close the pipe.
  let seen = '';
  child.stdout.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    if (seen.length >= 40) child.stdout.destroy();
  });
  let errSeen = '';
  child.stderr.on('data', (chunk: Buffer) => {
    errSeen += chunk.toString();
    if (errSeen.includes('running fg')) child.stderr.destroy();
  });
  await eventually(async () => ((await list(herd))[0]?.status === 'online' ? true : undefined), 15_000, 'herd run to serve');
  for (let i = 0; i < 20; i++) assert.equal((await get(port)).status, 200);
  await eventually(() => (child.stdout.destroyed ? true : undefined), 5000, 'the reader to close');
  // New workers write again into the closed pipes; SIGHUP notes go to the closed stderr.
  const reload = await herd(['reload', 'fg']);
  assert.equal(reload.code, 0, reload.stderr);
  for (let i = 0; i < 20; i++) assert.equal((await get(port)).status, 200);
  const before = (await list(herd))[0]?.workers.map((w) => w.pid) ?? [];
  // SIGHUP reloads; its notes go to the closed stderr. Wait for the new workers.
  child.kill('SIGHUP');
  await eventually(async () => {
    const [app] = await list(herd);
    return app?.status === 'online' && app.workers.every((w) => !before.includes(w.pid)) ? true : undefined;
  }, 15_000, 'the SIGHUP reload to finish');
  const d = await eventually(async () => {
    const detail = await describe(herd, 'fg');
    return detail.logLinesDropped > 0 ? detail : undefined;
  }, 10_000, 'dropped lines counted');
  assert.ok(d.logLinesDropped > 0);
  assert.equal(child.exitCode, null, 'the supervisor is still running');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(existsSync(path.join(home, 'herd.sock')), false, 'socket removed');
  assert.equal(existsSync(path.join(home, 'daemon.pid')), false, 'pid file removed');
  assert.equal((await runCli(['list', '--json'], { HERD_HOME: home })).stdout.trim(), '[]');
});

// ---- log files that cannot be created ------------------------------------

test('a log file that cannot be created: its lines are counted as dropped and the failure logged once with path and errno', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  // A directory where the app's out log goes: the daemon cannot open it, and must cope.
  const name = 'blocked';
  mkdirSync(path.join(home, 'logs', `${name}-out.log`), { recursive: true, mode: 0o700 });
  chmodSync(path.join(home, 'logs'), 0o700);
  const spec = await specFor(path.join(FIXTURES, 'hello.js'), name, { PORT: String(port), ANNOUNCE: '1', LOG_REQUESTS: '1' }, { instances: 1 });
  const c = await client(t, home);
  // A name too long for a log file never gets that far: every path refuses it.
  await assert.rejects(c.request({ type: 'start', apps: [{ ...spec, name: `n${'x'.repeat(299)}` }] }), /name must be at most 128 bytes/);
  await c.request({ type: 'start', apps: [spec] });
  for (let i = 0; i < 5; i++) assert.equal((await get(port)).status, 200);
  const d = await eventually(async () => {
    const detail = await describe(herd, name);
    return detail.logLinesDropped >= 6 ? detail : undefined;
  }, 10_000, 'the lost lines to be counted');
  assert.ok(d.logLinesDropped >= 6);
  const log = readFileSync(path.join(home, 'daemon.log'), 'utf8');
  const notes = log.split('\n').filter((l) => l.includes('EISDIR'));
  assert.equal(notes.length, 1, log);
  assert.ok(notes[0]?.includes(path.join(home, 'logs', `${name}-out.log`)), notes[0]);
});
