import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HerdError } from '../errors';

/** Where one herd installation keeps its socket, logs and state. */
export interface HerdPaths {
  home: string;
  socket: string;
  logs: string;
  daemonLog: string;
  pidFile: string;
  /** The apps the daemon runs, kept on every change (daemon/state/). */
  stateFile: string;
  /** What `herd save` wrote and `herd resurrect` starts. */
  dumpFile: string;
  /** Each app's shim: its socket and its record (run/<id>.sock, run/<id>.json). */
  run: string;
}

export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.HERD_HOME;
  return path.resolve(fromEnv && fromEnv.length > 0 ? fromEnv : path.join(os.homedir(), '.herd'));
}

export function herdPaths(home: string = resolveHome(), env: NodeJS.ProcessEnv = process.env): HerdPaths {
  // HERD_LOG_DIR puts app logs elsewhere (their own disk), away from the socket and state.
  const logDir = env.HERD_LOG_DIR;
  return {
    home,
    socket: path.join(home, 'herd.sock'),
    logs: logDir && logDir.length > 0 ? path.resolve(logDir) : path.join(home, 'logs'),
    daemonLog: path.join(home, 'daemon.log'),
    pidFile: path.join(home, 'daemon.pid'),
    stateFile: path.join(home, 'state.json'),
    dumpFile: path.join(home, 'dump.herd.json'),
    run: path.join(home, 'run'),
  };
}

/** The state directory is private to its owner: 0700, whatever the umask. */
export function ensureHome(paths: HerdPaths): void {
  fs.mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  fs.chmodSync(paths.home, 0o700);
  fs.mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  fs.mkdirSync(paths.run, { recursive: true, mode: 0o700 });
  fs.chmodSync(paths.run, 0o700);
  const unsafe = unsafeDirectory(paths.logs);
  if (unsafe) {
    throw new HerdError('HERD_ERR_LOG_DIR_UNSAFE', { dir: paths.logs, reason: unsafe },
      ['another user could put a symbolic link where a log file goes; use a directory only you can write (chmod o-w), or one with the sticky bit that you own']);
  }
}

/**
 * Why a directory is unsafe for files the daemon creates, or null: writable
 * by every user without the sticky bit, or sticky but owned by someone
 * else (who could then remove or replace what the daemon put there). Log
 * files are also opened with O_NOFOLLOW, so a link planted in a sticky
 * directory makes the open fail (lines counted as dropped) instead of
 * writing through it.
 */
export function unsafeDirectory(dir: string): string | null {
  const stat = fs.statSync(dir);
  if ((stat.mode & 0o002) === 0) return null;
  const uid = process.getuid?.();
  if ((stat.mode & 0o1000) !== 0 && stat.uid === uid) return null;
  return (stat.mode & 0o1000) === 0
    ? `it is writable by every user (mode ${(stat.mode & 0o7777).toString(8)})`
    : `it is writable by every user and owned by uid ${stat.uid}, not by the daemon's user (uid ${uid})`;
}
