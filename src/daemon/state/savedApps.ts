/**
 * The app list on disk: `state.json` (kept by the daemon on every change)
 * and `herd save`'s dump (what `herd resurrect` starts). One schema for
 * both, told apart by `kind`, and one validating reader: a file that is
 * empty, cut short, from another schema version or with a bad spec is
 * refused whole, with the file and the field named, so it never becomes a
 * shorter app list.
 */
import type { AppSpec, DaemonSettings } from '../../config/types';
import { MAX_INSTANCES, specProblems } from '../../config/specCheck';
import { HerdError } from '../../errors';

/** Bumped when the shape of either file changes; a file of another version is refused, never guessed at. */
export const SAVED_APPS_VERSION = 1;

export type SavedAppsKind = 'herd-state' | 'herd-dump';

/** One app as remembered: the spec as the CLI sent it (env and instances as scaled included). */
export interface SavedApp {
  name: string;
  spec: AppSpec;
  /** Stopped on purpose (`herd stop`): resurrect leaves it stopped. */
  stopped: boolean;
  /** Why it is in that state, as `herd describe` said when it was written. */
  reason: string;
  /** Epoch ms the app was first started. */
  createdAt: number;
  /** Restarts of each worker slot by slot id, so a daemon that adopts the app goes on counting; absent in older files. */
  restarts?: Record<string, number>;
}

/** The daemon that wrote a state file; `stopped` is set by its last write when it shut down cleanly. */
export interface SavedDaemon {
  pid: number;
  startedAt: string;
  stopped: { at: string; by: string } | null;
  /**
   * Its endpoints, alerts and fleet as configured last (secrets included:
   * the file is 0600), so a daemon started after it comes back whole;
   * absent in older files.
   */
  settings?: DaemonSettings;
}

export interface SavedApps {
  version: number;
  kind: SavedAppsKind;
  /** herd's version that wrote it. */
  herd: string;
  /** ISO time of the write. */
  written: string;
  /** state.json only. */
  daemon?: SavedDaemon;
  apps: SavedApp[];
}

/** What a file of each kind is called in messages. */
const WHAT: Record<SavedAppsKind, string> = { 'herd-state': "herd's app list", 'herd-dump': 'a herd dump' };

/** The error for a file that cannot be used: its code says which file it was. */
function refuse(kind: SavedAppsKind, file: string, reason: string): HerdError {
  return kind === 'herd-dump'
    ? new HerdError('HERD_ERR_DUMP_INVALID', { file, reason }, ['nothing was started or changed; `herd save` writes a new dump from the apps listed now'])
    : new HerdError('HERD_ERR_STATE_INVALID', { file, reason });
}

/**
 * True when the text stops inside a string or with a brace or bracket still
 * open: a file cut off mid-write, whatever character it happens to end on.
 */
function endsOpen(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return inString || depth > 0;
}

/**
 * Parse and check a whole file. Throws HERD_ERR_DUMP_INVALID (a dump) or
 * HERD_ERR_STATE_INVALID (state.json) naming the file and the problem.
 */
