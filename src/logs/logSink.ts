import * as path from 'node:path';
import type { LogFilesSpec, LogsSpec } from '../config/types';
import { DEFAULTS } from '../config/types';
import { currentFileName, formatLine, STREAMS, type LogLine, type Stream } from './format';
import { removeLogFiles } from './remove';
import { LogPathWriters } from './logPathWriters';
import { RotatingFile } from './rotatingFile';

export type { LogLine, Stream };

export type LogListener = (line: LogLine) => void;

/** Where worker output goes: files in the daemon, stdout in `herd run`. */
export interface LogSink {
  /** The directory of the log files; null when lines are not kept in files (`herd run`). */
  readonly dir: string | null;
  /** The app's log settings and PM2 log paths; apply to its files from the next line on. */
  configure(app: string, logs: LogsSpec, files?: LogFilesSpec): void;
  write(line: LogLine): void;
  /** Every line, as it arrives (`herd logs --follow`). Returns an unsubscribe function. */
  subscribe(listener: LogListener): () => void;
  /** Resolves once lines reach the subscribers (where the lines are written by other processes). */
  whenFollowing?(): Promise<void>;
  /** Lines dropped because the destination could not keep up or failed. */
  dropped(app: string): number;
  /** Empty the logs of `app` (every app when null); resolves with the apps whose files were removed. */
  flush(app: string | null): Promise<string[]>;
  closeApp(app: string): void;
  close(): Promise<void>;
}

/** Fans lines out to `herd logs --follow` subscribers; a listener's failure never reaches the writer. */
class Listeners {
  private readonly set = new Set<LogListener>();

  add(listener: LogListener): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(line: LogLine): void {
    for (const listener of this.set) {
      try {
        listener(line);
      } catch {
        // a follower's problem, not the log's
      }
    }
  }
}

/**
 * One file per app and stream under the log directory (`<app>-out.log`,
 * `<app>-err.log`, `<app>-access.log`), in the format of logs/format.ts,
 * written asynchronously with rotation (RotatingFile); and the same lines at
 * the app's PM2 log paths (LogPathWriters). A stream whose PM2 path is
 * '/dev/null' is not written to disk at all (its pipe is still read).
 */
export class FileLogSink implements LogSink {
  private readonly files = new Map<string, RotatingFile>();
  private readonly settings = new Map<string, LogsSpec>();
  private readonly drops = new Map<string, number>();
  private readonly listeners = new Listeners();
  private readonly paths = new LogPathWriters();

  /** `report` writes a line to the daemon's own log: a file that cannot be written must not fail silently. */
  constructor(readonly dir: string, private readonly report: (message: string) => void = daemonLogLine) {}

  configure(app: string, logs: LogsSpec, files?: LogFilesSpec): void {
    this.settings.set(app, logs);
    for (const stream of STREAMS) {
      const file = this.files.get(key(app, stream));
      if (file) file.options = rotation(logs);
    }
    if (files) {
      const own = new Set(STREAMS.map((s) => path.resolve(this.dir, currentFileName(app, s))));
      this.paths.configure(app, files, logs, (p) => own.has(p));
    }
  }

  write(line: LogLine): void {
    this.listeners.emit(line);
    const text = formatLine(line);
    const own = !this.paths.keepsOwn(line.app, line.stream) || this.open(line.app, line.stream).write(text);
    if (!this.paths.write(line, text) || !own) this.drop(line.app, 1);
  }

  private drop(app: string, lines: number): void {
    this.drops.set(app, (this.drops.get(app) ?? 0) + lines);
  }

  subscribe(listener: LogListener): () => void {
    return this.listeners.add(listener);
  }

  dropped(app: string): number {
    return this.drops.get(app) ?? 0;
  }

  async flush(app: string | null): Promise<string[]> {
    // Open files drop what is queued and close first; the next line opens a new file.
    const open = [...this.files.entries()].filter(([k]) => app === null || k.startsWith(`${app}\0`));
    await Promise.all(open.map(([, f]) => f.reset()));
    return removeLogFiles(this.dir, app);
  }

  closeApp(app: string): void {
    for (const stream of STREAMS) {
      const file = this.files.get(key(app, stream));
      this.files.delete(key(app, stream));
      void file?.close();
    }
    this.paths.closeApp(app);
  }

