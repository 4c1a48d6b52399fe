/**
 * PM2's log paths (`out_file`, `error_file`, `log_file` and their aliases,
 * `merge_logs`) and herd's `logFiles: { out, err, combined }` as absolute
 * paths. PM2 (lib/Common.js prepareAppConf) resolves them against the app's
 * cwd after expanding `~`, and reads 'NULL' and '/dev/null' as "discard";
 * `log_file: true` is a combined file in its default log directory.
 *
 * herd writes every worker of an app into the one file, with the worker id on
 * each line (PM2's `merge_logs: true`). Where PM2 would split the file per
 * instance, that is warned about rather than done differently in silence.
 */
import * as path from 'node:path';
import type { LogFilesSpec } from './types';
import { checkNestedKeys } from './readers';
import { isRecord, show, type Report, type Setting } from './report';

const DEV_NULL = '/dev/null';

/** One configured path and the key it came from (for warnings). */
interface LogPath {
  key: string;
  /** Absolute, '/dev/null', or 'default' for a combined file in the log directory. */
  path: string;
  /** From a PM2 key (PM2's per-instance file names apply) rather than herd's logFiles. */
  pm2: boolean;
}

export interface LogFilesDraft {
  out: LogPath | null;
  err: LogPath | null;
  combined: LogPath | null;
  merge: { key: string; value: boolean } | null;
}

export interface LogFilesSettings {
  /** herd's logFiles object. */
  own: Setting;
  out: Setting;
  err: Setting;
  combined: Setting;
  merge: Setting;
}

export function readLogFiles(s: LogFilesSettings, cwd: string, home: string, r: Report): LogFilesDraft {
  const own = readOwn(s.own, r);
  const either = (pm2: Setting, mine: Setting, combined: boolean): LogPath | null => {
    if (pm2 !== undefined && mine !== undefined) r.warn(pm2.key, `also set as '${mine.key.replace(/^apps\[\d+\]\./, '')}'; ignored`);
    const chosen = mine ?? pm2;
    return chosen === undefined ? null : readPath(chosen, mine === undefined, combined, cwd, home, r);
  };
  let merge: LogFilesDraft['merge'] = null;
  if (s.merge !== undefined) {
    if (typeof s.merge.value === 'boolean') merge = { key: s.merge.key, value: s.merge.value };
    else r.problem(s.merge.key, `must be true or false; got ${show(s.merge.value)}`);
  }
  return {
    out: either(s.out, own.out, false),
    err: either(s.err, own.err, false),
    combined: either(s.combined, own.combined, true),
    merge,
  };
}

function readOwn(s: Setting, r: Report): Record<'out' | 'err' | 'combined', Setting> {
  const none = { out: undefined, err: undefined, combined: undefined };
  if (s === undefined) return none;
  if (!isRecord(s.value)) {
    r.problem(s.key, `must be an object with out, err, combined; got ${show(s.value)}`);
    return none;
  }
  const obj = s.value;
  checkNestedKeys(obj, ['out', 'err', 'combined'], s.key, r);
  const field = (k: string): Setting => (obj[k] === undefined ? undefined : { key: `${s.key}.${k}`, value: obj[k] });
  return { out: field('out'), err: field('err'), combined: field('combined') };
}

function readPath(s: NonNullable<Setting>, pm2: boolean, combined: boolean, cwd: string, home: string, r: Report): LogPath | null {
  const v = s.value;
  if (v === false || v === null) return null;
  if (combined && v === true) return { key: s.key, path: 'default', pm2 };
  if (typeof v !== 'string' || v.trim() === '') {
    const rule = combined ? 'must be a file path, true (a combined file in the log directory) or false' : 'must be a file path (or /dev/null)';
    r.problem(s.key, `${rule}; got ${show(v)}`);
    return null;
  }
  if (v === 'NULL' || v === DEV_NULL) return { key: s.key, path: DEV_NULL, pm2 };
  const expanded = v === '~' || v.startsWith('~/') ? path.join(home, v.slice(1)) : v;
  return { key: s.key, path: path.resolve(cwd, expanded), pm2 };
}

export interface LogFilesContext {
  /** The app's name (after --name): the default combined file is `<logDir>/<name>-combined.log`. */
  name: string;
  logDir: string;
  instances: number;
  /** PM2 splits files per instance unless merge_logs; its default is merged only in fork mode without `instances`. */
  pm2MergesByDefault: boolean;
  cluster: boolean;
}

export function logFilesSpec(d: LogFilesDraft, ctx: LogFilesContext, r: Report): LogFilesSpec {
  const abs = (p: LogPath | null) => (p === null ? null : p.path === 'default' ? path.join(ctx.logDir, `${ctx.name}-combined.log`) : p.path);
  let out = abs(d.out);
  let err = abs(d.err);
  let combined = abs(d.combined);
  warnPerInstanceFiles(d, ctx, r);
  // One file named twice gets each line once: both streams into one file is a combined file.
  if (out !== null && out === err && out !== DEV_NULL && combined === null) {
    combined = out;
    out = null;
    err = null;
  }
  if (combined !== null && combined !== DEV_NULL) {
    if (out === combined) out = null;
    if (err === combined) err = null;
  }
  return { out, err, combined };
}

/**
 * PM2 without merge_logs appends the instance id to each `.log` file
 * (God.js: out.log -> out-0.log, out-1.log). herd keeps one file per app.
 */
function warnPerInstanceFiles(d: LogFilesDraft, ctx: LogFilesContext, r: Report): void {
  const merged = d.merge?.value ?? ctx.pm2MergesByDefault;
  if (merged || ctx.instances < 2) return;
  const split = [d.out, d.err, d.combined].find((p) => p !== null && p.pm2 && p.path !== DEV_NULL && (p.path === 'default' || p.path.endsWith('.log')));
  if (split === undefined || split === null) return;
  const base = split.path === 'default' ? `${ctx.name}-combined` : path.basename(split.path, '.log');
  const files = `${base}-0.log, ${base}-1.log, ...`;
  const herd = 'herd writes every worker to the one file, with the worker id on each line';
  if (d.merge !== null) r.warn(d.merge.key, `false: PM2 writes one file per instance (${files}); ${herd}`);
  else {
    const when = ctx.cluster ? 'in cluster mode ' : 'with instances set ';
    r.warn(split.key, `PM2 writes one file per instance ${when}unless merge_logs is true (${files}); ${herd}`);
  }
}
