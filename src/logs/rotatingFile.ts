import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { currentFileName, parseFileName, rotatedFileName, type Stream } from './format';

/** What a RotatingFile tells its owner: lines it lost after accepting them, and trouble with the disk. */
export interface RotatingFileEvents {
  /** `lines` accepted by write() were dropped (the file cannot be opened). */
  dropped(lines: number): void;
  /** A failure (once per episode, with the path and errno) and its end. */
  problem(message: string): void;
}

const QUIET: RotatingFileEvents = { dropped: () => {}, problem: () => {} };

/** Where a log file lives, how its rotated files are named, and the modes it creates. */
export interface LogFileNaming {
  readonly dir: string;
  readonly current: string;
  /** Path of the file rotated at `time`. */
  rotated(time: number): string;
  /** The rotation stamp (sortable) of `name` when it is one of this log's rotated files, else null. */
  rotationOf(name: string): string | null;
  /** Mode of a new file; null: 0666 less the umask, as PM2 creates its files, then the mode the previous file had. */
  readonly mode: number | null;
  /** Mode of a directory it creates; null: 0777 less the umask. */
  readonly dirMode: number | null;
}

/** herd's own files: `<dir>/<app>-<stream>.log`, private to the owner. */
export function herdLogNaming(dir: string, app: string, stream: Stream): LogFileNaming {
  return {
    dir,
    current: path.join(dir, currentFileName(app, stream)),
    rotated: (time) => path.join(dir, rotatedFileName(app, stream, time)),
    rotationOf: (name) => {
      const f = parseFileName(name);
      return f && f.app === app && f.stream === stream ? f.rotated : null;
    },
    mode: 0o600,
    dirMode: 0o700,
  };
}

/**
 * A path the user chose (PM2's out_file...): `/var/log/api/out.log` rotates
 * to `/var/log/api/out.20240501T102030123Z.log`, the scheme of herd's own files.
 */