  async close(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    await Promise.all([...files.map((f) => f.close()), this.paths.close()]);
  }

  private open(app: string, stream: Stream): RotatingFile {
    let file = this.files.get(key(app, stream));
    if (!file) {
      file = new RotatingFile(this.dir, app, stream, rotation(this.settings.get(app) ?? DEFAULTS.logs), undefined, {
        dropped: (lines) => this.drop(app, lines),
        problem: (message) => this.report(`logs of ${app}: ${message}`),
      });
      this.files.set(key(app, stream), file);
    }
    return file;
  }
}

function daemonLogLine(message: string): void {
  console.error(`${new Date().toISOString()} daemon: ${message}`);
}

function key(app: string, stream: Stream): string {
  return `${app}\0${stream}`;
}

function rotation(logs: LogsSpec): RotatingFile['options'] {
  return { maxSize: logs.maxSize, retain: logs.retain, daily: logs.daily, gzip: logs.gzip };
}

// A destination that falls this far behind drops lines (and counts them)
// instead of growing the daemon's memory without bound.
const MAX_BUFFERED = 8 * 1024 * 1024;

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;

/**
 * Foreground mode: every line to the supervisor's stdout. JSON lines
 * `{ time, app, worker, stream, msg }` for log aggregators when stdout is not
 * a terminal; `app[worker] msg` (stderr marked `!`, coloured) when it is.
 *
 * Whatever becomes of stdout (`herd run | head -c 300`, a `tee` killed by
 * Ctrl-C, a full pipe) the supervisor keeps running: a line that cannot be
 * written is counted as dropped, like one the destination was too slow for.
 */
export class StdoutLogSink implements LogSink {
  readonly dir = null;
  private readonly drops = new Map<string, number>();
  private readonly listeners = new Listeners();
  /** Why stdout cannot be written any more (EPIPE...); null while it can. */
  private broken: string | null = null;
  /** PM2 log paths are written in the foreground too: log shippers read them whatever the mode. */
  private readonly paths = new LogPathWriters();

  constructor(private readonly out: NodeJS.WritableStream & { writableLength: number; isTTY?: boolean } = process.stdout) {
    // Without a listener an EPIPE is an uncaught exception that ends the supervisor and every app.
    out.on('error', (err: NodeJS.ErrnoException) => {
      this.broken ??= err.code ?? err.message;
    });
  }

  configure(app: string, logs: LogsSpec, files?: LogFilesSpec): void {
    if (files) this.paths.configure(app, files, logs);
  }

  write(line: LogLine): void {
    this.listeners.emit(line);
    if (!this.paths.write(line)) this.drop(line.app);
    const out = this.out as NodeJS.WritableStream & { destroyed?: boolean; writableLength: number };
    if (this.broken !== null || out.destroyed === true || out.writableLength > MAX_BUFFERED) {
      this.drop(line.app);
      return;
    }
    try {
      // The callback reports a line lost after it was accepted: the pipe closed under it.
      out.write(this.out.isTTY ? prefixed(line) : jsonLine(line), (err) => {
        if (err) this.drop(line.app);
      });
    } catch {
      this.drop(line.app);
    }
  }

  subscribe(listener: LogListener): () => void {
    return this.listeners.add(listener);
  }

  dropped(app: string): number {
    return this.drops.get(app) ?? 0;
  }

  async flush(): Promise<string[]> {
    return [];
  }

  closeApp(app: string): void {
    this.paths.closeApp(app);
  }

  async close(): Promise<void> {
    await this.paths.close();
  }

  private drop(app: string): void {
    this.drops.set(app, (this.drops.get(app) ?? 0) + 1);
  }
}

export function jsonLine(line: LogLine): string {
  return `${JSON.stringify({ time: new Date(line.time).toISOString(), app: line.app, worker: line.worker, stream: line.stream, msg: line.msg })}\n`;
}

function prefixed(line: LogLine): string {
  const mark = line.stream === 'err' ? '!' : line.stream === 'access' ? '>' : '';
  const prefix = `${line.app}[${line.worker}]${mark}`;
  const color = line.stream === 'err' ? '31' : '36';
  return `${useColor ? `\u001b[${color}m${prefix}\u001b[0m` : prefix} ${line.msg}\n`;
}
