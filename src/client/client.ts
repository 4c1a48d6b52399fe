import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { HerdError, type ErrorData } from '../errors';
import type { LogLine } from '../logs/format';
import type { HelloData, RequestOf, RequestType, ResultOf } from '../protocol/control';
import { HERD_VERSION, PROTOCOL_VERSION } from '../protocol/version';
import { ensureHome, herdPaths, type HerdPaths } from '../util/paths';
import { liveShims as liveShimsIn, stopLeftShims as stopShims } from '../shim/leftShims';
import type { ShimRecord } from '../shim/runRecord';
import { Connection } from './connection';
import { webSocketFlag } from '../util/nodeFlags';
import { parseSavedApps } from '../daemon/state/savedApps';

const DAEMON_PATH = require.resolve('../daemon/main');

export interface ConnectOptions {
  /** State directory; defaults to $HERD_HOME or ~/.herd. */
  home?: string;
  /** Start the daemon when none is running (as `herd start` does). */
  autoStart?: boolean;
  /**
   * Accept a daemon of another protocol version. Only for requests every
   * version understands (hello, kill): a newer CLI must be able to stop an
   * older daemon, which is what the version error tells users to do.
   */
  anyVersion?: boolean;
}

/**
 * The typed control client used by the CLI and by programs that drive herd.
 * It checks on connect that the daemon speaks the same protocol.
 */
export class HerdClient {
  private constructor(private readonly connection: Connection, readonly daemon: HelloData) {}

  static async connect(options: ConnectOptions = {}): Promise<HerdClient> {
    const paths = herdPaths(options.home);
    let connection: Connection;
    try {
      connection = await Connection.open(paths.socket);
    } catch (err) {
      // Apps serving under the shims of a daemon that died are taken over by a new one, whatever the command.
      const adopt = isNoDaemon(err) && liveShimsIn(paths.run).length > 0;
      if (!(options.autoStart === true || adopt) || !isNoDaemon(err)) throw unreachable(paths, err);
      await startDaemon(paths);
      connection = await Connection.open(paths.socket).catch((e: unknown) => {
        throw unreachable(paths, e);
      });
    }
    const hello = await connection.request({ type: 'hello' });
    if (hello.protocol !== PROTOCOL_VERSION && options.anyVersion !== true) {
      connection.close();
      throw new HerdError('HERD_ERR_PROTOCOL_VERSION', { daemon: hello.protocol, cli: PROTOCOL_VERSION }, [
        `the running daemon is herd ${hello.version} (pid ${hello.pid}); this CLI is herd ${HERD_VERSION}.`,
        'run `herd kill` (its apps stop too) and then your command again; `herd start` starts a new daemon.',
      ]);
    }
    return new HerdClient(connection, hello);
  }

