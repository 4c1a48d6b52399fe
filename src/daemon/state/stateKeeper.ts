import * as fs from 'node:fs';
import { HERD_VERSION } from '../../protocol/version';
import { writeFileAtomic } from '../../util/atomicWrite';
import type { DaemonSettings } from '../../config/types';
import { CoalescingWriter } from './coalescingWriter';
import { parseSavedApps, renderApps, renderSavedApps, SAVED_APPS_VERSION, type SavedApp, type SavedDaemon } from './savedApps';

/** Long enough to fold a burst of changes into one write, short enough that a kill -9 right after a command rarely loses it. */
const DEBOUNCE_MS = 100;

export interface LoadedState {
  apps: SavedApp[];
  /** The daemon that wrote the file, or null when there was none to read. */
  previous: SavedDaemon | null;
}

/**
 * `HERD_HOME/state.json`: the apps the daemon runs (specs, environments,
 * instances as scaled, which ones were stopped on purpose), rewritten
 * atomically on every change so a daemon that restarts (after a crash, a
 * `herd kill`, a reboot) knows them. Written by the daemon only, 0600 in the
 * 0700 HERD_HOME: the environments may hold secrets.
 *
 * A file that cannot be used is moved aside (never overwritten by a shorter
 * list) and said so in the daemon log and by `herd list`.
 */
export class StateKeeper {
  readonly startedAt = new Date().toISOString();
  private stopped: { at: string; by: string } | null = null;
  private problem: string | null = null;
  /** Set when a file that cannot be read could not be moved aside either: it is then left alone. */
  private readOnly = false;
  private writing = false;
  private readonly writer: CoalescingWriter;

  constructor(
    private readonly file: string,
    apps: () => SavedApp[],
    private readonly note: (line: string) => void,
    debounceMs = DEBOUNCE_MS,
    settings: () => DaemonSettings | null = () => null,
  ) {
    // What a write depends on: the settings (one JSON line, no newline in it), then the apps; the header's time is not.
    this.writer = new CoalescingWriter(() => `${JSON.stringify(settings())}\n${renderApps(apps())}`, {
      write: (content) => {
        const cut = content.indexOf('\n');
        const current = JSON.parse(content.slice(0, cut)) as DaemonSettings | null;
        return writeFileAtomic(file, renderSavedApps(this.header(current), content.slice(cut + 1)), 0o600);
      },
      debounceMs,
      onError: (err) => note(`cannot write ${file}: ${err.message}; the app list on disk is behind until a write succeeds (tried again on the next change)`),
      onRecover: () => note(`${file} is written again`),
    });
  }

  /** Read the file left by the previous daemon. Never throws: a file that cannot be used is set aside and reported. */
  load(): LoadedState {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { apps: [], previous: null };
      this.setAside(`cannot read ${this.file}: ${(err as Error).message}`);
      return { apps: [], previous: null };
    }
    try {
      const saved = parseSavedApps(text, this.file, 'herd-state');
      return { apps: saved.apps, previous: saved.daemon ?? null };
    } catch (err) {
      this.setAside((err as Error).message);
      return { apps: [], previous: null };
    }
  }

  /**
   * From now on changes are written: called once this daemon owns
   * HERD_HOME (its control socket listens), so a daemon that lost the
   * race to start never writes the file.
   */
  begin(): void {
    this.writing = true;
    this.changed();
  }

  /**
   * `herd update`: write what changed so far, then stop writing (the next
   * daemon owns the file from now on); begin() takes it back if the
   * hand-over fails.
   */
  async suspend(): Promise<void> {
    this.changed();
    await this.writer.idle();
    this.writing = false;
  }

  /** The app set, a spec, a stopped flag or an instance count may have changed. */
  changed(): void {
    if (this.writing && !this.readOnly) this.writer.changed();
  }

  /**
   * The last write, as the daemon shuts down: the apps are rendered now,
   * before they are stopped, so the file keeps the ones that ran as
   * running (`herd resurrect` starts them again), and it records who
   * stopped the daemon.
   */
  close(by: string): Promise<void> {
    if (this.readOnly || !this.writing) return Promise.resolve();
    this.stopped = { at: new Date().toISOString(), by };
    return this.writer.close(true);
  }

  /** Resolves once what changed so far is on disk (or failed). */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  /** What `herd list` should tell the user about the file. */
  notices(): string[] {
    return this.problem === null ? [] : [this.problem];
  }

  private header(settings: DaemonSettings | null) {
    return {
      version: SAVED_APPS_VERSION,
      kind: 'herd-state' as const,
      herd: HERD_VERSION,
      written: new Date().toISOString(),
      daemon: { pid: process.pid, startedAt: this.startedAt, stopped: this.stopped, ...(settings ? { settings } : {}) },
    };
  }

  /** Keep the bad file for the user (it may list apps they want back) and start with none. */
  private setAside(reason: string): void {
    const aside = `${this.file}.rejected-${this.startedAt.replace(/[:.]/g, '-')}`;
    try {
      fs.renameSync(this.file, aside);
      this.problem = `${reason}. It was moved to ${aside} and this daemon started without the apps it lists; ` +
        '`herd resurrect` starts the apps of a dump saved with `herd save`';
    } catch (err) {
      this.readOnly = true;
      this.problem = `${reason}. It could not be moved aside (${(err as Error).message}), so it is left as it is and not written while this daemon runs`;
    }
    this.note(this.problem);
  }
}

/** Why a remembered app that was running is not running now, for `herd describe`. */
export function restartedReason(startedAt: string, previous: SavedDaemon | null): string {
  const before = previous === null || previous.pid === 0 ? ''
    : previous.stopped !== null ? ` (${previous.stopped.by} stopped the previous one at ${previous.stopped.at})`
      : ` (the previous one, pid ${previous.pid}, did not shut down)`;
  return `not running: the daemon restarted at ${startedAt}${before}; herd resurrect (or herd start <name>) starts it`;
}
