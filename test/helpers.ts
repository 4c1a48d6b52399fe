import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const RUNTIME = path.join(ROOT, 'dist', 'runtime', 'index.js');
/** The node binary under test: CI runs the suite again with Node 24. */
export const NODE = process.env.HERD_TEST_NODE || process.execPath;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A private HERD_HOME whose daemon is killed and directory removed after the test, pass or fail. */
export function herdHome(t: TestContext): { home: string; herd: (args: string[], env?: Record<string, string>) => Promise<CliResult> } {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-test-'));
  const herd = (args: string[], env: Record<string, string> = {}) => runCli(args, { HERD_HOME: home, ...env });
  t.after(async () => {
    await runCli(['kill'], { HERD_HOME: home });
    await killLeftShims(home);
    // The daemon reports a lifecycle transition its table forbids (a herd bug) and goes on; a test fails on it.
    const log = existsSync(path.join(home, 'daemon.log')) ? readFileSync(path.join(home, 'daemon.log'), 'utf8') : '';
    rmSync(home, { recursive: true, force: true });
    const illegal = log.split('\n').filter((line) => line.includes('illegal worker transition'));
    if (illegal.length > 0) throw new Error(`the daemon reported illegal transitions:\n${illegal.join('\n')}`);
  });
  return { home, herd };
}

/**
 * A safety net behind `herd kill`: a shim still listed in HERD_HOME/run
 * (a daemon killed by the test, a herd bug) is asked to stop its workers,
 * then killed with its process group.
 */
async function killLeftShims(home: string): Promise<void> {
  let names: string[] = [];
  try {
    names = readdirSync(path.join(home, 'run')).filter((n) => n.endsWith('.json'));
  } catch {
    return;
  }
  const isAlive = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '');
    } catch {
      return false;
    }
  };
  for (const name of names) {
    let pid = 0;
    try {
      pid = Number((JSON.parse(readFileSync(path.join(home, 'run', name), 'utf8')) as { pid?: unknown }).pid);
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      continue;
    }
    const deadline = Date.now() + 5000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export function runCli(args: string[], env: Record<string, string>, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(NODE, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request on a fresh connection. */
export function get(port: number, urlPath = '/', agent: http.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
  });
}

/**
 * Polls `check` until it returns a value (not undefined) or the deadline
 * passes. Waiting for a state the system must reach, not a fixed sleep.
 */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ListedWorker { id: number; pid: number | null; status: string; restarts: number; uptimeMs: number; cpu: number; memory: number }
export interface ListedApp { name: string; status: string; workers: ListedWorker[] }

export async function list(herd: (args: string[]) => Promise<CliResult>): Promise<ListedApp[]> {
  const r = await herd(['list', '--json']);
  // With --json an error is printed on stdout: both are shown.
  if (r.code !== 0) throw new Error(`herd list failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as ListedApp[];
}

/**
 * Keep-alive load: `connections` clients each sending requests back to back
 * until stop() is called. Counts every failure and non-2xx response.
 */
export function load(port: number, connections: number, urlPath = '/', keepAlive = true): { stop: () => Promise<{ ok: number; failed: number; non2xx: number; errors: string[] }> } {
  const agent = new http.Agent({ keepAlive, maxSockets: connections });
  let running = true;
  const stats = { ok: 0, failed: 0, non2xx: 0, errors: [] as string[] };
  const one = (): Promise<void> => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) stats.ok++;
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
  const loops = Array.from({ length: connections }, async () => {
    while (running) await one();
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return stats;
    },
  };
}

export function kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Running, and not a zombie: a process whose parent died is reparented to
 * init, and an init that does not reap (this machine's) leaves it a zombie
 * for ever, which `alive` (signal 0) still counts.
 */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '');
  } catch {
    return false;
  }
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export type { ChildProcess };

/** Why a second local user cannot run this checkout's CLI here, or false when it can. */
export function secondUserProblem(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to run as a second user';
  const r = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', CLI]);
  if (r.status !== 0) return `user nobody cannot read ${CLI}`;
  const n = spawnSync('runuser', ['-u', 'nobody', '--', NODE, '--version']);
  return n.status === 0 ? false : `user nobody cannot run ${NODE}`;
}

/** The CLI as another local user (the test runs as root). */
export function runAs(user: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('runuser', ['-u', user, '--', NODE, CLI, ...args], { env: { ...process.env, ...env }, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * What WorkerProcess does for a stack capture or a profile: SIGUSR1 opens a
 * child's inspector (started with --inspect-port=0), whose URL Node prints on
 * stderr. For tests of the inspector client against a real Node.
 */
export function inspectableChild(child: ChildProcess): { openInspector(timeoutMs: number): Promise<string | null> } {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  return {
    openInspector: (timeoutMs: number) => new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      child.stderr?.on('data', (chunk: string) => {
        stderr += chunk;
        const url = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(stderr)?.[0];
        if (url) {
          clearTimeout(timer);
          resolve(url);
        }
      });
      child.kill('SIGUSR1');
    }),
  };
}