  /** True when a daemon answers on this home's socket. */
  static async isRunning(home?: string): Promise<boolean> {
    try {
      (await Connection.open(herdPaths(home).socket)).close();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * For read commands: true when a daemon answers, false when none was ever
   * left running here. Throws when that answer would mislead: the daemon died
   * without shutting down (its pid file is still there), or the socket is not
   * ours to open (another user's HERD_HOME).
   */
  static async checkDaemon(home?: string): Promise<boolean> {
    const paths = herdPaths(home);
    try {
      (await Connection.open(paths.socket)).close();
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') throw permissionDenied(paths);
      // Apps serve under their shims with no daemon (it died): a new one takes them over, and the command goes on with it.
      if (isNoDaemon(err) && (await adoptLeftShims(paths))) return true;
      const dead = deadDaemon(paths);
      if (dead) throw dead;
      if (!isNoDaemon(err)) throw unreachable(paths, err);
      return false;
    }
  }

  request<T extends RequestType>(request: RequestOf<T>, progress?: (message: string) => void, onLine?: (line: LogLine) => void, onChunk?: (data: string) => void): Promise<ResultOf[T]> {
    return this.connection.request(request, progress, onLine, onChunk);
  }

  close(): void {
    this.connection.close();
  }
}

function isNoDaemon(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

function permissionDenied(paths: HerdPaths): HerdError {
  let owner = '';
  try {
    owner = ` (owned by uid ${fs.statSync(paths.home).uid}; you are uid ${process.getuid?.() ?? '?'})`;
  } catch {
    // the directory itself is out of reach
  }
  return new HerdError('HERD_ERR_PERMISSION', { path: paths.home, reason: `permission denied${owner}` },
    ['each user has their own herd: set HERD_HOME to a directory of yours, or run as the user who owns it']);
}

/** The daemon's pid file outlived it: it was killed or crashed instead of shutting down. */
function deadDaemon(paths: HerdPaths): HerdError | null {
  let text: string;
  let since: Date;
  try {
    text = fs.readFileSync(paths.pidFile, 'utf8');
    since = fs.statSync(paths.pidFile).mtime;
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || isHerdDaemon(pid)) return null;
  let lastLog = '';
  try {
    lastLog = fs.statSync(paths.daemonLog).mtime.toISOString();
  } catch {
    // no log: nothing more to say
  }
  return new HerdError('HERD_ERR_DAEMON_DIED', {
    pid,
    reason: `it was started at ${since.toISOString()} and did not shut down${lastLog ? `; its log was last written at ${lastLog}` : ''}`,
  }, [
    survivorsNote(liveShimsIn(paths.run), paths),
    rememberedLine(paths),
    '`herd start <script|config>` starts a new daemon; `herd kill` forgets the dead one (the app list is kept).',
  ]);
}

/** What state.json says the dead daemon ran, for its error: the list survives it. */
function rememberedLine(paths: HerdPaths): string {
  let text: string;
  try {
    text = fs.readFileSync(paths.stateFile, 'utf8');
  } catch {
    return `herd remembers no app (no ${paths.stateFile}).`;
  }
  try {
    const apps = parseSavedApps(text, paths.stateFile, 'herd-state').apps;
    const wanted = apps.filter((a) => !a.stopped).map((a) => a.name);
    if (apps.length === 0) return 'herd remembers no app.';
    if (wanted.length === 0) return `${apps.length} app(s) remembered in ${paths.stateFile}, all stopped on purpose.`;
    return `${apps.length} app(s) remembered in ${paths.stateFile}; ${wanted.length} ran: ${wanted.join(', ')}. ` +
      (fs.existsSync(paths.dumpFile) ? `\`herd resurrect\` starts the apps saved in ${paths.dumpFile}.` : '`herd resurrect` starts them again.');
  } catch (err) {
    return `${(err as Error).message} (a new daemon sets it aside).`;
  }
}

function survivorsNote(shims: readonly ShimRecord[], paths: HerdPaths): string {
  if (shims.length === 0) return `its apps went down with it; see ${paths.daemonLog}.`;
  const names = shims.map((s) => `${s.app} (shim pid ${s.pid})`).join(', ');
  return `its apps keep running under their shims, with no daemon to restart or reload them: ${names}; ` +
    `\`herd kill\` stops them; see ${paths.daemonLog}.`;
}

/**
 * Start a daemon to take over the shims a dead daemon left running; true
 * when there were some and it did. A daemon that cannot start leaves the
 * caller to say what it would have said without it.
 */
export async function adoptLeftShims(paths: HerdPaths): Promise<boolean> {
  if (liveShimsIn(paths.run).length === 0) return false;
  try {
    await startDaemon(paths);
    return true;
  } catch {
    return false;
  }
}

/** `herd kill` with no daemon: the shims a dead daemon left drain their workers and exit; resolves with how many. */
export async function stopLeftShims(home?: string): Promise<number> {
  return (await stopShims(herdPaths(home).run)).length;
}

/** A live process with this pid that is a herd daemon (pid reuse by another program does not count). */
function isHerdDaemon(pid: number): boolean {
  let argv: string[];
  try {
    argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  // The background daemon, or `herd run` (the supervisor in the foreground).
  return argv.includes(DAEMON_PATH) || argv.some((arg, i) => /cli[/\\]main\.js$/.test(arg) && argv[i + 1] === 'run');
}

/** `herd kill` after the daemon died: forget the dead daemon's pid; returns it, or null. */
export function clearDeadDaemon(home?: string): number | null {
  const paths = herdPaths(home);
  if (!deadDaemon(paths)) return null;
  const pid = Number(fs.readFileSync(paths.pidFile, 'utf8').trim());
  fs.rmSync(paths.pidFile, { force: true });
  return pid;
}

function unreachable(paths: HerdPaths, err: unknown): HerdError {
  const reason = isNoDaemon(err) ? 'no daemon is running' : (err as Error).message;
  return new HerdError('HERD_ERR_DAEMON_UNREACHABLE', { socket: paths.socket, reason });
}


/**
 * `herd daemon`: start the background daemon of this home, without apps, and
 * answer its pid once its control socket answers. One that runs already is
 * an error: a service manager (systemd's Type=forking) must not take a
 * daemon it did not start for its own.
 */
export async function launchDaemon(home?: string): Promise<number> {
  const paths = herdPaths(home);
  if (await HerdClient.isRunning(home)) {
    let pid = '?';
    try {
      pid = fs.readFileSync(paths.pidFile, 'utf8').trim();
    } catch {
      // the pid file is the daemon's business; the socket answered
    }
    throw new HerdError('HERD_ERR_DAEMON_RUNNING', { home: paths.home }, [`its pid is ${pid}; \`herd kill\` stops it and its apps`]);
  }
  await startDaemon(paths, false);
  return Number(fs.readFileSync(paths.pidFile, 'utf8').trim());
}

/**
 * Spawn the daemon detached and wait for its one-line readiness report on fd 3.
 * `shareRace`: a daemon that another CLI started at the same moment will do.
 */
async function startDaemon(paths: HerdPaths, shareRace = true): Promise<void> {
  ensureHome(paths);
  const log = fs.openSync(paths.daemonLog, 'a', 0o600);
  const child = spawn(process.execPath, [...webSocketFlag(), DAEMON_PATH], {
    detached: true,
    stdio: ['ignore', log, log, 'pipe'],
    env: { ...process.env, HERD_HOME: paths.home },
  });
  fs.closeSync(log);
  const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
  const line = await new Promise<string>((resolve) => {
    let text = '';
    if (!pipe) return resolve('error no readiness pipe');
    pipe.setEncoding('utf8');
    pipe.on('data', (c: string) => {
      text += c;
    });
    pipe.on('end', () => resolve(text.trim()));
    pipe.on('error', () => resolve(text.trim()));
    child.once('exit', (code) => resolve(text.trim() || `error exited with code ${code}`));
  });
  child.unref();
  (pipe as unknown as { destroy?: () => void } | null)?.destroy?.();
  if (line === 'ready') return;
  if (line.startsWith('error {')) {
    const data = JSON.parse(line.slice(6)) as ErrorData;
    // Another daemon won the race to start: use it.
    if (data.code === 'HERD_ERR_DAEMON_RUNNING' && shareRace) return;
    throw HerdError.fromData(data);
  }
  throw new HerdError('HERD_ERR_DAEMON_START', { reason: `${line || 'no answer'}; see ${paths.daemonLog}` });
}
