import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AfterHook } from './netns';

/**
 * A real haproxy for a test: its config in a temporary directory whose
 * `admin.sock` is the runtime API (level admin), run in the foreground in
 * master-worker mode (`-W -db`). Stopped, and its directory removed, by a
 * t.after hook, pass or fail.
 */

export const HAPROXY = process.env.HERD_TEST_HAPROXY || 'haproxy';
export const NGINX = process.env.HERD_TEST_NGINX || 'nginx';

/** Why haproxy cannot run here, or false. */
export function haproxyProblem(): string | false {
  const r = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `${HAPROXY} is not installed (apt-get install haproxy); CI installs it`;
  const m = /version (\d+)\.(\d+)/.exec(r.stdout);
  if (!m || Number(m[1]) * 100 + Number(m[2]) < 204) return `${HAPROXY} is older than 2.4 (no dynamic servers): ${r.stdout.split('\n')[0] ?? ''}`;
  return false;
}

/** Why nginx cannot run here, or false. */
export function nginxProblem(): string | false {
  const r = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? `${NGINX} is not installed (apt-get install nginx); CI installs it` : false;
}

export interface HaproxyServerHandle {
  dir: string;
  /** The runtime API socket. */
  socket: string;
  config: string;
  readonly running: boolean;
  /** stdout and stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** `haproxy -c -f file`: the exit code and what it said. */
export function haproxyCheck(file: string): { ok: boolean; output: string } {
  const r = spawnSync(HAPROXY, ['-c', '-f', file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** `nginx -t` of a config, with its prefix, pid and error log in a temporary directory. */
export function nginxCheck(file: string, prefix: string): { ok: boolean; output: string } {
  const r = spawnSync(NGINX, ['-t', '-p', prefix, '-c', file, '-g', `pid ${path.join(prefix, 'nginx.pid')}; error_log ${path.join(prefix, 'error.log')};`], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/**
 * Starts haproxy with `config(socket)`, the text of its config given the
 * runtime API socket path (the caller puts the `stats socket` line where it
 * wants, or uses `statsSocketLine`); resolves once the socket answers.
 */
export async function startHaproxy(t: AfterHook, config: (socket: string) => string, opts: { readyTimeoutMs?: number } = {}): Promise<HaproxyServerHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-haproxy-'));
  const socket = path.join(dir, 'admin.sock');
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, config(socket));
  let child: ChildProcess | undefined;
  let log = '';
  const isRunning = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    const c = child;
    if (!c || !isRunning()) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  t.after(async () => {
    try {
      await stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const c = spawn(HAPROXY, ['-W', '-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  child = c;
  c.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  c.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  c.on('error', (err) => (log += `[spawn error] ${String(err)}\n`));
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  while (!(existsSync(socket) && (await answers(socket)))) {
    if (!isRunning()) throw new Error(`haproxy exited before its runtime API answered; log:\n${log}`);
    if (Date.now() > deadline) throw new Error(`haproxy's runtime API ${socket} did not answer in time; log:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    socket,
    config: file,
    get running() {
      return isRunning();
    },
    log: () => log,
    stop,
  };
}

/** Whether `show info` gets an answer on the socket. */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    let text = '';
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.end('show info\n'));
    s.setEncoding('utf8').on('data', (d: string) => (text += d));
    s.on('close', () => resolve(text.includes('Name:')));
  });
}
