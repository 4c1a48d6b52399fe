import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where one herd installation keeps its socket, logs and state. */
export interface HerdPaths {
  home: string;
  socket: string;
  logs: string;
  daemonLog: string;
  pidFile: string;
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
  };
}

/** The state directory is private to its owner: 0700, whatever the umask. */
export function ensureHome(paths: HerdPaths): void {
  fs.mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  fs.chmodSync(paths.home, 0o700);
  fs.mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
}