export function parseSavedApps(text: string, file: string, kind: SavedAppsKind): SavedApps {
  if (text.trim() === '') return failWith(kind, file, `it is empty (${Buffer.byteLength(text)} bytes)`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const cut = endsOpen(text) ? `it is truncated (${Buffer.byteLength(text)} bytes, it ends before the JSON does): ` : 'it is not valid JSON: ';
    return failWith(kind, file, `${cut}${(err as Error).message}`);
  }
  if (Array.isArray(doc)) return failWith(kind, file, `it is a JSON array, not ${WHAT[kind]} (PM2's dump.pm2 is an array: herd does not read it)`);
  if (typeof doc !== 'object' || doc === null) return failWith(kind, file, `it is ${doc === null ? 'null' : typeof doc}, not ${WHAT[kind]}`);
  const d = doc as Record<string, unknown>;
  if (d.version !== SAVED_APPS_VERSION) {
    const which = d.version === undefined ? 'it has no "version" field' : `"version" is ${JSON.stringify(d.version)}`;
    const by = typeof d.herd === 'string' ? ` (written by herd ${d.herd})` : '';
    return failWith(kind, file, `${which}${by}; this herd reads version ${SAVED_APPS_VERSION} only`);
  }
  if (d.kind !== kind) return failWith(kind, file, `"kind" is ${JSON.stringify(d.kind)}, expected "${kind}"`);
  if (!Array.isArray(d.apps)) return failWith(kind, file, '"apps" must be an array');
  const problems: string[] = [];
  const names = new Set<string>();
  for (const [i, value] of (d.apps as unknown[]).entries()) {
    const at = `apps[${i}]`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${at} must be an object`);
      continue;
    }
    const app = value as Record<string, unknown>;
    if (typeof app.name !== 'string' || app.name === '') problems.push(`${at}.name must be a non-empty string`);
    if (typeof app.stopped !== 'boolean') problems.push(`${at}.stopped must be true or false`);
    if (typeof app.reason !== 'string') problems.push(`${at}.reason must be a string`);
    if (typeof app.createdAt !== 'number' || !Number.isFinite(app.createdAt)) problems.push(`${at}.createdAt must be a number (epoch ms)`);
    const specAt = `${at}.spec`;
    const specIssues = specProblems(app.spec, specAt);
    problems.push(...specIssues);
    if (specIssues.length === 0) {
      const spec = app.spec as AppSpec;
      if (spec.name !== app.name) problems.push(`${specAt}.name ${JSON.stringify(spec.name)} differs from ${at}.name ${JSON.stringify(app.name)}`);
      if (spec.instances > MAX_INSTANCES) problems.push(`${specAt}.instances is more than ${MAX_INSTANCES}`);
    }
    if (typeof app.name === 'string') {
      if (names.has(app.name)) problems.push(`${at}.name ${JSON.stringify(app.name)} appears twice`);
      names.add(app.name);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ');
    return failWith(kind, file, `${shown}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`);
  }
  const apps = (d.apps as Record<string, unknown>[]).map((a) => ({
    name: a.name as string,
    spec: a.spec as AppSpec,
    stopped: a.stopped as boolean,
    reason: a.reason as string,
    createdAt: a.createdAt as number,
    ...(restartCounts(a.restarts) ? { restarts: restartCounts(a.restarts) as Record<string, number> } : {}),
  }));
  return {
    version: SAVED_APPS_VERSION,
    kind,
    herd: typeof d.herd === 'string' ? d.herd : 'unknown',
    written: typeof d.written === 'string' ? d.written : '',
    ...(kind === 'herd-state' ? { daemon: savedDaemon(d.daemon) } : {}),
    apps,
  };
}

/** Restart counts as saved, when they are what herd writes (slot id -> a count); anything else is left out, not refused. */
function restartCounts(value: unknown): Record<string, number> | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const entries = Object.entries(value).filter(([k, v]) => /^\d+$/.test(k) && Number.isInteger(v) && (v as number) >= 0);
  return entries.length > 0 ? Object.fromEntries(entries) as Record<string, number> : null;
}

function failWith(kind: SavedAppsKind, file: string, reason: string): never {
  throw refuse(kind, file, reason);
}

/** The header of the daemon that wrote state.json; informative only, so what is odd in it is dropped rather than refused. */
function savedDaemon(value: unknown): SavedDaemon {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const s = (typeof v.stopped === 'object' && v.stopped !== null ? v.stopped : null) as Record<string, unknown> | null;
  return {
    pid: typeof v.pid === 'number' ? v.pid : 0,
    startedAt: typeof v.startedAt === 'string' ? v.startedAt : '',
    stopped: s && typeof s.at === 'string' && typeof s.by === 'string' ? { at: s.at, by: s.by } : null,
    // Applied by the daemon, which checks each part as it configures it.
    ...(typeof v.settings === 'object' && v.settings !== null && !Array.isArray(v.settings) ? { settings: v.settings as DaemonSettings } : {}),
  };
}

/**
 * The file as text. The apps go last and one a line, so a diff of two
 * saves reads app by app; the header is what a reader checks first.
 */
export function renderSavedApps(header: Omit<SavedApps, 'apps'>, appsJson: string): string {
  const head = JSON.stringify(header);
  return `${head.slice(0, -1)},"apps":${appsJson}}\n`;
}

/** The apps part of the file; the state writer compares it to skip writes that change nothing. */
export function renderApps(apps: readonly SavedApp[]): string {
  return apps.length === 0 ? '[]' : `[\n${apps.map((a) => JSON.stringify(a)).join(',\n')}\n]`;
}
