import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AfterHook } from './netns';

/**
 * A real redis-server for a test: its own port, its own temporary directory,
 * no config file (everything on the command line), no persistence. Stopped
 * and its directory removed by a t.after hook, pass or fail. stop() and
 * start() take it down and bring it back on the same port (Redis outages).
 */

export const REDIS_SERVER = process.env.HERD_TEST_REDIS_SERVER || 'redis-server';
export const REDIS_CLI = process.env.HERD_TEST_REDIS_CLI || 'redis-cli';

/** Why redis-server or redis-cli cannot run here, or false. */
export function redisProblem(): string | false {
  for (const bin of [REDIS_SERVER, REDIS_CLI]) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `${bin} is not installed (apt-get install redis-server); CI installs it`;
  }
  return false;
}

export interface RedisOptions {
  /** Addresses to listen on (the fleet network's bridgeAddress, 127.0.0.1…); the first is `host`. */
  bind: string[];
  /** Default: a port free on bind[0]. */
  port?: number;
  /** requirepass */
  password?: string;
  /** More command-line configuration, e.g. ['--maxmemory', '10mb']. */
  args?: string[];
  /** How long start() waits for PONG; default 10 s. */
  readyTimeoutMs?: number;
}

export interface RedisServer {
  /** redis://[:password@]host:port */
  url: string;
  host: string;
  port: number;
  password: string | undefined;
  /** Its --dir (a temporary directory, removed after the test). */
  dir: string;
  /** The running server's pid; undefined while stopped. A restart has a new pid. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Stops it: SIGTERM by default (a clean shutdown), SIGKILL for a crash; resolves once it has exited. */
  stop(opts?: { signal?: NodeJS.Signals }): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it answers PING. A no-op while running. */
  start(): Promise<void>;
  /** Whether it answers PING (after AUTH when it has a password) right now. */
  ping(): Promise<boolean>;
  /** Its log (stdout and stderr of every start), the last 256 KB. */
  log(): string;
}

const LOG_LIMIT = 256 * 1024;
const isLoopback = (a: string) => a === '::1' || a === 'localhost' || a.startsWith('127.');

/** A TCP port nothing listens on at `host` now (the kernel's pick). */
export function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function resp(...parts: string[]): string {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

/** PING (after AUTH): true on +PONG, false on anything else or no answer within timeoutMs. */
export function redisPing(host: string, port: number, password?: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write((password === undefined ? '' : resp('AUTH', password)) + resp('PING')));
    socket.setEncoding('utf8').on('data', (c: string) => {
      reply += c;
      if (reply.includes('+PONG\r\n')) done(true);
      else if (reply.startsWith('-') || reply.includes('\r\n-')) done(false);
    });
    socket.on('close', () => done(false));
  });
}

export async function startRedis(t: AfterHook, opts: RedisOptions): Promise<RedisServer> {
  const { bind, password, args = [], readyTimeoutMs = 10_000 } = opts;
  if (bind.length === 0) throw new Error('startRedis: bind needs at least one address');
  const host = bind[0] as string;
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-redis-'));
  let child: ChildProcess | undefined;
  let log = '';
  const append = (c: Buffer | string) => {
    log += c.toString();
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  const isRunning = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const stop = async ({ signal = 'SIGTERM' }: { signal?: NodeJS.Signals } = {}): Promise<void> => {
    const c = child;
    if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 10_000)));
    if ((await Promise.race([exited, late])) === 'late') {
      c.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  };

  t.after(async () => {
    try {
      await stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const spawnOn = async (port: number): Promise<'ready' | 'exited'> => {
    const argv = [
      '--port', String(port),
      '--bind', ...bind,
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
      '--daemonize', 'no',
      '--logfile', '',
      '--always-show-logo', 'no',
      // Protected mode refuses clients from other hosts when there is no password: off only when it listens beyond loopback.
      ...(bind.some((a) => !isLoopback(a)) ? ['--protected-mode', 'no'] : []),
      ...(password === undefined ? [] : ['--requirepass', password]),
      ...args,
    ];
    append(`\n[startRedis] ${REDIS_SERVER} ${argv.join(' ')}\n`);
    const c = spawn(REDIS_SERVER, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    child = c;
    c.stdout?.on('data', append);
    c.stderr?.on('data', append);
    let failed = false;
    c.on('error', (err) => {
      failed = true;
      append(`[spawn error] ${String(err)}\n`);
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (failed || c.exitCode !== null || c.signalCode !== null) return 'exited';
      if (await redisPing(host, port, password, 500)) return 'ready';
      if (Date.now() > deadline) {
        await stop({ signal: 'SIGKILL' });
        throw new Error(`redis-server on ${host}:${port} did not answer PING within ${readyTimeoutMs} ms; log:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // A port picked free can be taken before redis binds it: then another is picked.
  let port = opts.port ?? (await freePortOn(host));
  for (let attempt = 1; ; attempt++) {
    if ((await spawnOn(port)) === 'ready') break;
    const inUse = /Address already in use/i.test(log);
    if (opts.port === undefined && inUse && attempt < 5) {
      port = await freePortOn(host);
      continue;
    }
    throw new Error(`redis-server on ${host}:${port} exited before answering PING; log:\n${log}`);
  }

  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `redis://${auth}${urlHost}:${port}`,
    host,
    port,
    password,
    dir,
    get pid() {
      return isRunning() ? child?.pid : undefined;
    },
    get running() {
      return isRunning();
    },
    stop,
    start: async () => {
      if (isRunning()) return;
      if ((await spawnOn(port)) !== 'ready') throw new Error(`redis-server did not start again on ${host}:${port}; log:\n${log}`);
    },
    ping: () => redisPing(host, port, password),
    log: () => log,
  };
}
