import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * run/<id>.json: a live shim, as it describes itself at start. Everything a
 * daemon needs to find it and prove who it is, including a daemon that did
 * not start it (after the first one died): pid and /proc start time name
 * the process, the token (the file is 0600 in a 0700 directory) lets only
 * this user's daemon drive it.
 */
export interface ShimRecord {
  id: string;
  app: string;
  pid: number;
  /** /proc/<pid>/stat field 22: with the pid, this process and no later one. */
  startTime: string;
  token: string;
  /** herd's version the shim runs (its code stays that until it is replaced). */
  version: string;
  protocol: number;
  socket: string;
  startedAt: number;
}

/** A Unix socket path is at most 107 bytes (sun_path is 108 with the NUL). */
export const MAX_SOCKET_PATH = 107;

/** A shim's id: 8 hex characters, so that run/<id>.sock stays short. */
export function newShimId(runDir: string): string {
  for (;;) {
    const id = randomBytes(4).toString('hex');
    if (!fs.existsSync(recordPath(runDir, id)) && !fs.existsSync(socketPath(runDir, id))) return id;
  }
}

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

export function socketPath(runDir: string, id: string): string {
  return path.join(runDir, `${id}.sock`);
}

export function recordPath(runDir: string, id: string): string {
  return path.join(runDir, `${id}.json`);
}

/** Why `socket` cannot be a Unix socket path, or null. */
export function socketPathProblem(socket: string): string | null {
  const bytes = Buffer.byteLength(socket);
  return bytes > MAX_SOCKET_PATH
    ? `its socket path ${socket} is ${bytes} bytes, more than the ${MAX_SOCKET_PATH} a Unix socket path may have; use a shorter HERD_HOME`
    : null;
}

/** Written whole or not at all (temp file, fsync, rename): a reader never sees half a record. */
export function writeRecord(runDir: string, record: ShimRecord): void {
  const file = recordPath(runDir, record.id);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(record)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** The record of shim `id`, or null when there is none or it is not one (a field is missing or of another type). */
export function readRecord(runDir: string, id: string): ShimRecord | null {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(recordPath(runDir, id), 'utf8'));
  } catch {
    return null;
  }
  return isRecord(data) ? data : null;
}

/** Every shim record in run/ (the shims of this HERD_HOME, live or left by one that was killed). */
export function readRecords(runDir: string): ShimRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(runDir);
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9a-f]{8}\.json$/.test(n))
    .map((n) => readRecord(runDir, n.slice(0, 8)))
    .filter((r): r is ShimRecord => r !== null);
}

/** The shim's files go with it. */
export function removeRecord(runDir: string, id: string): void {
  fs.rmSync(recordPath(runDir, id), { force: true });
  fs.rmSync(socketPath(runDir, id), { force: true });
}

function isRecord(value: unknown): value is ShimRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['id', 'app', 'startTime', 'token', 'version', 'socket'].every((k) => typeof v[k] === 'string')
    && ['pid', 'protocol', 'startedAt'].every((k) => typeof v[k] === 'number');
}
