import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TreeWatcherOptions {
  /** Absolute paths: directories are watched with everything under them, files by themselves. */
  roots: readonly string[];
  /** Paths never watched nor walked (node_modules, dot-dirs, ignore patterns). */
  ignored: (abs: string) => boolean;
  /** A file was written, created, removed or renamed (a directory: created or removed). */
  onChange: (abs: string) => void;
  /** Something cannot be watched (inotify limit, permissions); watching goes on without it. */
  onProblem: (message: string) => void;
}

/**
 * Watches directory trees with one non-recursive fs.watch (one inotify watch)
 * per directory, skipping ignored directories without reading them.
 *
 * Not fs.watch's `recursive` option: on Linux, Node reads the whole tree
 * synchronously, node_modules included, and no option keeps it out of a
 * directory. On a tree with a 20,000-file node_modules (bench/WATCH.md) it
 * blocked the event loop for 0.8-2 s, and on Node 20 took 22,205 inotify
 * watches (the default per-user limit is 8,192 on older kernels).
 *
 * A file root is watched through its directory (filtered to its name), so an
 * editor that saves by writing a new file and renaming it over the old one
 * is still seen. Symbolic links to directories are not followed.
 */
export class TreeWatcher {
  private readonly watchers = new Map<string, fs.FSWatcher>();
  /** For directories watched only for some files (file roots): their names. */
  private readonly only = new Map<string, Set<string>>();
  private readonly dirRoots = new Set<string>();
  private closed = false;
  private limitReported = false;

  constructor(private readonly opts: TreeWatcherOptions) {}

  /** Directories watched now. */
  get directories(): number {
    return this.watchers.size;
  }

  /** Resolves when every root has been walked. */
  async start(): Promise<void> {
    for (const root of this.opts.roots) {
      let stat: fs.Stats;
      try {
        stat = await fs.promises.stat(root);
      } catch (err) {
        this.opts.onProblem(`cannot watch ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        continue;
      }
      if (stat.isDirectory()) {
        this.dirRoots.add(root);
        this.only.delete(root);
        await this.walk(root, false);
      } else {
        const dir = path.dirname(root);
        if (!this.dirRoots.has(dir)) {
          const names = this.only.get(dir) ?? new Set<string>();
          names.add(path.basename(root));
          this.only.set(dir, names);
        }
        this.watch(dir);
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** Watch `dir` and the directories under it; with `report`, files found count as changes (a new directory). */
  private async walk(dir: string, report: boolean): Promise<void> {
    if (this.closed || this.opts.ignored(dir) || this.watchers.has(dir)) return;
    // Watch first, then read: a file created in between is seen either way.
    if (!this.watch(dir)) return;
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile: its parent's event says so
    }
    let reported = false;
    for (const entry of entries) {
      const abs = path.join(dir, entry.name);
      if (this.opts.ignored(abs)) continue;
      if (entry.isDirectory()) {
        await this.walk(abs, report);
      } else if (report) {
        reported = true;
        this.opts.onChange(abs);
      }
    }
    if (report && !reported) this.opts.onChange(`${dir}/`);
  }

  private watch(dir: string): boolean {
    if (this.closed) return false;
    if (this.watchers.has(dir)) return true;
    try {
      const watcher = fs.watch(dir, { persistent: false }, (event, name) => this.onEvent(dir, event, name));
      watcher.on('error', () => this.unwatch(dir));
      this.watchers.set(dir, watcher);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        if (!this.limitReported) {
          this.limitReported = true;
          this.opts.onProblem(`cannot watch ${dir} and maybe more: ${code}, the inotify limit (sysctl fs.inotify.max_user_watches / max_user_instances) is reached; ignore more of the tree, or raise the limit`);
        }
      } else if (code !== 'ENOENT') {
        this.opts.onProblem(`cannot watch ${dir}: ${code ?? (err as Error).message}`);
      }
      return false;
    }
  }

  /** Stop watching `dir` and everything under it. */
  private unwatch(dir: string): void {
    for (const [d, w] of this.watchers) {
      if (d === dir || d.startsWith(`${dir}/`)) {
        w.close();
        this.watchers.delete(d);
      }
    }
  }

  private onEvent(dir: string, event: string, name: string | Buffer | null): void {
    if (this.closed) return;
    if (name === null) {
      this.opts.onChange(`${dir}/`);
      return;
    }
    const entry = name.toString();
    const names = this.only.get(dir);
    if (names && !names.has(entry)) return;
    const abs = path.join(dir, entry);
    if (this.opts.ignored(abs)) return;
    if (event === 'change') {
      // A watched directory's own metadata: what happens inside it is reported by its watcher.
      if (!this.watchers.has(abs)) this.opts.onChange(abs);
      return;
    }
    this.renamed(dir, abs).catch((err: unknown) => this.opts.onProblem(`${abs}: ${(err as Error).message}`));
  }

  /** Created, removed or moved: a directory's old watchers are stale whichever it was. */
  private async renamed(dir: string, abs: string): Promise<void> {
    const stat = await fs.promises.lstat(abs).catch(() => null);
    if (this.closed) return;
    if (stat === null && !fs.existsSync(dir)) {
      // The watched directory itself went away; its parent reports it.
      this.unwatch(dir);
      return;
    }
    const wasWatched = this.watchers.has(abs);
    if (wasWatched) this.unwatch(abs);
    if (stat?.isDirectory() && !this.only.has(dir)) {
      await this.walk(abs, true);
      return;
    }
    this.opts.onChange(wasWatched ? `${abs}/` : abs);
  }
}
