import type { LogFilesSpec, LogsSpec } from '../../config/types';
import type { LogLine, LogListener, LogSink } from '../../logs/logSink';
import { removeLogFiles } from '../../logs/remove';
import type { HerdPaths } from '../../util/paths';
import { ShimHost } from './shimHost';

/**
 * Every app's shim host, and the daemon's LogSink over them. The shims write
 * the apps' log files themselves (they hold the pipes), so the daemon is off
 * the log path: following a log turns `follow` on in every shim while
 * someone listens, dropped lines are the shims' counts, flushing asks each
 * shim to empty its files, and herd's own lines go to the app's shim.
 */
export class ShimHosts implements LogSink {
  readonly dir: string;
  private readonly hosts = new Map<string, ShimHost>();
  private readonly listeners = new Set<LogListener>();
  private follows: Promise<void> = Promise.resolve();
  /** `herd update`: the shims are being handed to the next daemon; one it takes over is let go. */
  private handingOver = false;

  constructor(private readonly paths: HerdPaths) {
    this.dir = paths.logs;
  }

  /** The host of app `name` (made once; its shim starts with its first worker). */
  host(name: string): ShimHost {
    let host = this.hosts.get(name);
    if (!host) {
      host = new ShimHost(name, this.paths, (line) => this.emit(line), () => this.handingOver);
      this.hosts.set(name, host);
      if (this.listeners.size > 0) void host.follow(true);
    }
    return host;
  }

  /** `herd update` begins: from now on a shim the next daemon takes over is let go. */
  handOver(): void {
    this.handingOver = true;
  }

  /** The hand-over failed: every shim the next daemon took is taken back. */
  async resume(): Promise<void> {
    this.handingOver = false;
    await Promise.all([...this.hosts.values()].map((h) => h.resume()));
  }

  /** Each shim gets its app's log settings with every spawn. */
  configure(_app: string, _logs: LogsSpec, _files?: LogFilesSpec): void {}

  write(line: LogLine): void {
    this.hosts.get(line.app)?.writeLog(line);
  }

  subscribe(listener: LogListener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.setFollow(true);
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.setFollow(false);
    };
  }

  /** Resolves once every shim sends its lines to the subscribers (history read after this misses nothing). */
  whenFollowing(): Promise<void> {
    return this.follows;
  }

  dropped(app: string): number {
    return this.hosts.get(app)?.logsDropped ?? 0;
  }

  async flush(app: string | null): Promise<string[]> {
    const hosts = [...this.hosts.entries()].filter(([name]) => app === null || name === app).map(([, h]) => h);
    const byShims = await Promise.all(hosts.map((h) => h.flushLogs()));
    // Files of apps without a shim (stopped, deleted) are the daemon's to remove.
    const rest = await removeLogFiles(this.dir, app);
    return [...new Set([...byShims.flat(), ...rest])].sort();
  }

  closeApp(app: string): void {
    this.hosts.delete(app);
  }

  async close(): Promise<void> {}

  private setFollow(on: boolean): void {
    this.follows = Promise.all([...this.hosts.values()].map((h) => h.follow(on))).then(() => undefined);
  }

  private emit(line: LogLine): void {
    for (const listener of this.listeners) {
      try {
        listener(line);
      } catch {
        // a follower's problem, not the log's
      }
    }
  }
}
