import * as path from 'node:path';
import { pathLogNaming } from '../../logs/rotatingFile';

/**
 * Which paths a watched app never reloads for. Always: any `node_modules`
 * and any name starting with a dot (.git, .cache, an editor's .swp file)
 * below a watched root, as PM2 does by default, but kept even when `ignore`
 * is set (PM2 drops its default then, and a `git checkout` or an
 * `npm install` reloads the app hundreds of times). Then every `ignore`
 * entry, `exact` paths (herd's own log directory and HERD_HOME) with
 * everything under them, and `logFiles` (the app's PM2 log paths) with their
 * rotated siblings (`out.20240501T102030123Z.log`, `.gz`).
 *
 * `ignore` entries, like PM2's `ignore_watch` (gitignore-like):
 * - an absolute path without wildcards: that file or directory;
 * - a pattern without '/' ('*.log', 'tmp'): any file or directory of that
 *   name at any depth;
 * - a pattern with '/' ('logs/**', 'src/*.tmp', './build'): matched against
 *   the path relative to the app's cwd (or to the watched root it is in), or
 *   against the whole path when it starts with '/'.
 * Wildcards: `*` (within a name), `**` (any depth), `?`, `[abc]`, `{a,b}`.
 * A pattern that matches a directory ignores everything under it too, so a
 * directory like `logs/**` is never walked.
 */
export function watchIgnore(opts: { roots: readonly string[]; cwd: string; ignore: readonly string[]; exact: readonly string[]; logFiles?: readonly string[] }): (abs: string) => boolean {
  const roots = [...opts.roots].sort((a, b) => b.length - a.length);
  const exact = opts.exact.map((p) => path.resolve(p));
  const logFiles = (opts.logFiles ?? []).map(pathLogNaming);
  const names: RegExp[] = [];
  const relative: RegExp[] = [];
  const absolute: RegExp[] = [];
  for (const raw of opts.ignore) {
    const entry = raw.trim().replace(/\/+$/, '');
    if (entry.length === 0) continue;
    if (path.isAbsolute(entry) && !hasWildcard(entry)) exact.push(path.resolve(entry));
    else if (path.isAbsolute(entry)) absolute.push(globRegExp(entry));
    else if (!entry.includes('/')) names.push(globRegExp(entry));
    // './build' is anchored at the cwd, as a path with a slash is.
    else relative.push(globRegExp(entry.replace(/^(\.\/)+/, '')));
  }
  return (abs) => {
    const root = roots.find((r) => abs === r || abs.startsWith(r.endsWith('/') ? r : `${r}/`));
    const fromRoot = root === undefined ? '' : path.relative(root, abs);
    const segments = fromRoot === '' ? [] : fromRoot.split('/');
    if (segments.some((s) => s === 'node_modules' || s.startsWith('.'))) return true;
    if (exact.some((p) => abs === p || abs.startsWith(`${p}/`))) return true;
    if (logFiles.some((l) => abs === l.current || (path.dirname(abs) === l.dir && l.rotationOf(path.basename(abs)) !== null))) return true;
    if (names.length > 0 && segments.some((s) => names.some((re) => re.test(s)))) return true;
    if (absolute.some((re) => re.test(abs))) return true;
    if (relative.length === 0) return false;
    const fromCwd = path.relative(opts.cwd, abs);
    return relative.some((re) => re.test(fromCwd) || (fromRoot !== '' && re.test(fromRoot)));
  };
}

function hasWildcard(s: string): boolean {
  return /[*?[{]/.test(s);
}

/** A glob as an anchored RegExp that also matches anything under what it matches. */
export function globRegExp(glob: string): RegExp {
  const g = glob.replace(/\/\*\*$/, '');
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i] as string;
    if (c === '*' && g[i + 1] === '*') {
      const slash = g[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = g.indexOf(']', i + 1);
      if (end === -1) re += '\\[';
      else {
        const body = g.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else if (c === '{') {
      const end = g.indexOf('}', i + 1);
      if (end === -1) re += '\\{';
      else {
        re += `(?:${g.slice(i + 1, end).split(',').map(escape).join('|')})`;
        i = end;
      }
    } else {
      re += escape(c);
    }
  }
  return new RegExp(`^${re}(?:/.*)?$`);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
