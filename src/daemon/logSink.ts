import * as fs from 'node:fs';
import * as path from 'node:path';

export type Stream = 'out' | 'err';

export interface LogLine {
  time: number;
  app: string;
  worker: number;
  stream: Stream;
  msg: string;
}

/** Where worker output goes: files in the daemon, stdout in `herd run`. */
export interface LogSink {
  write(line: LogLine): void;
  /** Lines dropped because the destination could not keep up or failed. */
  dropped(app: string): number;
  closeApp(app: string): void;
  close(): Promise<void>;
}

// A destination that falls this far behind drops lines (and counts them)
// instead of growing the daemon's memory without bound.
const MAX_BUFFERED = 8 * 1024 * 1024;

/** One file per app and stream under $HERD_HOME/logs, appended asynchronously. */
export class FileLogSink implements LogSink {
  private readonly files = new Map<string, fs.WriteStream>();
  private readonly drops = new Map<string, number>();

  constructor(private readonly dir: string) {}

  write(line: LogLine): void {
    const stream = this.open(line.app, line.stream);
    if (stream.writableLength > MAX_BUFFERED) {
      this.drops.set(line.app, (this.drops.get(line.app) ?? 0) + 1);
      return;
    }
    stream.write(`${new Date(line.time).toISOString()} [${line.worker}] ${line.msg}\n`);
  }

  dropped(app: string): number {
    return this.drops.get(app) ?? 0;
  }

  closeApp(app: string): void {
    for (const s of ['out', 'err'] as const) {
      const key = `${app}-${s}`;
      this.files.get(key)?.end();
      this.files.delete(key);
    }
  }

  async close(): Promise<void> {
    const ends = [...this.files.values()].map((s) => new Promise<void>((resolve) => s.end(resolve)));
    this.files.clear();
    await Promise.all(ends);
  }

  private open(app: string, stream: Stream): fs.WriteStream {
    const key = `${app}-${stream}`;
    let file = this.files.get(key);
    if (!file) {
      file = fs.createWriteStream(path.join(this.dir, `${key}.log`), { flags: 'a', mode: 0o600 });
      file.on('error', () => {
        // Disk full or gone: count what is lost, never take the daemon down.
        this.files.delete(key);
        this.drops.set(app, (this.drops.get(app) ?? 0) + 1);
      });
      this.files.set(key, file);
    }
    return file;
  }
}

/** Foreground mode: every line to the supervisor's stdout, prefixed with app and worker. */
export class StdoutLogSink implements LogSink {
  private drops = 0;

  write(line: LogLine): void {
    if (process.stdout.writableLength > MAX_BUFFERED) {
      this.drops++;
      return;
    }
    const text = process.stdout.isTTY
      ? `${line.app}[${line.worker}]${line.stream === 'err' ? '!' : ''} ${line.msg}\n`
      : `${JSON.stringify({ time: new Date(line.time).toISOString(), app: line.app, worker: line.worker, stream: line.stream, msg: line.msg })}\n`;
    process.stdout.write(text);
  }

  dropped(): number {
    return this.drops;
  }

  closeApp(): void {}

  async close(): Promise<void> {}
}
