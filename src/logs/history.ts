import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { currentFileName, parseFileName, parseLine, type LogLine, type Stream } from './format';

export interface HistoryQuery {
  /** Null: every app with files in the directory. */
  app: string | null;
  streams: readonly Stream[];
  /** Only lines at or after this time (epoch ms). */
  since: number | null;
  /** Extra filter (--grep). */
  match: (line: LogLine) => boolean;
  /** Keep only the last `limit` lines of the merged result; null for all. */
  limit: number | null;
}

interface FileRef {
  file: string;
  gzip: boolean;
  mtimeMs: number;
}

/** The app names that have log files in `dir`. */
export function appsWithLogs(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return [...new Set(names.map((n) => parseFileName(n)?.app).filter((a): a is string => a !== undefined))].sort();
}

/**
 * Lines from the log files (rotated ones included, gzipped or not), merged
 * across workers and streams in time order. Each stream's files are read
 * newest first and only as far back as `limit` and `since` need.
 */
export function readHistory(dir: string, q: HistoryQuery): LogLine[] {
  const groups = new Map<string, { app: string; stream: Stream; files: (FileRef & { order: string })[] }>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  for (const name of names) {
    const f = parseFileName(name);
    if (!f || (q.app !== null && f.app !== q.app) || !q.streams.includes(f.stream)) continue;
    const key = `${f.app}\0${f.stream}`;
    const group = groups.get(key) ?? { app: f.app, stream: f.stream, files: [] };
    let mtimeMs = 0;
    try {
      mtimeMs = fs.statSync(path.join(dir, name)).mtimeMs;
    } catch {
      continue; // rotated away or pruned meanwhile
    }
    // Rotation stamps sort oldest first; the current file ('~' sorts after digits) is newest.
    group.files.push({ file: path.join(dir, name), gzip: f.gzip, mtimeMs, order: f.rotated ?? '~' });
    groups.set(key, group);
  }
  const all: LogLine[] = [];
  for (const group of groups.values()) {
    const newestFirst = group.files.sort((a, b) => (a.order < b.order ? 1 : a.order > b.order ? -1 : 0));
    const chunks: LogLine[][] = [];
    let count = 0;
    for (const ref of newestFirst) {
      if (q.limit !== null && count >= q.limit) break;
      // A file last written before `since` holds nothing newer.
      if (q.since !== null && ref.mtimeMs < q.since) break;
      const lines = readFile(ref, group.app, group.stream).filter((l) => (q.since === null || l.time >= q.since) && q.match(l));
      chunks.unshift(lines);
      count += lines.length;
    }
    for (const chunk of chunks) for (const l of chunk) all.push(l);
  }
  // Stable: lines of one stream keep their file order when times are equal.
  all.sort((a, b) => a.time - b.time);
  return q.limit === null ? all : all.slice(Math.max(0, all.length - q.limit));
}

function readFile(ref: FileRef, app: string, stream: Stream): LogLine[] {
  let text: string;
  try {
    const raw = fs.readFileSync(ref.file);
    text = (ref.gzip ? gunzipSync(raw) : raw).toString('utf8');
  } catch {
    return [];
  }
  const out: LogLine[] = [];
  for (const row of text.split('\n')) {
    const line = parseLine(row, app, stream);
    if (line) out.push(line);
  }
  return out;
}

/**
 * The last `limit` lines of an app's current files, merged in time order,
 * reading at most `bytes` from the end of each: cheap enough for the daemon
 * to do on request (the dashboard's log tail) without blocking on big files.
 */
export async function readTail(dir: string, app: string, streams: readonly Stream[], limit: number, bytes = 64 * 1024): Promise<LogLine[]> {
  const all: LogLine[] = [];
  for (const stream of streams) {
    let text: string;
    try {
      const handle = await fs.promises.open(path.join(dir, currentFileName(app, stream)), 'r');
      try {
        const { size } = await handle.stat();
        const start = Math.max(0, size - bytes);
        const buffer = Buffer.alloc(size - start);
        await handle.read(buffer, 0, buffer.length, start);
        text = buffer.toString('utf8');
        // The first line may be cut by where the read began.
        if (start > 0) text = text.slice(text.indexOf('\n') + 1);
      } finally {
        await handle.close();
      }
    } catch {
      continue; // no such file yet
    }
    for (const row of text.split('\n')) {
      const line = parseLine(row, app, stream);
      if (line) all.push(line);
    }
  }
  all.sort((a, b) => a.time - b.time);
  return all.slice(Math.max(0, all.length - limit));
}
