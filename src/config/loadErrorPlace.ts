/**
 * Where a JavaScript config failed to load, as `file:line:column`, so that a
 * syntax error or a throw reads like a compiler message instead of a stack.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Place {
  file: string;
  line: number;
  column: number;
}

/** One line that says what went wrong while loading `file` and where. */
export function describeLoadError(err: unknown, file: string, display: (file: string) => string): string {
  const at = (p: Place) => `${display(p.file)}:${p.line}:${p.column}`;
  if (err instanceof SyntaxError) {
    const place = decoratedPlace(err) ?? checkedPlace(file);
    if (place) return `JavaScript syntax error at ${at(place)}: ${err.message}`;
  }
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const frame = err instanceof Error ? firstOwnFrame(err) : null;
  return frame ? `cannot load: ${detail} (at ${at(frame)})` : `cannot load: ${detail}`;
}

/**
 * Node decorates a CommonJS SyntaxError's stack with the place:
 * `/path/file.js:3`, the source line, then `^^^` under the token.
 */
function decoratedPlace(err: SyntaxError): Place | null {
  const [head, , arrow] = String(err.stack).split('\n');
  const m = head === undefined ? null : /^(.+):(\d+)$/.exec(head);
  const caret = arrow?.indexOf('^') ?? -1;
  if (!m || caret === -1 || !m[1]) return null;
  return { file: toPath(m[1]), line: Number(m[2]), column: caret + 1 };
}

/**
 * An ES module's SyntaxError carries no place; `node --check` prints it in the
 * same decorated form. Only run when loading already failed.
 */
function checkedPlace(file: string): Place | null {
  const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0 || typeof r.stderr !== 'string') return null;
  const fake = new SyntaxError('');
  fake.stack = r.stderr;
  return decoratedPlace(fake);
}

const FRAME = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?$/;

/** The first stack frame in the user's own files (not Node's, not a package's). */
function firstOwnFrame(err: Error): Place | null {
  for (const line of String(err.stack).split('\n').slice(1)) {
    const m = FRAME.exec(line.trim());
    if (!m || !m[1] || m[1].startsWith('node:')) continue;
    const file = toPath(m[1]);
    if (!path.isAbsolute(file) || file.includes(`${path.sep}node_modules${path.sep}`)) continue;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return null;
}

/** A stack names ES modules by URL (with herd's cache-busting query); messages show paths. */
function toPath(location: string): string {
  if (!location.startsWith('file://')) return location;
  try {
    return fileURLToPath(location.replace(/\?.*$/, ''));
  } catch {
    return location;
  }
}
