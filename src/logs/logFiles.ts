import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppSpec, LogFilesSpec } from '../config/types';
import { HerdError } from '../errors';

/**
 * PM2's out_file / error_file / log_file at runtime. herd writes those paths
 * itself (the same lines as its own `<app>-out.log` / `-err.log`, rotated
 * the same way) rather than pointing a symbolic link at its own files: log
 * shippers (Filebeat's default) skip symbolic links, herd's log directory is
 * private (0700) so a shipper running as another user could not read through
 * one, and `log_file` (both streams in one file) has to be written anyway.
 */

/** The PM2 key of each field, for messages. */
export const LOG_FILE_KEYS: Record<keyof LogFilesSpec, string> = { out: 'out_file', err: 'error_file', combined: 'log_file' };

/** '/dev/null' (and PM2's 'NULL'): do not keep this stream. */
export function isNullPath(p: string): boolean {
  return p === '/dev/null' || p === 'NULL';
}

/** The supervisor's own stdout/stderr: not files herd can rotate. */
export function isStdioPath(p: string): boolean {
  return /^\/(dev\/(stdout|stderr|fd\/[12])|proc\/self\/fd\/[12])$/.test(p);
}

export type LogStream = 'out' | 'err';

export interface LogRoutes {
  /** herd's own file of the stream is kept (not with '/dev/null'). */
  own: Record<LogStream, boolean>;
  /** The extra files a stream's lines go to, each path once (out_file == log_file writes a line once). */
  extra: Record<LogStream, string[]>;
}

export function logRoutes(files: LogFilesSpec): LogRoutes {
  const usable = (p: string | null): p is string => p !== null && !isNullPath(p) && !isStdioPath(p);
  const paths = (...ps: (string | null)[]) => [...new Set(ps.filter(usable).map((p) => path.resolve(p)))];
  return {
    own: { out: files.out === null || !isNullPath(files.out), err: files.err === null || !isNullPath(files.err) },
    extra: { out: paths(files.out, files.combined), err: paths(files.err, files.combined) },
  };
}

/**
 * Before an app starts: every PM2 log path must be a regular file the daemon
 * can append to, or not exist yet (its directory is created, as PM2 does). A
 * symbolic link, a directory, a device or a pipe is refused with
 * HERD_ERR_LOG_FILE, and nothing is written anywhere. An existing file is
 * appended to, as PM2 does: a user's earlier lines are never touched.
 * Returns notes for the app's events (a directory created, a stdio path).
 */
export async function prepareLogFiles(spec: AppSpec): Promise<string[]> {
  const notes: string[] = [];
  for (const field of ['out', 'err', 'combined'] as const) {
    const file = spec.logFiles[field];
    if (file === null || isNullPath(file)) continue;
    const key = LOG_FILE_KEYS[field];
    const fail = (reason: string) => new HerdError('HERD_ERR_LOG_FILE', { name: spec.name, field: key, path: file, reason });
    if (isStdioPath(file)) {
      notes.push(`${key} ${file}: not written (the daemon's stdout is its own log); the lines are in herd's own files, and \`herd run\` prints them to stdout`);
      continue;
    }
    if (!path.isAbsolute(file)) throw fail('must be an absolute path');
    const stat = await fs.promises.lstat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw fail(`cannot be checked: ${err.code ?? err.message}`);
    });
    if (stat?.isSymbolicLink()) {
      throw fail('is a symbolic link; herd does not write through one (whoever can change the link could point it at any file the daemon may write): give the path of the file itself');
    }
    if (stat?.isDirectory()) throw fail('is a directory; give the path of a file in it');
    if (stat && !stat.isFile()) throw fail('is not a regular file (a device, pipe or socket); herd rotates its log files, so it needs a regular file');
    if (!stat) {
      const dir = path.dirname(file);
      const created = await fs.promises.mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
        throw fail(`cannot create its directory ${dir}: ${err.code ?? err.message}`);
      });
      if (created !== undefined) notes.push(`${key}: created directory ${dir}`);
    }
    const handle = await fs.promises.open(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o666)
      .catch((err: NodeJS.ErrnoException) => {
        throw fail(`cannot be opened for appending: ${err.code ?? err.message}`);
      });
    await handle.close();
  }
  return notes;
}
