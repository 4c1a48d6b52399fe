/**
 * `herd save` and `herd resurrect` (PM2's `pm2 save` / `pm2 resurrect`,
 * `dump.pm2`): the dump is the list the user chose to bring back at boot;
 * state.json (stateKeeper.ts) is what runs now. Without a dump, resurrect
 * starts the apps herd remembers.
 */
import { promises as fs } from 'node:fs';
import type { AppSpec } from '../../config/types';
import { HerdError } from '../../errors';
import type { ResultOf } from '../../protocol/control';
import { HERD_VERSION } from '../../protocol/version';
import { writeFileAtomic } from '../../util/atomicWrite';
import { parseSavedApps, renderApps, renderSavedApps, SAVED_APPS_VERSION, type SavedApp, type SavedApps } from './savedApps';

/**
 * Write every listed app to the dump. An empty list does not replace a
 * dump unless forced (PM2's `save --force`): saving right after the apps
 * went down must not wipe what boot would start.
 */
export async function saveDump(file: string, apps: readonly SavedApp[], force: boolean): Promise<ResultOf['save']> {
  if (apps.length === 0 && !force) {
    const kept = await readDump(file).then((d) => d?.apps.length ?? null, () => null);
    throw new HerdError('HERD_ERR_DUMP_EMPTY', { file }, [
      kept === null ? 'nothing was written' : `the dump is left as it was, with its ${kept} app(s)`,
      '`herd save --force` writes an empty dump',
    ]);
  }
  const header = { version: SAVED_APPS_VERSION, kind: 'herd-dump' as const, herd: HERD_VERSION, written: new Date().toISOString() };
  await writeFileAtomic(file, renderSavedApps(header, renderApps(apps)), 0o600);
  return { file, saved: apps.map((a) => a.name), stopped: apps.filter((a) => a.stopped).map((a) => a.name) };
}

/** The dump, checked whole; null when there is none. Throws HERD_ERR_DUMP_INVALID naming the file and the problem. */
export async function readDump(file: string): Promise<SavedApps | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new HerdError('HERD_ERR_DUMP_INVALID', { file, reason: `it cannot be read: ${(err as Error).message}` });
  }
  return parseSavedApps(text, file, 'herd-dump');
}

/** What resurrect needs of the supervisor. */
export interface ResurrectTarget {
  /** Every listed app as it would be saved (stopped = stopped on purpose). */
  savedApps(): SavedApp[];
  /** True when the app is listed and running (or starting), false when listed and not, null when not listed. */
  running(name: string): boolean | null;
  /** Names of listed apps that are not running only because the daemon restarted. */
  awaitingResurrect(): string[];
  /** Start `run` and list `keep` as stopped, after checking `run` whole (nothing changes when a check fails). */
  restore(run: readonly AppSpec[], keep: readonly SavedApp[]): Promise<{ started: string[]; skipped: string[] }>;
}

export interface ResurrectFiles {
  dump: string;
  /** null when the supervisor keeps no state (`herd run`). */
  state: string | null;
}

/**
 * Start every app of the dump (or, without one, of the remembered list)
 * that was not stopped on purpose and is not running; list the stopped
 * ones as stopped. The file is read and checked whole first: a bad one
 * changes nothing.
 */
export async function resurrect(target: ResurrectTarget, files: ResurrectFiles, progress: (message: string) => void): Promise<ResultOf['resurrect']> {
  const dump = await readDump(files.dump);
  const remembered = target.savedApps();
  if (dump === null && (files.state === null || remembered.length === 0)) {
    throw new HerdError('HERD_ERR_DUMP_NOT_FOUND', { file: files.dump }, [
      files.state === null ? 'this supervisor (herd run) keeps no app list of its own' : 'and herd remembers no app',
      '`herd save` writes the dump from the apps listed now',
    ]);
  }
  const source = dump === null ? 'state' : 'dump';
  const file = dump === null ? (files.state as string) : files.dump;
  const apps = dump === null ? remembered : dump.apps;
  progress(dump === null
    ? `no dump at ${files.dump}; starting the apps herd remembers (${file})`
    : `resurrecting from ${file} (saved ${dump.written || 'at an unknown time'}, ${apps.length} app(s))`);
  const run: AppSpec[] = [];
  const keep: SavedApp[] = [];
  const skipped: string[] = [];
  const stopped: string[] = [];
  for (const app of apps) {
    const running = target.running(app.name);
    if (app.stopped) {
      stopped.push(app.name);
      if (running === null) keep.push(app);
    } else if (running === true) {
      skipped.push(app.name);
    } else {
      run.push(app.spec);
    }
  }
  const inSource = new Set(apps.map((a) => a.name));
  const left = target.awaitingResurrect().filter((name) => !inSource.has(name));
  const { started } = await target.restore(run, keep);
  return { file, source, started, skipped, stopped, left };
}
