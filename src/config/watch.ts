/**
 * PM2's `watch`, `ignore_watch` and `watch_delay` (and herd's
 * `watch: { paths, ignore, delay }`) as a WatchSpec with absolute paths.
 *
 * As in PM2 (lib/Watcher.js): `watch: true` and an empty list watch the
 * app's cwd; relative paths and ignore patterns resolve against the cwd
 * (chokidar's `cwd` option); ignore entries are globs.
 */
import * as path from 'node:path';
import type { WatchSpec } from './types';
import { DEFAULTS } from './types';
import { checkNestedKeys, readDuration } from './readers';
import { isRecord, show, type Report, type Setting } from './report';

export interface WatchDraft {
  /** Absolute paths to watch; null = the file does not ask for watching. */
  paths: string[] | null;
  ignore: string[];
  delay: number;
}

export interface WatchSettings {
  watch: Setting;
  ignore: Setting;
  delay: Setting;
}

export function readWatch(s: WatchSettings, cwd: string, r: Report): WatchDraft {
  let { watch, ignore, delay } = s;
  if (watch !== undefined && isRecord(watch.value)) {
    // herd's own form: { paths, ignore, delay }; its fields win over the PM2 keys.
    const obj = watch.value;
    const at = watch.key;
    checkNestedKeys(obj, ['paths', 'ignore', 'delay'], at, r);
    const own = (key: string): Setting => (obj[key] === undefined ? undefined : { key: `${at}.${key}`, value: obj[key] });
    const keep = (pm2: Setting, mine: Setting): Setting => {
      if (pm2 !== undefined && mine !== undefined) r.warn(pm2.key, `also set as '${mine.key.replace(/^apps\[\d+\]\./, '')}'; ignored`);
      return mine ?? pm2;
    };
    ignore = keep(ignore, own('ignore'));
    delay = keep(delay, own('delay'));
    watch = own('paths') ?? { key: at, value: true };
  }
  return {
    paths: readPaths(watch, cwd, r),
    ignore: readIgnore(ignore, cwd, r),
    delay: readDuration(delay, r, 0) ?? DEFAULTS.watchDelay,
  };
}

function readPaths(s: Setting, cwd: string, r: Report): string[] | null {
  if (s === undefined || s.value === false || s.value === null || s.value === '') return null;
  if (s.value === true) return [cwd];
  if (typeof s.value === 'string') return [path.resolve(cwd, s.value)];
  if (Array.isArray(s.value)) {
    if (s.value.length === 0) return [cwd]; // PM2 watches the cwd for an empty list too
    const paths: string[] = [];
    s.value.forEach((entry: unknown, i: number) => {
      if (typeof entry === 'string' && entry.trim() !== '') paths.push(path.resolve(cwd, entry));
      else r.problem(`${s.key}[${i}]`, `must be a path; got ${show(entry)}`);
    });
    return paths;
  }
  r.problem(s.key, `must be true, a path or an array of paths; got ${show(s.value)}`);
  return null;
}

function readIgnore(s: Setting, cwd: string, r: Report): string[] {
  if (s === undefined || s.value === null || s.value === false) return [];
  const list: unknown[] = Array.isArray(s.value) ? s.value : [s.value];
  const ignore: string[] = [];
  list.forEach((entry, i) => {
    const at = Array.isArray(s.value) ? `${s.key}[${i}]` : s.key;
    if (typeof entry === 'string' && entry.trim() !== '') ignore.push(path.resolve(cwd, entry));
    else if (entry instanceof RegExp) {
      r.warn(at, "a regular expression cannot be passed to the daemon; write it as a glob (e.g. '**/node_modules'); ignored");
    } else r.problem(at, `must be a path or glob; got ${show(entry)}`);
  });
  return ignore;
}

/** The spec: the file's paths, or with --watch the app's cwd when the file gives none; null = off. */
export function watchSpec(d: WatchDraft, cwd: string, cliWatch: boolean | undefined): WatchSpec | null {
  if (cliWatch === false) return null;
  const paths = d.paths ?? (cliWatch === true ? [cwd] : null);
  return paths === null ? null : { paths, ignore: d.ignore, delay: d.delay };
}
