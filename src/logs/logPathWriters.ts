import type { LogFilesSpec, LogsSpec } from '../config/types';
import { formatLine, type LogLine } from './format';
import { logRoutes, type LogRoutes, type LogStream } from './logFiles';
import { RotatingFile, type RotationOptions } from './rotatingFile';

interface Route {
  key: string;
  own: LogRoutes['own'];
  extra: Record<LogStream, RotatingFile[]>;
}

/**
 * The files at PM2's log paths, beside herd's own: each app's stdout and
 * stderr lines also go to its out_file / error_file / log_file, written and
 * rotated like herd's files (RotatingFile: never copy-and-truncate, bounded
 * queue, O_NOFOLLOW). One writer per path, shared by the apps that name it
 * (several PM2 apps often log to one file), so two writers never rotate the
 * same file.
 */
export class LogPathWriters {
  private readonly writers = new Map<string, { file: RotatingFile; apps: Set<string> }>();
  private readonly routes = new Map<string, Route>();

  /**
   * Route `app`'s lines as `files` says; `skip` leaves out a path that is
   * already written (herd's own file). Called on every worker start: cheap
   * when nothing changed.
   */
  configure(app: string, files: LogFilesSpec, logs: LogsSpec, skip: (file: string) => boolean = () => false): void {
    const options = rotation(logs);
    const key = JSON.stringify(files);
    const current = this.routes.get(app);
    if (current?.key === key) {
      for (const f of [...current.extra.out, ...current.extra.err]) f.options = options;
      return;
    }
    const routes = logRoutes(files);
    const open = (paths: string[]) => paths.filter((p) => !skip(p)).map((p) => this.writer(p, app, options));
    this.routes.set(app, { key, own: routes.own, extra: { out: open(routes.extra.out), err: open(routes.extra.err) } });
    this.release(app);
  }

  /** False when `app`'s own file of `stream` is not kept ('/dev/null'). */
  keepsOwn(app: string, stream: LogLine['stream']): boolean {
    if (stream === 'access') return true;
    return this.routes.get(app)?.own[stream] ?? true;
  }

  /** Queue the line (`text`: formatted already) in its extra files; false when one of them dropped it. */
  write(line: LogLine, text?: string): boolean {
    if (line.stream === 'access') return true;
    const files = this.routes.get(line.app)?.extra[line.stream];
    if (!files || files.length === 0) return true;
    const formatted = text ?? formatLine(line);
    let kept = true;
    for (const f of files) if (!f.write(formatted)) kept = false;
    return kept;
  }

  closeApp(app: string): void {
    this.routes.delete(app);
    this.release(app);
  }

  async close(): Promise<void> {
    const files = [...this.writers.values()].map((w) => w.file);
    this.writers.clear();
    this.routes.clear();
    await Promise.all(files.map((f) => f.close()));
  }

  private writer(file: string, app: string, options: RotationOptions): RotatingFile {
    let w = this.writers.get(file);
    if (!w) {
      w = { file: RotatingFile.atPath(file, options), apps: new Set() };
      this.writers.set(file, w);
    }
    w.file.options = options;
    w.apps.add(app);
    return w.file;
  }

  /** Close the writers `app` no longer routes to and no other app uses. */
  private release(app: string): void {
    const route = this.routes.get(app);
    const used = new Set(route ? [...route.extra.out, ...route.extra.err] : []);
    for (const [file, w] of this.writers) {
      if (!w.apps.has(app) || used.has(w.file)) continue;
      w.apps.delete(app);
      if (w.apps.size === 0) {
        this.writers.delete(file);
        void w.file.close();
      }
    }
  }
}

function rotation(logs: LogsSpec): RotationOptions {
  return { maxSize: logs.maxSize, retain: logs.retain, daily: logs.daily, gzip: logs.gzip };
}