export function pathLogNaming(file: string): LogFileNaming {
  const dir = path.dirname(file);
  const ext = path.extname(file);
  const base = path.basename(file, ext);
  const rotated = new RegExp(`^${escapeRe(base)}\\.(\\d{8}T\\d{9}Z)${escapeRe(ext)}(?:\\.gz(?:\\.tmp)?)?$`);
  return {
    dir,
    current: file,
    rotated: (time) => path.join(dir, `${base}.${new Date(time).toISOString().replace(/[-:.]/g, '')}${ext}`),
    rotationOf: (name) => rotated.exec(name)?.[1] ?? null,
    mode: null,
    dirMode: null,
  };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Never through a symbolic link someone put where the log goes: open fails with ELOOP instead. */
const OPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

export interface RotationOptions {
  maxSize: number;
  retain: number;
  daily: boolean;
  gzip: boolean;
}

// A failed open or write (disk full, directory gone) is retried this often;
// lines keep queueing meanwhile, up to the buffer bound.
const RETRY_MS = 500;
// A file that cannot be opened at all (name too long, no permission, read-only
// file system) will not open by waiting: its lines are dropped and counted at
// once instead of queueing for nothing, and the open is tried again this often
// (a chmod or remount cures it).
const REOPEN_MS = 5000;
const CANNOT_OPEN = new Set(['ENAMETOOLONG', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EINVAL']);
// One write() call carries at most this much, so rotation by size stays close to maxSize.
const BATCH_CHARS = 256 * 1024;

/**
 * One log file (an app's stream) written asynchronously with rotation by
 * size and, optionally, by date: the current file is renamed to a
 * time-stamped name and a new one opened (never copy-and-truncate, which
 * loses what is written between the copy and the truncate). Rotated files
 * beyond `retain` are deleted; with `gzip` they are compressed in the
 * background.
 *
 * The caller is never blocked and memory stays bounded: write() queues the
 * line and returns false (the caller counts it as dropped) when more than
 * `maxBuffered` characters already wait. A failing disk is retried every
 * RETRY_MS; writing resumes by itself when it works again. A file that cannot
 * be opened (CANNOT_OPEN) drops its lines, counted through `events`.
 */
export class RotatingFile {
  /** The last write or open error, until a write succeeds again. */
  failure: string | null = null;
  private file: fs.promises.FileHandle | null = null;
  private size = 0;
  private day = '';
  private queue: string[] = [];
  private queuedChars = 0;
  /** Bytes of a batch the disk has not taken yet (a short write, or a failed one). */
  private carry: Buffer | null = null;
  private busy = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private background: Promise<void> = Promise.resolve();
  private lastStamp = 0;
  /** Set while the file cannot be opened: lines are dropped until then, when the open is tried again. */
  private reopenAt: number | null = null;
  /** The failure of the current episode was reported. */
  private reported = false;
  /** The mode of the file last opened, for its successor (paths without a fixed mode). */
  private keptMode: number | null = null;

  constructor(
    dir: string,
    app: string,
    stream: Stream,
    public options: RotationOptions,
    private readonly maxBuffered = 8 * 1024 * 1024,
    private readonly events: RotatingFileEvents = QUIET,
    private readonly naming: LogFileNaming = herdLogNaming(dir, app, stream),
  ) {}

  /** A log at a path the user chose (PM2's out_file, error_file, log_file). */
  static atPath(file: string, options: RotationOptions, maxBuffered?: number, events: RotatingFileEvents = QUIET): RotatingFile {
    return new RotatingFile(path.dirname(file), '', 'out', options, maxBuffered, events, pathLogNaming(file));
  }

  get path(): string {
    return this.naming.current;
  }

  /** Queue one line, newline included. False when it was dropped. */
  write(text: string): boolean {
    if (this.closed || this.queuedChars + text.length > this.maxBuffered) return false;
    if (this.reopenAt !== null && Date.now() < this.reopenAt) return false;
    this.queue.push(text);
    this.queuedChars += text.length;
    this.pump();
    return true;
  }

  /** Resolves when everything queued so far is written (or waits for a disk that fails). */
  whenIdle(): Promise<void> {
    if (!this.busy && this.carry === null && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drop what is queued and close; `herd flush` then deletes the files. */
  async reset(): Promise<void> {
    this.queue = [];
    this.queuedChars = 0;
    this.carry = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.whenIdle();
    await this.background;
    await this.closeFile();
  }

  /** Write what is queued (giving up after `timeoutMs` if the disk fails), then close. */
  async close(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.whenIdle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.background;
    if (!this.busy) await this.closeFile();
  }

  private pump(): void {
    if (this.busy || this.retryTimer !== null) return;
    if (this.carry === null && this.queue.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    this.busy = true;
    void this.step().finally(() => {
      this.busy = false;
      if (this.closed) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        void this.closeFile();
        return;
      }
      this.pump();
    });
  }

  private async step(): Promise<void> {
    try {
      if (this.carry === null) {
        const first = this.queue[0] ?? '';
        if (this.file === null) await this.open();
        if (this.size > 0 && (this.size + Buffer.byteLength(first) > this.options.maxSize || (this.options.daily && utcDay(Date.now()) !== this.day))) {
          await this.rotate();
        }
        this.carry = Buffer.from(this.takeBatch(), 'utf8');
      }
      if (this.file === null) await this.open();
      const file = this.file as unknown as fs.promises.FileHandle;
      const { bytesWritten } = await file.write(this.carry);
      this.size += bytesWritten;
      this.carry = bytesWritten < this.carry.length ? this.carry.subarray(bytesWritten) : null;
      this.recovered();
    } catch (err) {
      this.failure = (err as Error).message;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (this.file === null && CANNOT_OPEN.has(code)) {
        this.cannotOpen(code);
        return;
      }
      this.report(`cannot write ${this.path}: ${code} (${this.failure}); its lines wait in memory (up to ${this.maxBuffered} characters, then they are dropped and counted) while it is retried`);
      // Reopen on the next attempt: the directory may have been removed or remounted.
      await this.closeFile();
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.pump();
      }, RETRY_MS);
    }
  }

  /** Drop what is queued (counted), and every line until the open is tried again. */
  private cannotOpen(code: string): void {
    const lines = this.queue.length + (this.carry ? countLines(this.carry) : 0);
    this.queue = [];
    this.queuedChars = 0;
    this.carry = null;
    this.reopenAt = Date.now() + REOPEN_MS;
    if (lines > 0) this.events.dropped(lines);
    this.report(`cannot open ${this.path}: ${code} (${this.failure}); its lines are dropped and counted (herd describe) until it can be opened`);
  }

  private report(message: string): void {
    if (this.reported) return;
    this.reported = true;
    this.events.problem(message);
  }

  private recovered(): void {
    this.failure = null;
    this.reopenAt = null;
    if (!this.reported) return;
    this.reported = false;
    this.events.problem(`writing ${this.path} again`);
  }

  /** Lines from the queue up to the batch limit and, when possible, up to the rotation size. */
  private takeBatch(): string {
    const room = Math.max(1, Math.min(BATCH_CHARS, this.options.maxSize - this.size));
    let n = 0;
    let chars = 0;
    while (n < this.queue.length) {
      const len = (this.queue[n] as string).length;
      if (n > 0 && chars + len > room) break;
      chars += len;
      n++;
    }
    const batch = this.queue.splice(0, n).join('');
    this.queuedChars -= batch.length;
    return batch;
  }

  private async open(): Promise<void> {
    const { dir, mode, dirMode } = this.naming;
    await fs.promises.mkdir(dir, dirMode === null ? { recursive: true } : { recursive: true, mode: dirMode });
    const file = await fs.promises.open(this.path, OPEN_FLAGS, mode ?? this.keptMode ?? 0o666);
    let stat = await file.stat();
    if (mode === null && this.keptMode !== null && stat.size === 0 && (stat.mode & 0o7777) !== this.keptMode) {
      // A new file after a rotation: as readable (by a log shipper's group) as the one it follows, whatever the umask.
      await file.chmod(this.keptMode).catch(() => undefined);
      stat = await file.stat();
    }
    this.keptMode = stat.mode & 0o7777;
    this.file = file;
    this.size = stat.size;
    // A file left from yesterday rotates on its first line today.
    this.day = utcDay(stat.size > 0 ? stat.mtimeMs : Date.now());
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = null;
    await file?.close().catch(() => undefined);
  }

  private async rotate(): Promise<void> {
    await this.closeFile();
    // Two rotations within one millisecond get stamps a millisecond apart, so
    // names stay unique and sort in rotation order.
    let stamp = Math.max(Date.now(), this.lastStamp + 1);
    let target = this.naming.rotated(stamp);
    while (fs.existsSync(target) || fs.existsSync(`${target}.gz`)) target = this.naming.rotated(++stamp);
    this.lastStamp = stamp;
    try {
      await fs.promises.rename(this.path, target);
    } catch (err) {
      // Deleted under us (a manual rm, herd flush): nothing to keep, start a new file.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await this.open();
    const { gzip } = this.options;
    this.background = this.background.then(async () => {
      await this.prune();
      if (gzip && fs.existsSync(target)) await gzipFile(target);
    }).catch(() => undefined);
  }

  /** Delete the oldest rotated files beyond `retain`. */
  private async prune(): Promise<void> {
    const stamps = new Map<string, string[]>();
    for (const name of await fs.promises.readdir(this.naming.dir)) {
      const stamp = this.naming.rotationOf(name);
      if (stamp === null) continue;
      stamps.set(stamp, [...(stamps.get(stamp) ?? []), name]);
    }
    const old = [...stamps.keys()].sort().slice(0, Math.max(0, stamps.size - this.options.retain));
    for (const stamp of old) {
      for (const name of stamps.get(stamp) ?? []) await fs.promises.rm(path.join(this.naming.dir, name), { force: true });
    }
  }
}

async function gzipFile(file: string): Promise<void> {
  const tmp = `${file}.gz.tmp`;
  try {
    await pipeline(fs.createReadStream(file), createGzip(), fs.createWriteStream(tmp, { mode: 0o600 }));
    await fs.promises.rename(tmp, `${file}.gz`);
    await fs.promises.rm(file, { force: true });
  } catch {
    // Disk full while compressing: keep the plain file.
    await fs.promises.rm(tmp, { force: true });
  }
}

function countLines(buffer: Buffer): number {
  let n = 0;
  for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) n++;
  return Math.max(1, n);
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
