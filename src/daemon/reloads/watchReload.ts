import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WatchSpec } from '../../config/types';
import { filesHeldForWriting } from '../../logs/openForWrite';
import type { ReloadTarget } from './reloadTarget';
import { TreeWatcher } from './treeWatcher';
import { watchIgnore } from './watchIgnore';

/** Files found held open for writing by the app, remembered so a later write is not checked again. */
const MAX_REMEMBERED = 10_000;

export interface WatchReloadOptions {
  /** Never a reason to reload, with everything under them: herd's log directory and HERD_HOME. */
  exact: readonly string[];
  /** The app's PM2 log paths: the files and their rotated siblings. */
  logFiles: readonly string[];
}

/**
 * PM2's `watch`: a rolling reload when a watched file changes. The reload
 * runs after `delay` ms without a change (an editor's save, a `git pull`,
 * a build writing many files give one reload). Changes that come while a
 * reload runs are coalesced into at most one follow-up reload; a reload that
 * fails keeps the old workers (as `herd reload` does) and watching goes on, so
 * the next save tries again.
 *
 * Never reloads for: node_modules, dot-dirs and dot-files, the `ignore`
 * entries (watchIgnore), herd's own log files, and a file that one of the
 * app's processes holds open for writing (its data or log file, checked in
 * /proc), which would otherwise reload the app on each of its own writes.
 */
export class WatchReload {
  /** True once every watched path has been walked. */
  watching = false;
  private tree: TreeWatcher | null = null;
  /** Changed paths (as shown) since the last reload, in order. */
  private readonly changes = new Set<string>();
  private readonly written = new Set<string>();
  /** Changes waiting for the next look at the app's open files. */
  private unchecked: string[] = [];
  private checking = false;
  private roots: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private waitingForApp: (() => void) | null = null;
  private reloading = false;
  private lastChange = 0;
  private closed = false;

  constructor(private readonly target: ReloadTarget, readonly spec: WatchSpec, private readonly cwd: string, private readonly opts: WatchReloadOptions) {}

  get directories(): number {
    return this.tree?.directories ?? 0;
  }

  /** Changes not yet handed to a reload. */
  get pending(): number {
    return this.changes.size + this.unchecked.length;
  }

  /** debouncing: waiting for `delay` of quiet; waiting: for another operation on the app to end. */
  get state(): 'idle' | 'debouncing' | 'waiting' | 'reloading' {
    if (this.reloading) return 'reloading';
    if (this.waitingForApp) return 'waiting';
    return this.timer ? 'debouncing' : 'idle';
  }

  async start(): Promise<void> {
    const real = (p: string) => {
      try {
        return fs.realpathSync(p);
      } catch {
        return path.resolve(p);
      }
    };
    // Paths as the kernel reports them (/proc/<pid>/fd too): through any symbolic link in the way.
    const roots = this.spec.paths.map(real);
    this.roots = roots;
    const cwd = real(this.cwd);
    const ignored = watchIgnore({ roots, cwd, ignore: this.spec.ignore, exact: this.opts.exact.map(real), logFiles: this.opts.logFiles.map(real) });
    this.tree = new TreeWatcher({
      roots,
      ignored,
      onChange: (abs) => this.changed(abs, cwd),
      onProblem: (message) => this.target.note(`watch: ${message}`),
    });
    await this.tree.start();
    if (this.closed) return;
    this.watching = true;
    this.target.note(`watching ${this.tree.directories} director${this.tree.directories === 1 ? 'y' : 'ies'} for changes (${this.spec.paths.join(', ')})`);
  }

  close(): void {
    this.closed = true;
    this.watching = false;
    this.tree?.close();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.waitingForApp?.();
    this.waitingForApp = null;
  }

  private changed(abs: string, cwd: string): void {
    if (this.closed || this.written.has(abs)) return;
    this.unchecked.push(abs);
    if (!this.checking) this.check(cwd).catch((err: unknown) => this.target.note(`watch: ${(err as Error).message}`));
  }

  /**
   * One look at the app's open files judges every change that came before
   * it started (a build writing 1,000 files costs one look, not 1,000), and
   * a file opened before its change event is always seen open.
   */
  private async check(cwd: string): Promise<void> {
    this.checking = true;
    try {
      while (this.unchecked.length > 0 && !this.closed) {
        const batch = this.unchecked.splice(0);
        const pids = this.target.processes().map((p) => p.pid).filter((p): p is number => p !== null);
        const inTree = (f: string) => this.roots.some((r) => f === r || f.startsWith(`${r}/`));
        const held = await filesHeldForWriting(pids, inTree);
        if (this.closed) return;
        for (const abs of batch) {
          if (this.written.has(abs)) continue;
          if (held.has(abs)) {
            if (this.written.size >= MAX_REMEMBERED) this.written.delete(this.written.values().next().value as string);
            this.written.add(abs);
            continue;
          }
          const rel = path.relative(cwd, abs);
          this.record(rel === '' || rel.startsWith('..') ? abs : `${rel}${abs.endsWith('/') && !rel.endsWith('/') ? '/' : ''}`);
        }
      }
    } finally {
      this.checking = false;
    }
  }

  private record(shown: string): void {
    this.changes.add(shown);
    this.lastChange = Date.now();
    if (!this.reloading) this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.lastChange + this.spec.delay - Date.now()));
  }

  private fire(): void {
    this.timer = null;
    const target = this.target;
    if (this.closed || this.changes.size === 0) return;
    if (target.stopped && target.busy === null) {
      this.changes.clear();
      return;
    }
    if (target.busy !== null) {
      // Another operation (a `herd reload`, a restart) first; then this one.
      this.waitingForApp ??= target.onChange(() => {
        if (target.busy !== null) return;
        this.waitingForApp?.();
        this.waitingForApp = null;
        this.schedule();
      });
      return;
    }
    const names = [...this.changes];
    this.changes.clear();
    const shown = names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
    target.note(`file changed: ${shown}; reloading`);
    this.reloading = true;
    target.reload(target.spec, () => {})
      .catch((err: unknown) => target.note(`watch reload failed: ${(err as Error).message}; the next change tries again`))
      .finally(() => {
        this.reloading = false;
        if (this.changes.size > 0 && !this.closed) this.schedule();
      });
  }
}
